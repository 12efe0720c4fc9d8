"""The training step of a class-conditional GAN: plain code, no threads, no UI.

`Trainer.step()` runs one step of the preset's update scheme and returns its stats as a device
tensor: nothing in the step syncs with the host, so on CUDA the caller decides when to read them.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from . import losses
from .config import TrainConfig, check_hparams
from .data import BatchStream, ImageDataset, load_dataset
from .device import native_bf16, pick_device
from .fastcpu import use_fast_cpu_paths
from .presets import get_preset

if TYPE_CHECKING:
    from .distributed import World

STAT_NAMES = ("d1", "d2", "g", "d_real", "d_fake", "grad_d", "grad_g")
EMA_RAMP = 18  # the EMA's decay at step t is (1 + t) / (EMA_RAMP + t): a window of about t / (EMA_RAMP - 1)


@dataclass(frozen=True)
class StepStats:
    """One step's stats, on the training device. Reading a field is a host sync."""

    step: int
    values: torch.Tensor  # (len(STAT_NAMES),)

    def as_dict(self) -> dict[str, float]:
        return dict(zip(STAT_NAMES, self.values.tolist()))  # .tolist() is a host sync

    def __getattr__(self, name: str) -> float:
        if name in STAT_NAMES:
            return float(self.values[STAT_NAMES.index(name)])
        raise AttributeError(name)


def _grad_norm(module: nn.Module, device: torch.device) -> torch.Tensor:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros((), device=device)
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


class Trainer:
    """The step. In a distributed run (`world`), G and D train through DDP wrappers (`g_train`, `d_train`);
    `g` and `d` are always the plain modules, for sampling, the EMA and checkpoints."""

    def __init__(self, config: TrainConfig, dataset: ImageDataset | None = None, warn=lambda msg: None,
                 world: World | None = None) -> None:
        self.config = config.resolved()  # the preset under its current name, also when given by an alias
        self.preset = get_preset(self.config.preset)
        self.world = world
        self.ranks = world.size if world is not None else 1  # the processes that share each global batch
        self.device = world.device if world is not None else pick_device(self.config.device)
        c = self.config
        data = dataset if dataset is not None else load_dataset(c.dataset, image_size=c.image_size, color=c.color, warn=warn)
        self.dataset = data.to(self.device)
        self.hparams = self.config.hparams()
        seed = self.config.seed
        torch.manual_seed(seed)  # model initialisation and dropout draw from torch's global RNG
        self.g, self.d = self.preset.build(data.num_classes, data.image_shape, self.config.latent_dim)
        self.g.to(self.device)
        self.d.to(self.device)
        self.memory_format = torch.channels_last if self.preset.channels_last else torch.contiguous_format
        self.g.to(memory_format=self.memory_format)
        self.d.to(memory_format=self.memory_format)
        if self.device.type == "cpu":  # slow cases of oneDNN and of CPU bernoulli_; see fastcpu.py
            use_fast_cpu_paths(self.g)
            use_fast_cpu_paths(self.d)
        self.g_train, self.d_train = self.g, self.d
        if world is not None:
            if self.device.type == "cuda":  # SyncBatchNorm is CUDA-only; on the CPU BatchNorm stays per rank
                self.g = nn.SyncBatchNorm.convert_sync_batchnorm(self.g)
                self.d = nn.SyncBatchNorm.convert_sync_batchnorm(self.d)
            self.g_train, self.d_train = world.wrap(self.g), world.wrap(self.d)  # broadcasts rank 0's weights
        # The EMA starts from G as rank 0 has it, so it is the same on every rank.
        self.ema = copy.deepcopy(self.g).eval().requires_grad_(False) if self.preset.ema_decay else None
        # Fused Adam: one kernel per step on CUDA, and on the CPU a single pass instead of ~10 foreach ops.
        fused = self.device.type in ("cuda", "cpu")
        betas = (self.hparams["beta1"], self.hparams["beta2"])
        eps = self.preset.adam_eps  # the recipe's framework's epsilon (Keras: 1e-7)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=self.hparams["lr_g"], betas=betas, eps=eps, fused=fused or None)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=self.hparams["lr_d"], betas=betas, eps=eps, fused=fused or None)
        self.batches = BatchStream(len(data), self.device, seed + 1, *((world.rank, world.size) if world else ()))
        self.noise = torch.Generator(device=self.device)
        self.noise.manual_seed(seed + 2)
        preview = torch.Generator().manual_seed(seed + 3)  # the fixed noise of the sample grid
        self.fixed_z = torch.randn(16, self.config.latent_dim, generator=preview).to(self.device)
        tanh = self.g.output_range == "tanh"
        self.pixel_scale, self.pixel_offset = (2.0 / 255.0, -1.0) if tanh else (1.0 / 255.0, 0.0)
        self.step_count = 0
        self.images_seen = 0
        # bf16 autocast of the training forwards: oneDNN's bf16 kernels (avx512_bf16, AMX) or CUDA's;
        # the weights, the optimizer, the EMA, the losses and sampling stay in fp32.
        precision = self.config.precision
        self.low_precision = precision == "bf16" or (precision == "auto" and native_bf16(self.device))
        stochastic = (nn.Dropout, nn.BatchNorm1d, nn.BatchNorm2d)
        self._g_is_deterministic = not any(isinstance(m, stochastic) for m in self.g.modules())

    # ---- hyperparameters -------------------------------------------------------------------
    def set_hparams(self, **changes) -> dict[str, tuple]:
        """Change live hyperparameters; returns {name: (old, new)} for those that changed.

        Learning rates and betas are written into the live optimizers' param groups, so their
        moment estimates are kept.
        """
        check_hparams(changes)
        changed = {k: (self.hparams[k], v) for k, v in changes.items() if self.hparams[k] != v}
        self.hparams.update(changes)
        for opt, lr in ((self.opt_g, self.hparams["lr_g"]), (self.opt_d, self.hparams["lr_d"])):
            for group in opt.param_groups:
                group["lr"] = lr
                group["betas"] = (self.hparams["beta1"], self.hparams["beta2"])
        return changed

    # ---- the step --------------------------------------------------------------------------
    def to_model_range(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images -> floats in the generator's output range, as one multiply-add on the device."""
        return images.float().mul_(self.pixel_scale).add_(self.pixel_offset)

    def _real_batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.batches.next(n)
        x = self.to_model_range(self.dataset.images[idx])
        return x.contiguous(memory_format=self.memory_format), self.dataset.labels[idx]

    def _mine(self, drawn: torch.Tensor, n: int) -> torch.Tensor:
        """This process's n rows of a global draw: every rank draws for all ranks and keeps its slice."""
        return self.world.mine(drawn, n) if self.world is not None else drawn

    def _latent(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        ranks, k = self.ranks, self.dataset.num_classes
        z = self._mine(torch.randn(n * ranks, self.config.latent_dim, device=self.device, generator=self.noise), n)
        if self.preset.mode_seeking:  # label-matched pairs: sample i and i + n/2 share a class
            m = (n + 1) // 2
            half = self._mine(torch.randint(0, k, (m * ranks,), device=self.device, generator=self.noise), m)
            return z, torch.cat([half, half])[:n]
        return z, self._mine(torch.randint(0, k, (n * ranks,), device=self.device, generator=self.noise), n)

    def step(self, update_d: bool = True, update_g: bool = True) -> StepStats:
        """One training step: d_steps discriminator updates, then one generator update.

        With update_d or update_g false that half is only measured (no gradients, no update):
        the studio's "Step D only" and "Step G only".
        """
        scheme, kind = self.preset.scheme, self.config.loss
        if self.world is not None:  # dropout masks: a per-rank counter stream, so a resume replays them exactly
            torch.manual_seed(self.world.dropout_seed(self.config.seed, self.step_count))
        n_real = max(1, int(self.config.batch_size * scheme.real_fraction))
        # Regenerating from the same z and labels with unchanged weights gives exactly the same
        # images and gradients when G has no dropout or BatchNorm, so the first forward is reused.
        regenerate = scheme.g_input == "regenerate" and not self._g_is_deterministic
        reuse = update_g and (scheme.g_input == "reuse" or (scheme.g_input == "regenerate" and not regenerate))
        d_steps = int(self.hparams["d_steps"]) if update_d else 1
        for i in range(d_steps):
            real, y_real = self._real_batch(n_real)
            z, y_fake = self._latent(n_real)
            if scheme.fake_labels == "data":
                y_fake = y_real
            keep_graph = reuse and i == d_steps - 1  # the G graph is only needed when G's step reuses it
            with torch.set_grad_enabled(keep_graph):  # (and DDP expects one backward per training forward)
                fake = self._generate(self.g_train if keep_graph else self.g, z, y_fake)
            if not update_d:
                d1, d2, out_real, out_fake = self._d_measure(real, y_real, fake.detach(), y_fake, kind)
            elif scheme.d_update == "joint":
                d1, d2, out_real, out_fake = self._d_step_joint(real, y_real, fake.detach(), y_fake, kind)
            else:
                d1, d2, out_real, out_fake = self._d_step_separate(real, y_real, fake.detach(), y_fake, kind)
            self.images_seen += n_real * self.ranks
        grad_d = _grad_norm(self.d, self.device) if update_d else torch.zeros((), device=self.device)
        if update_g:
            if regenerate:
                fake = self._generate(self.g_train, z, y_fake)
            elif scheme.g_input == "fresh":
                z, y_fake = self._latent(self.config.batch_size)
                fake = self._generate(self.g_train, z, y_fake)
            g_value, grad_g = self._g_step(fake, y_fake, z, kind)
            self._update_ema()
        else:
            with torch.no_grad():
                g_value, grad_g = losses.g_loss(self._logits(fake, y_fake), kind), torch.zeros((), device=self.device)
        self.step_count += 1
        with torch.no_grad():
            d_real, d_fake = torch.sigmoid(out_real).mean(), torch.sigmoid(out_fake).mean()
            values = torch.stack([d1, d2, g_value, d_real, d_fake, grad_d, grad_g]).float()
        if self.world is not None:  # the run's losses are the means over every rank's batch
            self.world.average_(values)
        return StepStats(self.step_count, values)

    def _logits(self, images: torch.Tensor, labels: torch.Tensor, d: nn.Module | None = None) -> torch.Tensor:
        """D's logits, clipped where the recipe's framework clips its probabilities. D's own updates go
        through `d_train`; G's step calls the plain D, so D's DDP hooks never fire for it (pytorch#46166)."""
        with self._autocast():
            logits = (d or self.d)(images, labels)
        return losses.clip(logits.float(), self.preset.logit_clip)

    def _generate(self, g: nn.Module, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """A training forward of G (in bf16 when the run asks; D then reads bf16 images)."""
        with self._autocast():
            return g(z, labels)

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.low_precision)

    def _d_joint_losses(self, real, y_real, fake, y_fake, kind, d=None):
        """d1 and d2 from one D forward pass over real and fake together."""
        out = self._logits(torch.cat([real, fake]), torch.cat([y_real, y_fake]), d)
        out_real, out_fake = out[: len(real)], out[len(real):]
        return losses.d_real(out_real, kind, self.hparams["label_smoothing"]), losses.d_fake(out_fake, kind), out_real, out_fake

    def _d_step_joint(self, real, y_real, fake, y_fake, kind):
        """One D update on (d1 + d2) / 2."""
        self.opt_d.zero_grad(set_to_none=True)
        d1, d2, out_real, out_fake = self._d_joint_losses(real, y_real, fake, y_fake, kind, self.d_train)
        ((d1 + d2) * 0.5).backward()
        self.opt_d.step()
        return d1.detach(), d2.detach(), out_real.detach(), out_fake.detach()

    @torch.no_grad()
    def _d_measure(self, real, y_real, fake, y_fake, kind):
        return self._d_joint_losses(real, y_real, fake, y_fake, kind)

    def _d_step_separate(self, real, y_real, fake, y_fake, kind):
        """Two D updates, as Keras' train_on_batch(real) then train_on_batch(fake)."""
        self.opt_d.zero_grad(set_to_none=True)
        out_real = self._logits(real, y_real, self.d_train)
        d1 = losses.d_real(out_real, kind, self.hparams["label_smoothing"])
        d1.backward()
        self.opt_d.step()
        self.opt_d.zero_grad(set_to_none=True)
        out_fake = self._logits(fake, y_fake, self.d_train)
        d2 = losses.d_fake(out_fake, kind)
        d2.backward()
        self.opt_d.step()
        return d1.detach(), d2.detach(), out_real.detach(), out_fake.detach()

    def _g_step(self, fake, y_fake, z, kind):
        self.opt_g.zero_grad(set_to_none=True)
        self.d.requires_grad_(False)  # G's backward needs D's input gradients, not its weight gradients
        try:
            g_value = losses.g_loss(self._logits(fake, y_fake), kind)
            total = g_value
            if self.preset.mode_seeking:  # g stays the adversarial loss; the diversity term is added
                total = g_value + self.preset.mode_seeking * losses.mode_seeking(fake.float(), z)
            total.backward()
        finally:
            self.d.requires_grad_(True)
        grad_g = _grad_norm(self.g, self.device)
        self.opt_g.step()
        return g_value.detach(), grad_g

    @torch.no_grad()
    def _update_ema(self) -> None:
        if self.ema is None:
            return
        # A power-function average (Karras et al. 2024, EDM2): at step t it weighs about the last t/17 steps,
        # so early on it follows G closely instead of averaging in the random init, and later it averages
        # longer. studio-fast's Frechet distance was lower or equal at 9 marks of 3 runs than with the former
        # (1 + t) / (10 + t) ramp capped at 0.999 (BENCHMARKS.md); the preset's ema_decay still caps it.
        decay = min(self.preset.ema_decay, (1 + self.step_count) / (EMA_RAMP + self.step_count))
        torch._foreach_lerp_(list(self.ema.parameters()), list(self.g.parameters()), 1.0 - decay)
        for ema_buf, buf in zip(self.ema.buffers(), self.g.buffers()):
            ema_buf.copy_(buf)

    # ---- sampling ----------------------------------------------------------------------------
    @property
    def sampler(self) -> nn.Module:
        """The generator to sample from: the EMA where the preset keeps one."""
        return self.ema if self.ema is not None else self.g

    @torch.no_grad()
    def generate(self, z: torch.Tensor, c: torch.Tensor, use_ema: bool = True) -> torch.Tensor:
        """Images in the generator's output range, in eval mode (BatchNorm uses running stats)."""
        model = self.sampler if use_ema else self.g
        was_training = model.training
        model.eval()
        try:
            return model(z.to(self.device), c.to(self.device)).float()
        finally:
            model.train(was_training)

    def fixed_grid_batch(self, per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Fixed noise for the sample grid: the same z in every row, one row per class."""
        k = self.dataset.num_classes
        z = self.fixed_z[:per_class].repeat(k, 1)
        labels = torch.arange(k, device=self.device).repeat_interleave(per_class)
        return z, labels

    # ---- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to resume exactly; only tensors and plain types (weights_only-safe)."""
        state = {
            "step": self.step_count,
            "images_seen": self.images_seen,
            "g": self.g.state_dict(),
            "d": self.d.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "batches": self.batches.state_dict(),
            "noise_rng": self.noise.get_state(),
            "torch_rng": torch.get_rng_state(),
            "fixed_z": self.fixed_z.cpu(),
            "hparams": dict(self.hparams),
        }
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return state

    def load_state_dict(self, state: dict) -> None:
        self.g.load_state_dict(state["g"])
        self.d.load_state_dict(state["d"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.batches.load_state_dict(state["batches"])
        self.noise.set_state(state["noise_rng"])
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self.fixed_z = state["fixed_z"].to(self.device)
        self.step_count = int(state["step"])
        self.images_seen = int(state["images_seen"])
        self.set_hparams(**state["hparams"])
