"""Small frozen events a run yields. Plain floats, ints, strings and numpy copies: never tensors,
so they are safe to hand to another thread (a loss tensor would keep its graph alive, a CUDA one
would sync the GPU on the reader's thread)."""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from enum import StrEnum

import msgspec
import numpy as np

from cgan_core.records import FinishReason


@dataclass(frozen=True)
class LossChunk:
    """Per-step stats for a stretch of consecutive steps."""

    steps: np.ndarray  # int64 (n,)
    values: np.ndarray  # float32 (n, len(names))
    names: tuple[str, ...]
    epoch: float
    images_seen: int
    seconds: float  # training time so far
    images_per_second: float

    def column(self, name: str) -> np.ndarray:
        return self.values[:, self.names.index(name)]


@dataclass(frozen=True)
class SampleGrid:
    """The fixed-noise grid, one row per class, as uint8 (H, W, C) with 0 = background."""

    step: int
    image: np.ndarray
    class_names: tuple[str, ...]
    per_class: int
    cell: int  # side of one sample in pixels, padding included


@dataclass(frozen=True)
class HParamChange:
    step: int
    name: str
    old: float
    new: float

    @property
    def label(self) -> str:
        """As a user reads it: "lr D 2e-4 -> 1e-4"."""
        return f"{HPARAM_LABELS.get(self.name, self.name)} {short_number(self.old)} -> {short_number(self.new)}"


HPARAM_LABELS = {"lr_g": "lr G", "lr_d": "lr D", "beta1": "beta1", "beta2": "beta2", "d_steps": "D steps",
                 "label_smoothing": "smoothing"}


def short_number(value: float) -> str:
    """2e-4 rather than 0.0002; 0.5 rather than 5e-1."""
    if value == 0 or 0.01 <= abs(value) < 1000:
        return f"{value:.3g}"
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


@dataclass(frozen=True)
class SnapshotTaken:
    """A healthy in-memory snapshot; `kept` lists every snapshot step still in the ring."""

    step: int
    kept: tuple[int, ...]


class Reason(StrEnum):
    """Why the guard acted (or the user rolled back). A str, so events.jsonl keeps the plain names."""

    NON_FINITE = "non_finite"
    D_DOMINANCE = "d_dominance"
    G_EXPLODES = "g_explodes"
    GRAD_SPIKE = "grad_spike"
    CLASS_COLLAPSE = "class_collapse"
    MANUAL = "manual"

    @property
    def label(self) -> str:
        """As a user reads it."""
        return _REASON_LABELS[self]


_REASON_LABELS = {Reason.NON_FINITE: "non-finite loss", Reason.D_DOMINANCE: "D dominance",
                  Reason.G_EXPLODES: "G loss explodes", Reason.GRAD_SPIKE: "gradient spike",
                  Reason.CLASS_COLLAPSE: "class collapse", Reason.MANUAL: "manual rollback"}


def reason_label(reason: str) -> str:
    """A reason as a user reads it; a name this version does not know (a newer run's), made readable."""
    try:
        return Reason(reason).label
    except ValueError:
        return str(reason).replace("_", " ")


@dataclass(frozen=True)
class RolledBack:
    """The run went back from `from_step` to the healthy snapshot at `to_step`."""

    from_step: int
    to_step: int
    reason: str
    lr_g: float
    lr_d: float
    manual: bool = False
    detail: str = ""  # e.g. which class collapsed

    @property
    def label(self) -> str:
        if self.manual:
            return "manual rollback"
        return f"rollback: {reason_label(self.reason)} {self.detail}".strip()


@dataclass(frozen=True)
class GuardGaveUp:
    """Too many rollbacks in a short stretch: the run pauses (studio) or stops (CLI) instead of looping.
    The live state is the last healthy one; the diverged one, when kept, is at `diverged_path`."""

    step: int
    reason: str
    rollbacks: int = 0
    diverged_path: str = ""


@dataclass(frozen=True)
class GuardAdvice:
    """The guard sees a condition it cannot fix by rolling back (the run has had no healthy state to go
    back to), says so and what would help, and lets the run go on. `applied` names the change it made,
    where the user's guard settings allow one ("" otherwise)."""

    step: int
    reason: str
    message: str
    applied: str = ""


@dataclass(frozen=True)
class BestSaved:
    """best.safetensors now holds the generator of `step`, the best quality measured so far."""

    step: int
    accuracy: float
    frechet: float
    path: str


@dataclass(frozen=True)
class Progress:
    """Where the run stands after a step or a command, for status bars."""

    step: int
    epoch: float
    images_per_second: float
    seconds: float  # training time of this invocation
    fraction: float | None  # of the bounded run, None when unbounded
    paused: bool


@dataclass(frozen=True)
class GeneratorCopy:
    """numpy copies of the sampling generator's weights and its file metadata (for the explorer):
    nothing in it is shared with the live model."""

    step: int
    arrays: dict
    meta: dict
    run_dir: str


@dataclass(frozen=True)
class CheckpointSaved:
    step: int
    path: str
    time: float = 0.0  # wall clock (time.time()) when it was written


@dataclass(frozen=True)
class RunFinished:
    step: int
    reason: FinishReason
    summary: dict


@dataclass(frozen=True)
class ControlApplied:
    """A command file from the run's control folder was applied between steps: it takes effect from
    step + 1 (a learning rate changed here shows in metrics.csv from that row on)."""

    step: int
    file: str
    command: str


@dataclass(frozen=True)
class ControlRefused:
    """A command file could not be applied (malformed, unknown, a bad value); the run goes on."""

    step: int
    file: str
    reason: str


@dataclass(frozen=True)
class Forked:
    """The run was forked at `step` into variants trained `horizon` steps each (kept in `folder`); the run
    went on from `promoted` (its label), or stayed at `step` when none was promoted."""

    step: int
    horizon: int
    variants: tuple[str, ...]
    folder: str
    promoted: str | None = None

    def __post_init__(self) -> None:  # read back from a file: a record of other types is not this event
        variants = self.variants
        if not (isinstance(variants, (list, tuple)) and all(isinstance(v, str) for v in variants)
                and all(isinstance(n, int) and not isinstance(n, bool) for n in (self.step, self.horizon))
                and isinstance(self.folder, str) and isinstance(self.promoted, (str, type(None)))):
            raise TypeError(f"not a fork record: {self!r}")
        object.__setattr__(self, "variants", tuple(variants))

    @property
    def label(self) -> str:
        """As the plot's marker says it: "forked into 3, went on with lr_d 0.3x"."""
        outcome = f"went on with {self.promoted}" if self.promoted else "none promoted"
        return f"forked into {len(self.variants)}, {outcome}"


@dataclass(frozen=True)
class VariantTurn:
    """One variant of an open fork after its turn: its new losses, now and then its fixed-noise grid, and
    where it stands (`stopped`: "" while it trains, or why its guard stopped it)."""

    fork_step: int
    index: int
    label: str
    steps: int  # trained since the fork
    horizon: int
    losses: LossChunk | None
    grid: SampleGrid | None
    stopped: str = ""


@dataclass(frozen=True)
class VariantsReady:
    """Every variant of the fork reached the horizon or stopped; the run waits for a ChooseVariant.
    results: a VariantResult each; quality: (accuracy, Fréchet distance) each, None where not measured or
    diverged; best: the label "best" picks (None without live quality); folder: where they are kept."""

    step: int
    horizon: int
    results: tuple
    quality: tuple
    best: str | None
    folder: str
    automatic: bool = False  # the autotuner opened the fork and chooses at once; the run does not wait


@dataclass(frozen=True)
class VariantsRefused:
    """A fork command could not be applied (a bad --vary text, no fork open, a distributed run); the run
    goes on as it was."""

    step: int
    reason: str


# events.jsonl: each line is one of these events as {"event": kind, "time": ..., **its fields}, written
# by RunFiles.log and read back by history.py through `from_record`.
RECORDED = {"hparam": HParamChange, "rollback": RolledBack, "guard_gave_up": GuardGaveUp, "advice": GuardAdvice,
            "checkpoint": CheckpointSaved, "best": BestSaved, "finished": RunFinished,
            "control_applied": ControlApplied, "control_refused": ControlRefused, "forked": Forked}
_KIND = {cls: kind for kind, cls in RECORDED.items()}


def to_record(event) -> dict:
    return {"event": _KIND[type(event)], "time": time.time(), **asdict(event)}


def from_line(line: str):
    """The event one line of events.jsonl holds; None for a line cut short by a crash or an unknown kind."""
    try:
        return from_record(json.loads(line))
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
        return None


def from_record(record: dict):
    """The event a line of events.jsonl holds, or None for a kind this version does not read (or a record
    that is not an object with a kind's name)."""
    kind = record.get("event") if isinstance(record, dict) else None
    cls = RECORDED.get(kind) if isinstance(kind, str) else None
    if cls is None:
        return None
    try:  # each field by the event's own annotations (strict: a step is a whole number, a path a string)
        return msgspec.convert(record, cls, strict=True)
    except (msgspec.ValidationError, RecursionError, ValueError, TypeError):  # another version's, or not ours
        return None
