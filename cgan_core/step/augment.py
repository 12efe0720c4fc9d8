"""Differentiable augmentation (DiffAugment, Zhao et al. 2020): the same random colour, translation and
cutout applied to every image D sees, real and generated alike, in D's own updates and in G's. On a small
data set D otherwise learns its few real images apart within minutes (its r_t climbs towards 1) and stops
teaching G; augmenting only the real images would teach G to draw the augmentations instead. Every
operation is differentiable, so G's gradient passes through it.

Adaptive (StyleGAN2-ADA, Karras et al. 2020): each operation applies to each image with a probability p that
starts at 0 and follows D's overfitting sign r_t, up while r_t is above 0.6 and down while below. Augmentation
slows what G learns early (at 64 px and 600 images a class, 10 CPU-minutes read 23% of the classes with it
always on, 58% without; BENCHMARKS.md), and guards against nothing until D has something to overfit; so a run
pays for it only once D starts learning its real images apart.

Images are in [-1, 1] (tanh) or [0, 1] (sigmoid); the ranges below are the paper's. The draws come from
torch's global RNG on the images' device, which a checkpoint records: a resumed run draws what it would have.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cgan_core.errors import CheckpointError

POLICIES = ("color", "translation", "cutout")


def _per_image(x: torch.Tensor) -> torch.Tensor:
    """One uniform [0, 1) draw per image, shaped to broadcast over its channels and pixels."""
    return torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype)


def color(x: torch.Tensor) -> torch.Tensor:
    """Brightness +-0.5, saturation x0-2 (around each pixel's channel mean), contrast x0.5-1.5."""
    x = x + (_per_image(x) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_per_image(x) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_per_image(x) + 0.5) + mean


def _shifted_indices(n: int, size: int, shift: torch.Tensor) -> torch.Tensor:
    """(n, size) indices into a padded axis: position i of image k reads i + shift[k] (+1 for the pad)."""
    return (torch.arange(size, device=shift.device).unsqueeze(0) + shift.unsqueeze(1) + 1).clamp(0, size + 1)


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Each image moved by up to `ratio` of its side in each direction, the uncovered border zero."""
    n, _, h, w = x.shape
    dy, dx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    rows = _shifted_indices(n, h, torch.randint(-dy, dy + 1, (n,), device=x.device))
    cols = _shifted_indices(n, w, torch.randint(-dx, dx + 1, (n,), device=x.device))
    padded = F.pad(x, [1, 1, 1, 1])  # the zero border that out-of-range indices read
    batch = torch.arange(n, device=x.device)[:, None, None]
    moved = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (n, h, w, c)
    return moved.permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """A square of `ratio` of the side, at a random place in each image, set to zero."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h + (1 - ch % 2), (n, 1), device=x.device) - ch // 2
    left = torch.randint(0, w + (1 - cw % 2), (n, 1), device=x.device) - cw // 2
    rows = torch.arange(h, device=x.device).unsqueeze(0)
    cols = torch.arange(w, device=x.device).unsqueeze(0)
    inside_rows = (rows >= top) & (rows < top + ch)  # (n, h)
    inside_cols = (cols >= left) & (cols < left + cw)  # (n, w)
    keep = ~(inside_rows[:, :, None] & inside_cols[:, None, :])
    return x * keep.unsqueeze(1).to(x.dtype)


OPERATIONS = {"color": color, "translation": translation, "cutout": cutout}


ADAPTIVE = "adaptive"
ADA_TARGET = 0.6  # StyleGAN2-ADA's r_t target
# Images over which p can move from 0 to 1. ADA's 500k images are hours on a CPU; this lets a run on a small
# data set reach full strength within its first tens of minutes, and still averages r_t over a few hundred steps.
ADA_IMAGES = 100_000
ADA_INTERVAL = 4  # steps between adjustments (ADA's)


@dataclass(frozen=True)
class AugmentPolicy:
    """The operations D's inputs go through, and whether their probability adapts (else they always apply)."""

    operations: tuple[str, ...] = ()
    adaptive: bool = False

    def __bool__(self) -> bool:
        return bool(self.operations)


def parse_policy(text: str) -> AugmentPolicy:
    """"none", "color,translation,cutout" (any of them, always on; applied in that order), or "adaptive" (all
    three) or "adaptive:OPERATIONS" (StyleGAN2-ADA's probability)."""
    text = text.strip()
    head, _, rest = text.partition(":")
    adaptive = head.strip() == ADAPTIVE
    if adaptive:
        text = rest if rest.strip() else ",".join(POLICIES)
    if text.strip() in ("", "none"):
        return AugmentPolicy()
    names = tuple(part.strip() for part in text.split(","))
    unknown = [n for n in names if n not in POLICIES]
    if unknown or len(set(names)) != len(names):
        raise ValueError(f"{text!r}: an augmentation is none, a comma list of {', '.join(POLICIES)}, or "
                         f"{ADAPTIVE}[:LIST] for a strength that follows D's overfitting")
    return AugmentPolicy(tuple(n for n in POLICIES if n in names), adaptive)


def augment(x: torch.Tensor, policy: AugmentPolicy, p: torch.Tensor | None = None) -> torch.Tensor:
    """`x` through each operation of `policy` (translation leaves it channels-last, the step's own format); with
    `p`, each operation applies to each image with that probability."""
    for name in policy.operations:
        moved = OPERATIONS[name](x)
        x = moved if p is None else torch.where(_per_image(x) < p.to(x.dtype), moved, x)
    return x


class Augmentation:
    """D's augmentation and its strength p (a 0-d tensor on the training device: adapting it reads nothing back
    to the host). A fixed policy keeps p at 1."""

    def __init__(self, policy: AugmentPolicy, device: torch.device) -> None:
        self.policy = policy
        self.p = torch.tensor(0.0 if policy.adaptive else float(bool(policy)), device=device)
        self.r_t_sum = torch.zeros((), device=device)  # r_t summed over the steps since p last moved
        self.steps = 0

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return augment(images, self.policy, self.p if self.policy.adaptive else None)

    def adapt(self, r_t: torch.Tensor, images: int) -> None:
        """ADA's controller: every ADA_INTERVAL steps, p moves by the images seen over ADA_IMAGES, up when the
        interval's mean r_t is above ADA_TARGET and down when below. (The mean, as ADA has it: one batch's r_t
        is noisy and skewed, and following each step's sign would steer its median instead.)"""
        if not self.policy.adaptive:
            return
        self.r_t_sum.add_(r_t)
        self.steps += 1
        if self.steps == ADA_INTERVAL:
            step = torch.sign(self.r_t_sum / ADA_INTERVAL - ADA_TARGET) * (images * ADA_INTERVAL / ADA_IMAGES)
            self.p.add_(step).clamp_(0.0, 1.0)
            self.r_t_sum.zero_()
            self.steps = 0

    def state_dict(self) -> dict:
        return {"augment_p": self.p.detach().cpu().clone(), "augment_r_t_sum": self.r_t_sum.detach().cpu().clone(),
                "augment_steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        """A checkpoint from before p was kept starts p afresh (0 when adaptive). Its values are checked: a
        checkpoint is a file from outside."""
        if not (self.policy.adaptive and "augment_p" in state):
            return
        p, r_t_sum = state["augment_p"], state.get("augment_r_t_sum", torch.zeros(()))
        steps = state.get("augment_steps", 0)
        scalars = all(isinstance(t, torch.Tensor) and t.numel() == 1 and t.is_floating_point() for t in (p, r_t_sum))
        if not (scalars and 0.0 <= float(p) <= 1.0 and abs(float(r_t_sum)) <= ADA_INTERVAL
                and isinstance(steps, int) and 0 <= steps < ADA_INTERVAL):
            raise CheckpointError("the checkpoint's augmentation strength is not one this version writes "
                                  "(augment_p a probability, augment_r_t_sum within +-4, augment_steps 0-3)")
        self.p.copy_(p.reshape(()))
        self.r_t_sum.copy_(r_t_sum.reshape(()))
        self.steps = steps


def augment_inputs(discriminator: nn.Module, augmentation: Augmentation) -> None:
    """Make `discriminator` see every image through the augmentation while it is in training mode (its own
    updates and G's); in eval mode, the images as they are. A forward pre-hook, not a wrapper: the network's
    parameters and state dict stay the same, so a checkpoint does not depend on the augmentation."""
    if not augmentation.policy:
        return

    def hook(module: nn.Module, args: tuple) -> tuple | None:
        if not module.training:
            return None
        images, *rest = args
        return (augmentation(images), *rest)
    discriminator.register_forward_pre_hook(hook)
