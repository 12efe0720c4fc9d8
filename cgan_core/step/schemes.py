"""The update schemes: one function per family of recipes, each one training step written the way its
tutorial writes it (D on real, D on fake, then G). A preset names its scheme once; `Trainer.step()` calls it.

Each function returns D's losses and G's loss, on the device. `t.d_steps` is 1 unless the user asks for
more D updates per step (a live setting); the studio's "Step D only" and "Step G only" are the Trainer's
(`step_d_only`, `step_g_only`), the same for every scheme.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch

from cgan_core.step.inputs import StepInputs
from cgan_core.step.losses import DLosses


class Learner(Protocol):
    """What a scheme needs of the trainer (trainer.Trainer is the one): its batches, a G forward, and the
    three updates. Schemes import no trainer, so the trainer, the presets and the schemes form no circle."""

    inputs: StepInputs
    g_is_deterministic: bool

    @property
    def d_steps(self) -> int: ...
    @property
    def d_batch(self) -> int: ...
    @property
    def g_batch(self) -> int: ...
    def forward_g(self, z: torch.Tensor, labels: torch.Tensor, graph: bool = True) -> torch.Tensor: ...
    def learn_d_joint(self, real, y_real, fake, y_fake) -> DLosses: ...
    def learn_d_separate(self, real, y_real, fake, y_fake) -> DLosses: ...
    def learn_g(self, fake: torch.Tensor, y_fake: torch.Tensor, z: torch.Tensor) -> torch.Tensor: ...


Step = Callable[[Learner], "tuple[DLosses, torch.Tensor]"]


def joint_reuse(t: Learner) -> tuple[DLosses, torch.Tensor]:
    """studio-fast: D on real and fake in one pass, then G through the very same fakes (one G forward a step)."""
    n = t.d_batch
    for i in range(t.d_steps):
        real, y_real = t.inputs.real_batch(n)
        z, y = t.inputs.latent(n)
        fake = t.forward_g(z, y, graph=i == t.d_steps - 1)  # G's update reuses the last D step's fakes
        d = t.learn_d_joint(real, y_real, fake.detach(), y)
    return d, t.learn_g(fake, y, z)


def joint_regenerate(t: Learner) -> tuple[DLosses, torch.Tensor]:
    """seed 002 (PyTorch): D on real and fake together, then G regenerates its fakes from the same z and labels.

    A G with no dropout or BatchNorm regenerates exactly the same images and gradients with unchanged weights,
    so there the D step's forward is kept with its graph instead (tests/core/test_trainer.py proves it exact).
    """
    n, same = t.d_batch, t.g_is_deterministic
    for i in range(t.d_steps):
        real, y_real = t.inputs.real_batch(n)
        z, y = t.inputs.latent(n)
        fake = t.forward_g(z, y, graph=same and i == t.d_steps - 1)
        d = t.learn_d_joint(real, y_real, fake.detach(), y)
    if not same:
        fake = t.forward_g(z, y)
    return d, t.learn_g(fake, y, z)


def joint_fresh_data_labels(t: Learner) -> tuple[DLosses, torch.Tensor]:
    """seeds 000/003 (Keras): D on real and fake together, the fakes drawn for the real batch's labels; then
    G on fresh noise and random labels."""
    n = t.d_batch
    for _ in range(t.d_steps):
        real, y_real = t.inputs.real_batch(n)
        z, _ = t.inputs.latent(n)  # its random labels are drawn and set aside: the fakes take the data's
        d = t.learn_d_joint(real, y_real, t.forward_g(z, y_real, graph=False), y_real)
    z, y = t.inputs.latent(t.g_batch)
    return d, t.learn_g(t.forward_g(z, y), y, z)


def separate_fresh(t: Learner) -> tuple[DLosses, torch.Tensor]:
    """seeds 001/004 (Keras): train_on_batch on the real half, then on the fake half, then the combined model
    on fresh noise and random labels."""
    n = t.d_batch
    for _ in range(t.d_steps):
        real, y_real = t.inputs.real_batch(n)
        z, y = t.inputs.latent(n)
        d = t.learn_d_separate(real, y_real, t.forward_g(z, y, graph=False), y)
    z, y = t.inputs.latent(t.g_batch)
    return d, t.learn_g(t.forward_g(z, y), y, z)


@dataclass(frozen=True)
class Scheme:
    """A preset's update scheme: its step, and how its D learns (for "Step D only").

    d_batch_fraction: 0.5 trains D on half-batches (seed 004), 1.0 on full batches.
    """

    step: Step
    separate_d: bool = False  # D learns from real and fake in two updates (Keras' two train_on_batch calls)
    d_batch_fraction: float = 1.0


JOINT_REUSE = Scheme(joint_reuse)
JOINT_REGENERATE = Scheme(joint_regenerate)
JOINT_FRESH_DATA_LABELS = Scheme(joint_fresh_data_labels)
SEPARATE_FRESH = Scheme(separate_fresh, separate_d=True)
SEPARATE_FRESH_HALF_BATCH = Scheme(separate_fresh, separate_d=True, d_batch_fraction=0.5)
