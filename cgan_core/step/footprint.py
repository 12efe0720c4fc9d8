"""What a run will cost before it starts: the models' size, the memory a training step holds, and its time.

Size and memory come from the models built on the meta device, which has shapes but no storage: one D
step and one G step of a whole batch run there in milliseconds whatever the image size, and what autograd
saves for the backward passes is counted as it is saved. The step's time is measured instead (a few real
steps on synthetic images of the chosen shape): FLOPs say little about speed on a CPU, where the presets
reach 5-60% of the machine's peak (BENCHMARKS.md, "Distance to the machine's limit")."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from cgan_core.errors import ConfigError
from cgan_core.step.config import TrainConfig
from cgan_core.step.presets import get_preset

MB = 2**20
# Adam keeps two moments per weight, and the weight has its gradient: four copies of every parameter.
COPIES_PER_WEIGHT = 4
# What the allocator, the optimizer's temporaries and the data add to a step's saved tensors (an allowance:
# benchmarks/bench_footprint.py measures the peak against the estimate).
HEADROOM = 1.5


@dataclass(frozen=True)
class Footprint:
    """The chosen preset at the chosen image size and batch, on one device."""

    g_parameters: int
    d_parameters: int
    state_mb: float  # weights, gradients, Adam's moments, the EMA's copy of G
    step_mb: float  # the tensors a D step or a G step saves for its backward pass, whichever is larger

    @property
    def needs_mb(self) -> float:
        return self.state_mb + HEADROOM * self.step_mb

    def describe(self) -> str:
        return (f"G {self.g_parameters / 1e6:.2f} M + D {self.d_parameters / 1e6:.2f} M parameters, "
                f"about {self.needs_mb:,.0f} MB to train")


def _saved_bytes(loss_of: callable) -> int:
    """The bytes autograd saves while `loss_of()` builds its graph (each storage counted once)."""
    seen: dict[tuple, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        # A real tensor's storage by its address; a meta tensor has none, and autograd keeps the object alive.
        where = id(t) if t.device.type == "meta" else t.untyped_storage().data_ptr()
        seen[(where, t.shape)] = t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss_of()
    return sum(seen.values())


def estimate(config: TrainConfig, image_shape: tuple[int, int, int], num_classes: int) -> Footprint:
    """The footprint without allocating it: the models and one step's graphs on the meta device."""
    config = config.resolved()
    preset = get_preset(config.preset)
    with torch.random.fork_rng(devices=[]), torch.device("meta"):  # the run's random streams untouched
        g, d = preset.build(num_classes, image_shape, config.latent_dim)
        batch = config.batch_size
        z, c = torch.randn(batch, config.latent_dim), torch.randint(0, num_classes, (batch,))
        real = torch.randn(batch, *image_shape)
        d_step = _saved_bytes(lambda: d(real, c).sum() + d(g(z, c).detach(), c).sum())
        g_step = _saved_bytes(lambda: d(g(z, c), c).sum())
    count = [sum(p.numel() for p in net.parameters()) for net in (g, d)]
    ema = count[0] if preset.ema_decay else 0
    state = 4 * (COPIES_PER_WEIGHT * sum(count) + ema)  # fp32
    return Footprint(count[0], count[1], state / MB, max(d_step, g_step) / MB)


def free_memory_mb(device: torch.device) -> float | None:
    """Memory a run could take on `device` now: CUDA's free memory, or the system's available memory for
    the CPU (Linux's MemAvailable); None where it cannot be read (no refusal then)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0] / MB
    if device.type == "cpu":
        try:
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
    return None


def fitting_footprint(config: TrainConfig, image_shape: tuple[int, int, int], num_classes: int,
                      device: torch.device) -> Footprint:
    """The footprint, refused in one line where it would not fit the device's free memory: at a run's start
    before its first step, and in the studio before Start."""
    footprint = estimate(config, image_shape, num_classes)
    free = free_memory_mb(device)
    if free is not None and footprint.needs_mb > free:
        size = f"{image_shape[2]}x{image_shape[1]} px"
        raise ConfigError(f"--batch-size {config.batch_size} at {size} with preset {config.preset}: "
                          f"{footprint.describe()}, and {device.type} has {free:,.0f} MB free; "
                          "lower the batch size or the image size")
    return footprint


def measure_step_seconds(config: TrainConfig, image_shape: tuple[int, int, int], num_classes: int,
                         seconds: float = 2.0, stop=lambda: False) -> float | None:
    """Seconds per training step, measured: the preset's own step on random images of the chosen shape,
    after one warm-up step, for at least two steps and about `seconds`. None when `stop()` turned true
    between two steps (the user started the run meanwhile)."""
    from cgan_core.data.dataset import ImageDataset
    from cgan_core.step.trainer import Trainer

    generator = torch.Generator().manual_seed(0)
    count = max(2 * config.batch_size, 2 * num_classes)
    images = torch.randint(0, 256, (count, *image_shape), dtype=torch.uint8, generator=generator)
    labels = torch.arange(count) % num_classes
    data = ImageDataset("estimate", images, labels, [str(k) for k in range(num_classes)])
    with torch.random.fork_rng(devices=[]):  # torch's global stream, as a run's initialisation draws from it
        trainer = Trainer(config, data)
        trainer.step().values.sum().item()  # warm-up: first-call allocations, oneDNN's primitives
        steps, start = 0, time.perf_counter()
        while steps < 2 or time.perf_counter() - start < seconds:
            if stop():
                return None
            trainer.step().values.sum().item()  # .item(): the step's work is done when it returns
            steps += 1
    return (time.perf_counter() - start) / steps
