"""D's judgement of a batch: its logits (clipped as the recipe's framework clips them), its class scores
where the preset trains D as a classifier too, and the D losses made of them.

The trainer owns the optimizers and the order of the updates; this owns how one forward of D is read.
"""
from __future__ import annotations

import torch
from torch import nn

from cgan_core.step import losses
from cgan_core.step.losses import DLosses
from cgan_core.step.presets import Preset


def bf16_autocast(device: torch.device, enabled: bool) -> torch.autocast:
    """The training forwards' autocast: bf16 where the run asks, else a no-op."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


class Judge:
    """Reads D. `d` is the plain module: G's update judges through it, so D's DDP hooks never fire for
    G's backward (pytorch#46166); D's own updates pass their DDP wrapper as `d`."""

    def __init__(self, d: nn.Module, preset: Preset, loss: losses.GanLoss, device: torch.device,
                 low_precision: bool) -> None:
        self.d = d
        self.loss = loss
        self.class_weight = preset.class_loss
        self.logit_clip = preset.logit_clip
        self.device = device
        self.low_precision = low_precision

    def logits(self, images: torch.Tensor, labels: torch.Tensor, d: nn.Module | None = None) -> torch.Tensor:
        """D's logits, clipped where the recipe's framework clips its probabilities."""
        return self.read(images, labels, d, with_classes=False)[0]

    def read(self, images: torch.Tensor, labels: torch.Tensor, d: nn.Module | None = None,
             with_classes: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """D's logits, and its class scores where the preset trains D as a classifier too."""
        with bf16_autocast(self.device, self.low_precision):
            if with_classes and self.class_weight:
                logits, scores = (d or self.d)(images, labels, class_scores=True)
            else:
                logits, scores = (d or self.d)(images, labels), None
        return losses.clip(logits.float(), self.logit_clip), scores

    def class_term(self, scores: torch.Tensor | None, labels: torch.Tensor) -> torch.Tensor | float:
        """The preset's weight times the cross-entropy of D's class scores against `labels` (0 without)."""
        return 0.0 if scores is None else self.class_weight * losses.class_loss(scores, labels)

    def joint(self, real, y_real, fake, y_fake, smoothing: float, d: nn.Module | None = None,
              with_classes: bool = True) -> tuple[DLosses, torch.Tensor | float]:
        """d1 and d2 from one D forward over real and fake together, and the class term of the reals."""
        out, scores = self.read(torch.cat([real, fake]), torch.cat([y_real, y_fake]), d, with_classes)
        out_real, out_fake = out[: len(real)], out[len(real):]
        # D learns the classes from real images only (P2GAN, Han et al. 2021): reading a fake's class would
        # teach it what G draws, and reward G for samples that are easy to classify rather than real.
        class_term = self.class_term(None if scores is None else scores[: len(real)], y_real)
        return DLosses(self.loss.d_real(out_real, smoothing), self.loss.d_fake(out_fake), out_real, out_fake), class_term
