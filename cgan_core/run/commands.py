"""Typed commands that steer a run. Whoever drives the loop (the CLI, a test, the studio's worker, and
rank 0 of a distributed run for every rank) sends these; `RunLoop` applies them between steps, so each takes
effect at a step that the events it yields record."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from cgan_core import records
from cgan_core.errors import ConfigError
from cgan_core.records import MAX_GRID_INTERVAL, MAX_STEP, MAX_VARIANT_STEPS

if TYPE_CHECKING:
    from cgan_core.step.trainer import StepStats, Trainer



def _check_whole(name: str, value, least: int, most: int) -> None:
    """Every source of a command (the studio, the CLI, a control file) meets the same bounds."""
    if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most:
        raise ConfigError(f"{name}: must be a whole number from {least:,} to {most:,}, got {value!r}")


@dataclass(frozen=True)
class SetHParams:
    """Live hyperparameters (lr_g, lr_d, beta1, beta2, d_steps, label_smoothing), checked when built
    (records.HParams): whatever sent it, the run is given only values it can apply."""

    values: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", records.hparams(self.values, "set_hparams"))


@dataclass(frozen=True)
class SetGuard:
    """Divergence-guard settings (see GuardConfig), e.g. {"enabled": False} or {"window": 80}, checked
    when built (records.GuardSettings); how they combine with the rest is the guard's to judge."""

    values: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", records.guard_settings(self.values, "set_guard"))


@dataclass(frozen=True)
class Pause:
    pass


@dataclass(frozen=True)
class Resume:
    pass


class StepPart(Enum):
    """What a single step trains: both networks, as the recipe does, or only one of them."""

    BOTH = "both"
    D_ONLY = "d_only"
    G_ONLY = "g_only"

    def run_on(self, trainer: Trainer) -> StepStats:
        """The trainer's step for this part: the recipe's, or one network's alone."""
        match self:
            case StepPart.D_ONLY:
                return trainer.step_d_only()
            case StepPart.G_ONLY:
                return trainer.step_g_only()
        return trainer.step()


@dataclass(frozen=True)
class Step:
    """Train exactly one batch (paused runs too); update only D or only G when asked."""

    update_d: bool = True
    update_g: bool = True

    def __post_init__(self) -> None:
        if not (self.update_d or self.update_g):
            raise ValueError("a step updates D, G or both: update_d and update_g cannot both be false")

    @property
    def part(self) -> StepPart:
        if self.update_d and self.update_g:
            return StepPart.BOTH
        return StepPart.D_ONLY if self.update_d else StepPart.G_ONLY


@dataclass(frozen=True)
class RollBack:
    """Go back to the snapshot taken at or before `step`, with the current hyperparameters."""

    step: int

    def __post_init__(self) -> None:
        _check_whole("rollback step", self.step, 0, MAX_STEP)


@dataclass(frozen=True)
class SetGridInterval:
    """Draw the fixed-noise grid every `every` steps."""

    every: int

    def __post_init__(self) -> None:
        _check_whole("grid interval", self.every, 1, MAX_GRID_INTERVAL)


@dataclass(frozen=True)
class SetQuality:
    """Live quality on (a prepared LiveQuality; `every` None = auto) or off (live None)."""

    live: object = None
    every: int | None = None


@dataclass(frozen=True)
class PreviewSnapshot:
    """The grid of the snapshot at `step`, drawn from a copy of its weights."""

    step: int


@dataclass(frozen=True)
class CopyGenerator:
    """A copy of the sampling generator's weights (a GeneratorCopy event), e.g. for the explorer."""


@dataclass(frozen=True)
class SaveGenerator:
    path: Path


@dataclass(frozen=True)
class TryVariants:
    """Fork the live run into variants, one for each combination of the `vary` options ("lr_d=0.3x,1x",
    as `cgan-studio branch --vary` takes them), each trained `steps` steps from the run's current state on
    the same batches and noise. The run waits meanwhile, and then for ChooseVariant."""

    vary: tuple[str, ...]
    steps: int

    def __post_init__(self) -> None:
        vary = self.vary
        if not isinstance(vary, (list, tuple)) or not vary or not all(isinstance(v, str) for v in vary):
            raise ConfigError(f"try variants: vary must be a list of NAME=VALUES texts, got {vary!r}")
        object.__setattr__(self, "vary", tuple(vary))
        _check_whole("try variants: steps", self.steps, 1, MAX_VARIANT_STEPS)


@dataclass(frozen=True)
class ChooseVariant:
    """After TryVariants: the run goes on from the variant with this label, from the best one by live
    quality ("best"), or from its own state at the fork ("": keep the run as it was)."""

    label: str = ""


@dataclass(frozen=True)
class Stop:
    """End the run; `reason` is what its RunFinished records (stopped, or a limit rank 0 reached)."""

    reason: records.FinishReason = records.FinishReason.STOPPED


@dataclass(frozen=True)
class ShareState:
    """Distributed runs only (sent by the loop, never by a user): every rank takes rank 0's weights,
    optimizer state and hyperparameters, after rank 0's guard or a rollback changed them."""


Command = (SetHParams | SetGuard | Pause | Resume | Step | RollBack | SetGridInterval | SetQuality | PreviewSnapshot
           | CopyGenerator | SaveGenerator | TryVariants | ChooseVariant | Stop | ShareState)
# A fork's commands: refused with an event (VariantsRefused), never fatal, whatever sent them.
FORK_COMMANDS = (TryVariants, ChooseVariant)
# What every rank of a distributed run applies at the same loop turn; the rest is rank 0's alone
# (its guard, its grids, quality and files), and rank 0 shares the outcome with ShareState.
SHARED = (SetHParams, Pause, Resume, Step, Stop, ShareState)
