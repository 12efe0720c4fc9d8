"""The boundary: one schema for each record that comes from outside the process, and every bound stated once.

A control file, a line of events.jsonl, config.json, a TOML or guard settings file, a checkpoint's
settings, a generator file's header and the rows of metrics.csv and quality.csv are parsed here, where
they enter, into frozen typed values (msgspec, strict: a string is never taken for a number, nor a float
for a count; a CSV row's numbers are read from their text). Each bound below is also the CLI flag's. A
record that does not fit is refused in one line naming its source and the field, as a ConfigError (a CSV
row is left out: a kill may have cut it); past this module no code checks a value again, and none can
crash on one.
"""
from __future__ import annotations

import math
import re
from enum import StrEnum
from typing import Annotated, Any, Literal, Union

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from cgan_core.errors import ConfigError

# The bounds (the CLI's flags, the studio's fields and every file share them).
MAX_LR = 1.0
MAX_D_STEPS = 100  # one step must stay short: Stop is seen between steps
MAX_BATCH = 65_536
MAX_LATENT = 4_096
MAX_STEP = 10**12
MAX_GRID_INTERVAL = 1_000_000
MAX_VARIANT_STEPS = 1_000_000
MAX_VARY = 6  # one --vary option a live hyperparameter
MAX_TEXT = 1_000  # a label, a reason, a --vary option, a class name
MAX_CLASSES = 10_000
REMEDY_NAMES = ("none", "lower_lr_d", "label_smoothing")

LearningRate = Annotated[float, Meta(gt=0, le=MAX_LR)]
Fraction = Annotated[float, Meta(ge=0, lt=1)]  # beta1, beta2, label smoothing
Share = Annotated[float, Meta(ge=0, le=1)]
DSteps = Annotated[int, Meta(ge=1, le=MAX_D_STEPS)]
StepNumber = Annotated[int, Meta(ge=0, le=MAX_STEP)]
Count = Annotated[int, Meta(ge=1, le=MAX_STEP)]  # steps, intervals: a positive whole number
Positive = Annotated[float, Meta(gt=0, le=1e12)]  # epochs, seconds, minutes: finite and above 0
Text = Annotated[str, Meta(max_length=MAX_TEXT)]


def _whole(least: int, most: int) -> Any:
    return Annotated[int, Meta(ge=least, le=most)]


def _number(least: float, most: float, above: bool = False) -> Any:
    return Annotated[float, Meta(gt=least, le=most)] if above else Annotated[float, Meta(ge=least, le=most)]


class FinishReason(StrEnum):
    """Why a run ended (RunFinished.reason, as events.jsonl writes it): a limit reached, a stop asked for, or
    the guard's giving up (the CLI then exits 1)."""

    STEPS = "steps"
    EPOCHS = "epochs"
    SECONDS = "seconds"
    STOPPED = "stopped"
    DIVERGED = "diverged"


class Record(Struct, frozen=True, forbid_unknown_fields=True):
    """A record with optional fields: `given()` is what it set."""

    def given(self) -> dict:
        return {name: value for name in self.__struct_fields__ if (value := getattr(self, name)) is not UNSET}


class HParams(Record):
    """The live hyperparameters a run, a control file or a variant may set."""

    lr_g: LearningRate | UnsetType = UNSET
    lr_d: LearningRate | UnsetType = UNSET
    beta1: Fraction | UnsetType = UNSET
    beta2: Fraction | UnsetType = UNSET
    d_steps: DSteps | UnsetType = UNSET
    label_smoothing: Fraction | UnsetType = UNSET


class GuardSettings(Record):
    """The divergence guard's settings (GuardConfig holds their meaning and defaults). The snapshot ring
    holds full training states, so its size and spacing are bounded to fit in memory."""

    enabled: bool | UnsetType = UNSET
    warmup: _whole(0, 10_000_000) | UnsetType = UNSET
    window: _whole(1, 100_000) | UnsetType = UNSET
    d_loss_floor: _number(-1e6, 1e6) | UnsetType = UNSET  # a hinge loss may go below 0
    d_real_ceiling: _number(0, 1) | UnsetType = UNSET
    d_fake_floor: _number(0, 1) | UnsetType = UNSET
    g_ceiling: _number(-1e6, 1e6) | UnsetType = UNSET
    spike_factor: _number(0, 1e6, above=True) | UnsetType = UNSET
    spike_steps: _whole(1, 1_000) | UnsetType = UNSET
    spike_floor: _number(0, 1e6) | UnsetType = UNSET
    snapshot_every: _whole(1, 1_000_000) | UnsetType = UNSET
    ring_size: _whole(1, 20) | UnsetType = UNSET
    backoff: _number(0, 1, above=True) | UnsetType = UNSET
    max_rollbacks: _whole(1, 1_000) | UnsetType = UNSET
    rollback_window: _whole(1, 10_000_000) | UnsetType = UNSET
    diversity_reached: _number(0, 1.5) | UnsetType = UNSET
    collapse_fraction: _number(0, 1.5) | UnsetType = UNSET
    accuracy_reached: Share | UnsetType = UNSET
    accuracy_floor: Share | UnsetType = UNSET
    remedy: Literal[REMEDY_NAMES] | UnsetType = UNSET


# A control file: {"command": NAME, ...its fields}. Each kind is one Struct, told apart by "command".
class ControlRecord(Record, tag_field="command"):
    pass


class SetHParamsRecord(ControlRecord, tag="set_hparams"):
    values: HParams = msgspec.field(default_factory=HParams)


class SetGuardRecord(ControlRecord, tag="set_guard"):
    values: GuardSettings = msgspec.field(default_factory=GuardSettings)


class PauseRecord(ControlRecord, tag="pause"):
    pass


class ResumeRecord(ControlRecord, tag="resume"):
    pass


class StopRecord(ControlRecord, tag="stop"):
    reason: FinishReason = FinishReason.STOPPED


class StepRecord(ControlRecord, tag="step"):
    update_d: bool = True
    update_g: bool = True


class RollBackRecord(ControlRecord, tag="rollback"):
    step: StepNumber


class GridIntervalRecord(ControlRecord, tag="grid_interval"):
    every: _whole(1, MAX_GRID_INTERVAL)


class TryVariantsRecord(ControlRecord, tag="try_variants"):
    vary: Annotated[tuple[Text, ...], Meta(min_length=1, max_length=MAX_VARY)]
    steps: _whole(1, MAX_VARIANT_STEPS)


class ChooseVariantRecord(ControlRecord, tag="choose_variant"):
    label: Text = ""


CONTROL_RECORDS = (SetHParamsRecord, SetGuardRecord, PauseRecord, ResumeRecord, StopRecord, StepRecord,
                   RollBackRecord, GridIntervalRecord, TryVariantsRecord, ChooseVariantRecord)
_CONTROL_DECODER = msgspec.json.Decoder(Union[CONTROL_RECORDS])  # noqa: UP007 (a Union of a tuple of types)


class GuardState(Struct, frozen=True):
    """The guard's own history in a checkpoint (the rest of it is rebuilt)."""

    balanced_at: Annotated[int, Meta(ge=-1, le=MAX_STEP)] = -1


class CheckpointHeader(Struct, frozen=True):
    """What a checkpoint says about itself beside its tensors (their shapes are checked as they load):
    parsed when it is loaded, so a resume, a branch or a fork never meets an unchecked setting."""

    schema: Literal[1]
    step: StepNumber = 0
    hparams: HParams = msgspec.field(default_factory=HParams)
    config: dict[Text, Any] = msgspec.field(default_factory=dict)  # TrainConfig.from_dict parses it
    images_seen: Annotated[int, Meta(ge=0, le=2**62)] = 0
    seconds: Annotated[float, Meta(ge=0, le=1e12)] = 0.0
    world_size: _whole(1, 65_536) = 1
    guard: GuardState = msgspec.field(default_factory=GuardState)
    guard_settings: GuardSettings = msgspec.field(default_factory=GuardSettings)


HEADER_KEYS = tuple(CheckpointHeader.__struct_fields__)


class Intent(Record):
    """journal.json: a multi-step change to a run folder, written before its first step and cleared after
    its last, so the next open completes it (or rolls it back) whatever point a kill hit. "branch": the
    stretch past `step` goes to `folder` and `events` are logged. "adopt": the run goes on from a variant;
    its checkpoint at `commit_step` commits it, then `events` are logged."""

    kind: Literal["branch", "adopt"]
    id: Annotated[str, Meta(pattern=r"^[0-9a-f]{16}$")]
    step: StepNumber
    folder: Annotated[str, Meta(pattern=r"^(abandoned/after-step-\d{9}(-\d{1,4})?)?$")] = ""
    commit_step: StepNumber = 0
    events: Annotated[tuple[dict[Text, Any], ...], Meta(max_length=64)] = ()


class TrialAttributes(Struct, frozen=True):
    """What a sweep reads back of a trial from the study's storage (shared with other machines and versions);
    the other attributes are the trial's figures, shown as they are."""

    heartbeat: Annotated[float, Meta(ge=0, le=1e11)] | None = None  # seconds since the epoch
    run_dir: Annotated[str, Meta(min_length=1, max_length=4096)] | None = None


class GeneratorKwargs(Record):
    """What a generator file asks to be built: within these, the largest model is a few hundred MB."""

    image_shape: tuple[Literal[1, 3], _whole(8, 1024), _whole(8, 1024)]
    latent_dim: _whole(1, MAX_LATENT) | UnsetType = UNSET
    num_classes: _whole(1, MAX_CLASSES) | UnsetType = UNSET
    width: _whole(1, 1024) | UnsetType = UNSET
    max_width: _whole(1, 1024) | UnsetType = UNSET


ClassNames = Annotated[tuple[Text, ...], Meta(min_length=1, max_length=MAX_CLASSES)]


# ---- rows of a run's CSV files: each number read from its text (a NaN loss is a value, not an error) ----
class MetricsRow(Struct, frozen=True):
    """A metrics.csv row, by column name; the fields' order is the file's columns. A column a run begun by an
    older version lacks (r_t, aug_p) reads as NaN: unknown, never 0."""

    step: StepNumber
    epoch: float = math.nan
    d1: float = math.nan
    d2: float = math.nan
    g: float = math.nan
    lr_g: float = math.nan
    lr_d: float = math.nan
    d_real: float = math.nan
    d_fake: float = math.nan
    grad_d: float = math.nan
    grad_g: float = math.nan
    seconds: float = math.nan
    r_t: float = math.nan
    aug_p: float = math.nan


QualityFigures = Annotated[list[float], Meta(max_length=8 + 2 * MAX_CLASSES)]  # a quality.csv row past its step


def csv_row(fields: object, schema: Any):
    """A CSV row (a dict by column, or a list) as `schema`, or None for a row that is not one: cut short by
    a kill or a full disk, or hostile (a step past MAX_STEP, a number that is not one)."""
    try:
        return msgspec.convert(fields, schema, strict=False)
    except (msgspec.ValidationError, RecursionError):
        return None


_KINDS = {"int": "a whole number", "float": "a number", "str": "a string", "bool": "true or false",
          "object": "an object", "array": "a list", "null": "null"}
_BOUNDS = {"<=": "at most", "<": "below", ">=": "at least", ">": "above"}


def _plain(what: str) -> str:
    """msgspec's wording in a user's: "Expected `int` <= 4096" -> "must be at most 4096"."""
    bound = re.fullmatch(r"Expected `(\w+)(?: \| null)?` (<=|<|>=|>) (\S+)", what)
    if bound:
        kind, op, limit = bound.groups()
        limit_text = f"{float(limit):g}" if kind == "float" else limit
        if op == ">" and float(limit) == 0:
            return f"must be a positive {'whole number' if kind == 'int' else 'number'}"
        return f"must be {_BOUNDS[op]} {limit_text}"
    typed = re.fullmatch(r"Expected `([\w |]+)`, got `(\w+)`", what)
    if typed:
        wanted = " or ".join(_KINDS.get(k, k) for k in typed.group(1).split(" | ") if k not in ("null", "unset"))
        return f"must be {wanted}, got {_KINDS.get(typed.group(2), typed.group(2))}"
    if what == "Number out of range":
        return "must be a finite number within its bounds"
    return what[:1].lower() + what[1:]


def one_line(exc: msgspec.MsgspecError, source: str, flags: bool = False) -> ConfigError:
    """msgspec's "Expected `int`, got `str` - at `$.values.window`" as "SOURCE: values.window: expected ...".
    `flags`: name a top-level field as the CLI flag that sets it (lr_d -> --lr-d)."""
    what, _, where = str(exc).partition(" - at `")
    field = where.rstrip("`").removeprefix("$").lstrip(".")
    if flags and field and "." not in field and "[" not in field:
        field = "--" + field.replace("_", "-")
    return ConfigError(": ".join(part for part in (source, field, _plain(what)) if part))


def convert(values: object, schema: type, source: str, flags: bool = False):
    """`values` (what json, tomllib or torch.load gave) as `schema`, or one ConfigError naming the field."""
    try:
        return msgspec.convert(values, schema, strict=True)
    except msgspec.ValidationError as exc:
        raise one_line(exc, source, flags) from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply") from None


def decode_json(data: bytes | str, schema: type, source: str):
    """JSON text as `schema`, parsed and checked in one pass."""
    try:
        return msgspec.json.decode(data, type=schema, strict=True)
    except msgspec.ValidationError as exc:
        raise one_line(exc, source) from None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{source}: not JSON ({exc})") from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply") from None


def decode_control(data: bytes) -> ControlRecord:
    """A control file's bytes as one of CONTROL_RECORDS; ConfigError names the field at fault."""
    try:
        return _CONTROL_DECODER.decode(data)
    except msgspec.ValidationError as exc:
        text = str(exc)
        if "Object missing required field `command`" in text or "Invalid value" in text and "$.command" in text:
            names = ", ".join(r.__struct_config__.tag for r in CONTROL_RECORDS)
            raise ConfigError(f"'command' must be one of {names}") from None
        raise one_line(exc, "") from None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"not JSON ({exc})") from None
    except RecursionError:
        raise ConfigError("nested too deeply") from None


def hparams(values: dict, source: str = "hyperparameters", flags: bool = False) -> dict:
    """Live hyperparameters, checked: only those given, each within its bound."""
    return convert(values, HParams, source, flags).given()


def guard_settings(values: dict, source: str = "guard") -> dict:
    return convert(values, GuardSettings, source).given()
