"""Small building blocks shared by the networks: class conditions and initialisation."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def as_probs(c: torch.Tensor, num_classes: int) -> torch.Tensor:
    """A class condition as a (N, K) float matrix: one-hot for int labels, unchanged for probabilities."""
    if c.dtype in (torch.int64, torch.int32):
        # scatter_, not F.one_hot: on CUDA one_hot checks the label range with a host sync every step
        return torch.zeros(len(c), num_classes, device=c.device).scatter_(1, c.long().view(-1, 1), 1.0)
    if c.ndim != 2 or c.shape[1] != num_classes:
        raise ValueError(f"a soft condition must be (N, {num_classes}) probabilities, got {tuple(c.shape)}")
    return c.float()


def embed(c: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Embedding lookup for int labels; the probability-weighted mix of rows for a soft condition.

    For a one-hot vector the matmul picks exactly the same row, so hard and soft agree.
    """
    if c.dtype in (torch.int64, torch.int32):
        return F.embedding(c.long(), weight)
    return c.to(weight.dtype) @ weight


class ClassEmbedding(nn.Module):
    """nn.Embedding that also accepts soft conditions (see `embed`)."""

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, dim))
        nn.init.normal_(self.weight)

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        return embed(c, self.weight)


def init_normal(module: nn.Module, std: float = 0.02) -> None:
    """DCGAN/Keras-tutorial style N(0, std) weights, zero biases, for Linear and conv layers."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def init_keras(module: nn.Module) -> None:
    """Keras's defaults, for the recipes whose tutorials rely on them: glorot-uniform kernels and zero
    biases for Dense and conv layers, uniform(-0.05, 0.05) embeddings. PyTorch's own defaults
    (kaiming-uniform kernels, uniform biases, N(0, 1) embeddings) start those recipes elsewhere."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(m.weight)  # symmetric in fan-in and fan-out: right for ConvTranspose too
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, ClassEmbedding):
            nn.init.uniform_(m.weight, -0.05, 0.05)


def lrelu() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.2, inplace=True)
