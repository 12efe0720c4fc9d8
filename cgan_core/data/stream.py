"""A seeded batch stream drawn on the training device: no DataLoader and no worker processes (which
would re-import the GUI under spawn); the whole set is indexed where it lives."""
from __future__ import annotations

import torch

from ..errors import DataError


class BatchStream:
    """Shuffled index batches drawn on the device from a seeded torch.Generator.

    Each epoch is one permutation; a last partial batch is dropped, so shapes stay fixed.
    The state (generator, permutation, position, epoch) goes into checkpoints for exact resume.
    """

    def __init__(self, size: int, device: torch.device, seed: int) -> None:
        self.size = size
        self.device = device
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)
        self.epoch = 0
        self.position = 0
        self.permutation = torch.randperm(size, generator=self.generator, device=device)

    def next(self, batch_size: int) -> torch.Tensor:
        if batch_size > self.size:
            raise DataError(f"batch size {batch_size} is larger than the dataset ({self.size} images)")
        if self.position + batch_size > self.size:
            self.epoch += 1
            self.position = 0
            self.permutation = torch.randperm(self.size, generator=self.generator, device=self.device)
        indices = self.permutation[self.position : self.position + batch_size]
        self.position += batch_size
        return indices

    @property
    def epoch_progress(self) -> float:
        return self.epoch + self.position / self.size

    def state_dict(self) -> dict:
        return {
            "generator": self.generator.get_state(),
            "permutation": self.permutation.cpu(),
            "position": self.position,
            "epoch": self.epoch,
        }

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.permutation = state["permutation"].to(self.device)
        self.position = int(state["position"])
        self.epoch = int(state["epoch"])
