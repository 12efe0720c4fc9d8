"""GAN losses as tiny pure functions of discriminator logits, grouped by loss type and chosen once per run.

BCE takes logits (binary_cross_entropy_with_logits): the same value as a sigmoid output layer
followed by BCE, without its overflow at saturation.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class DLosses:
    """What one D update measured: d1 (D on real), d2 (D on fake) and D's logits on each."""

    d1: torch.Tensor
    d2: torch.Tensor
    out_real: torch.Tensor
    out_fake: torch.Tensor

    def detached(self) -> DLosses:
        return DLosses(self.d1.detach(), self.d2.detach(), self.out_real.detach(), self.out_fake.detach())


class LossKind(StrEnum):
    """The loss types a preset or a configuration may name (a StrEnum: "bce" in a TOML file is LossKind.BCE)."""

    BCE = "bce"
    HINGE = "hinge"


LOSSES = tuple(kind.value for kind in LossKind)


def clip(logits: torch.Tensor, bound: float) -> torch.Tensor:
    """Keras's probability clipping as a logit clamp (0 = none). Outside the bound the gradient is
    zero, as it is through Keras's clip."""
    return logits.clamp(-bound, bound) if bound else logits


def bce_d_real(logits: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
    """D's loss on real images (d1). One-sided label smoothing targets 1 - smoothing."""
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, 1.0 - smoothing))


def bce_d_fake(logits: torch.Tensor) -> torch.Tensor:
    """D's loss on generated images (d2)."""
    return F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits))


def bce_g(logits: torch.Tensor) -> torch.Tensor:
    """G's non-saturating loss (g)."""
    return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))


def hinge_d_real(logits: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
    """The hinge loss on real images; label smoothing has no meaning for a margin and is ignored."""
    return F.relu(1.0 - logits).mean()


def hinge_d_fake(logits: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 + logits).mean()


def hinge_g(logits: torch.Tensor) -> torch.Tensor:
    """The hinge generator loss, -D(G(z))."""
    return -logits.mean()


@dataclass(frozen=True)
class GanLoss:
    """The three losses of one loss type: d1 (D on real), d2 (D on fake) and g."""

    d_real: Callable[[torch.Tensor, float], torch.Tensor]
    d_fake: Callable[[torch.Tensor], torch.Tensor]
    g: Callable[[torch.Tensor], torch.Tensor]


GAN_LOSSES: dict[LossKind, GanLoss] = {
    LossKind.BCE: GanLoss(bce_d_real, bce_d_fake, bce_g),
    LossKind.HINGE: GanLoss(hinge_d_real, hinge_d_fake, hinge_g),
}


def gan_loss(kind: str) -> GanLoss:
    """The losses of a loss type, by its name (checked by the configuration before)."""
    return GAN_LOSSES[LossKind(kind)]


def mode_seeking(fake: torch.Tensor, z: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """MSGAN's term (Mao et al., 2019): the first and second halves of the batch share their labels
    and differ in z; a generator that maps different z to the same image is penalised."""
    half = len(fake) // 2
    images = (fake[:half] - fake[half : 2 * half]).abs().flatten(1).mean(1)
    latents = (z[:half] - z[half : 2 * half]).abs().mean(1)
    return 1.0 / ((images / latents).mean() + eps)


def class_loss(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The cross-entropy of D's class scores against the class asked for: an int label, or a soft
    condition's probabilities."""
    target = labels.long() if labels.dtype in (torch.int64, torch.int32) else labels.float()
    return F.cross_entropy(scores.float(), target)
