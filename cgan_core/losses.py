"""GAN losses as tiny pure functions of discriminator logits.

BCE takes logits (binary_cross_entropy_with_logits): the same value as a sigmoid output layer
followed by BCE, without its overflow at saturation.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("bce", "hinge")


def clip(logits: torch.Tensor, bound: float) -> torch.Tensor:
    """Keras's probability clipping as a logit clamp (0 = none). Outside the bound the gradient is
    zero, as it is through Keras's clip."""
    return logits.clamp(-bound, bound) if bound else logits


def d_real(logits: torch.Tensor, kind: str, smoothing: float = 0.0) -> torch.Tensor:
    """The discriminator's loss on real images (d1). One-sided label smoothing targets 1 - smoothing."""
    if kind == "hinge":
        return F.relu(1.0 - logits).mean()
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, 1.0 - smoothing))


def d_fake(logits: torch.Tensor, kind: str) -> torch.Tensor:
    """The discriminator's loss on generated images (d2)."""
    if kind == "hinge":
        return F.relu(1.0 + logits).mean()
    return F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits))


def g_loss(logits: torch.Tensor, kind: str) -> torch.Tensor:
    """The generator's loss (g): non-saturating BCE, or the hinge generator loss -D(G(z))."""
    if kind == "hinge":
        return -logits.mean()
    return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))


def mode_seeking(fake: torch.Tensor, z: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """MSGAN's term (Mao et al., 2019): the first and second halves of the batch share their labels
    and differ in z; a generator that maps different z to the same image is penalised."""
    half = len(fake) // 2
    images = (fake[:half] - fake[half : 2 * half]).abs().flatten(1).mean(1)
    latents = (z[:half] - z[half : 2 * half]).abs().mean(1)
    return 1.0 / ((images / latents).mean() + eps)
