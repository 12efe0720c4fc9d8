"""What each step draws: real batches from this process's shard of the dataset, noise and labels for G,
and the fixed noise of the sample grid. Each draw has its own seeded stream, so a resume replays it exactly.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from cgan_core.data import BatchStream, ImageDataset

if TYPE_CHECKING:
    from cgan_core.step.distributed import World

PREVIEW_NOISE = 16  # fixed noise vectors kept for the sample grid: its columns at most


class StepInputs:
    """Real batches (uint8 on the device, scaled once per draw), noise and labels. In a distributed run every
    rank draws the global batch's noise and keeps its own rows, so ranks stay in step."""

    def __init__(self, dataset: ImageDataset, latent_dim: int, seed: int, output_range: str,
                 mode_seeking: bool, memory_format: torch.memory_format, world: World | None) -> None:
        self.dataset, self.latent_dim, self.world = dataset, latent_dim, world
        self.device = dataset.images.device
        self.ranks = world.size if world is not None else 1
        self.mode_seeking, self.memory_format = mode_seeking, memory_format
        self.batches = BatchStream(len(dataset), self.device, seed + 1, *((world.rank, world.size) if world else ()))
        self.noise = torch.Generator(device=self.device)
        self.noise.manual_seed(seed + 2)
        preview = torch.Generator().manual_seed(seed + 3)  # the fixed noise of the sample grid
        self.fixed_z = torch.randn(PREVIEW_NOISE, latent_dim, generator=preview).to(self.device)
        tanh = output_range == "tanh"
        self.pixel_scale, self.pixel_offset = (2.0 / 255.0, -1.0) if tanh else (1.0 / 255.0, 0.0)
        self.images_seen = 0  # real images drawn by all ranks together

    def to_model_range(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images -> floats in the generator's output range, as one multiply-add on the device."""
        return images.float().mul_(self.pixel_scale).add_(self.pixel_offset)

    def real_batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The next n real images of this process's shard, and their labels; they count as seen."""
        idx = self.batches.next(n)
        x = self.to_model_range(self.dataset.images[idx])
        self.images_seen += n * self.ranks
        return x.contiguous(memory_format=self.memory_format), self.dataset.labels[idx]

    def _mine(self, drawn: torch.Tensor, n: int) -> torch.Tensor:
        """This process's n rows of a global draw: every rank draws for all ranks and keeps its slice."""
        return self.world.mine(drawn, n) if self.world is not None else drawn

    def latent(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """n noise vectors and random labels (label-matched pairs where the preset seeks modes)."""
        ranks, k = self.ranks, self.dataset.num_classes
        z = self._mine(torch.randn(n * ranks, self.latent_dim, device=self.device, generator=self.noise), n)
        if self.mode_seeking:  # label-matched pairs: sample i and i + n/2 share a class
            m = (n + 1) // 2
            half = self._mine(torch.randint(0, k, (m * ranks,), device=self.device, generator=self.noise), m)
            return z, torch.cat([half, half])[:n]
        return z, self._mine(torch.randint(0, k, (n * ranks,), device=self.device, generator=self.noise), n)

    def fixed_grid_batch(self, per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Fixed noise for the sample grid: the same z in every row, one row per class."""
        k = self.dataset.num_classes
        z = self.fixed_z[:per_class].repeat(k, 1)
        labels = torch.arange(k, device=self.device).repeat_interleave(per_class)
        return z, labels

    def state_dict(self) -> dict:
        return {"images_seen": self.images_seen, "batches": self.batches.state_dict(),
                "noise_rng": self.noise.get_state(), "fixed_z": self.fixed_z.cpu()}

    def load_state_dict(self, state: dict) -> None:
        self.batches.load_state_dict(state["batches"])
        self.noise.set_state(state["noise_rng"])
        self.fixed_z = state["fixed_z"].to(self.device)
        self.images_seen = int(state["images_seen"])
