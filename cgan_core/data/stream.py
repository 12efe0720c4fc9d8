"""A seeded batch stream drawn on the training device: no DataLoader and no worker processes (which
would re-import the GUI under spawn); the whole set is indexed where it lives."""
from __future__ import annotations

import torch

from cgan_core.errors import DataError


class BatchStream:
    """Shuffled index batches drawn on the device from a seeded torch.Generator.

    Each epoch is one permutation; a last partial batch is dropped, so shapes stay fixed.
    The state (generator, permutation, position, epoch) goes into checkpoints for exact resume.
    In a distributed run every rank holds the same stream and takes its slice of each global batch
    (rank r of n: rows r*B .. (r+1)*B of n*B), so the ranks' batches are disjoint.
    """

    def __init__(self, size: int, device: torch.device, seed: int, rank: int = 0, ranks: int = 1) -> None:
        self.size = size
        self.rank, self.ranks = rank, ranks
        self.device = device
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)
        self.epoch = 0
        self.position = 0
        self.permutation = torch.randperm(size, generator=self.generator, device=device)

    def next(self, batch_size: int) -> torch.Tensor:
        total = batch_size * self.ranks
        if total > self.size:
            ranks = f" x {self.ranks} ranks" if self.ranks > 1 else ""
            raise DataError(f"batch size {batch_size}{ranks} is larger than the dataset ({self.size} images)")
        if self.position + total > self.size:
            self.epoch += 1
            self.position = 0
            self.permutation = torch.randperm(self.size, generator=self.generator, device=self.device)
        start = self.position + self.rank * batch_size
        self.position += total
        return self.permutation[start : start + batch_size]

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
