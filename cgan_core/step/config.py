"""Run configuration: what a run trains, for how long, and the hyperparameters that may change live."""
from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, fields
from enum import Enum
from pathlib import Path

from cgan_core.data import DATASETS, check_size_and_color
from cgan_core.errors import ConfigError, DataError
from cgan_core.step.augment import parse_policy
from cgan_core.step.losses import LOSSES
from cgan_core.step.presets import DEFAULT_PRESET, canonical_name, get_preset

# Hyperparameters that may change between any two steps; the rest are fixed for a run.
LIVE_FIELDS = ("lr_g", "lr_d", "beta1", "beta2", "d_steps", "label_smoothing")
# Fields a preset provides when the user gives none.
PRESET_FIELDS = ("batch_size", "latent_dim", "loss", "precision", "augment") + LIVE_FIELDS
PRECISIONS = ("auto", "fp32", "bf16")  # auto: bf16 where the device computes it natively, else fp32


class BestBy(Enum):
    """What picks the best generator (best.safetensors), a fork's best variant and a sweep's objective.
    CLASSIFIER: conditional accuracy, then the Fréchet distance, both by the dataset's domain classifier.
    INDEPENDENT: the mean per-class Fréchet distance in a seeded random network's features, which no
    training shaped: a generator is then never graded by the network that chose it."""

    CLASSIFIER = "classifier"
    INDEPENDENT = "independent"


@dataclass
class TrainConfig:
    preset: str = DEFAULT_PRESET
    dataset: str = "mnist"  # a name in DATASETS, or a folder (IDX files, CIFAR-10 binary, images by class)
    image_size: int | None = None  # 28, 32 or 64: resize; None keeps the data's size (32 for image folders)
    color: str = "keep"  # keep, grey or rgb
    steps: int | None = None
    epochs: float | None = None
    max_seconds: float | None = None
    batch_size: int | None = None
    latent_dim: int | None = None
    loss: str | None = None
    precision: str | None = None  # auto, fp32 or bf16 (the forwards under autocast); None: the preset's
    augment: str | None = None  # D's differentiable augmentation: none or e.g. "color,translation,cutout"; None: the preset's
    lr_g: float | None = None
    lr_d: float | None = None
    beta1: float | None = None
    beta2: float | None = None
    d_steps: int | None = None
    label_smoothing: float | None = None
    seed: int = 0
    device: str = "auto"
    sample_every: int = 100
    checkpoint_every: int = 1000
    # Also a checkpoint every this many minutes of wall time, whatever the preset's speed: a crash or a
    # kill -9 loses minutes, not the 1,000 steps a slow preset takes ~5 minutes for.
    checkpoint_minutes: float = 2.0
    stats_every: int = 10
    best_by: str = BestBy.CLASSIFIER.value  # a BestBy value; fixed for a run (its best is compared by one rule)

    @property
    def selection(self) -> BestBy:
        return BestBy(self.best_by)

    def resolved(self) -> TrainConfig:
        """A copy with every preset-provided field filled in, validated."""
        preset = get_preset(self.preset)
        filled = {name: getattr(preset, name) if getattr(self, name) is None else getattr(self, name)
                  for name in PRESET_FIELDS}
        config = dataclasses.replace(self, preset=canonical_name(self.preset), **filled)
        config.validate()
        return config

    def validate(self) -> None:
        get_preset(self.preset)
        if self.dataset not in DATASETS and not _looks_like_path(self.dataset):
            raise ConfigError(f"--dataset: unknown dataset {self.dataset!r} (available: {', '.join(DATASETS)}, "
                              "or a folder)")
        if self.dataset not in DATASETS and not Path(self.dataset).expanduser().exists():
            raise ConfigError(f"{self.dataset}: no such folder (--dataset)")
        try:
            check_size_and_color(self.image_size, self.color)  # the one check, shared with the data package
        except DataError as exc:
            flag = "--color" if str(exc).startswith("colour") else "--image-size"
            raise ConfigError(f"{flag}: {exc}") from None
        if self.device not in ("auto", "cpu", "cuda", "mps") and not self.device.startswith("cuda:"):
            raise ConfigError(f"--device: {self.device!r} is not one of auto, cpu, cuda, mps")
        if self.precision is not None and self.precision not in PRECISIONS:
            raise ConfigError(f"--precision: {self.precision!r} is not one of {', '.join(PRECISIONS)}")
        if self.best_by not in {b.value for b in BestBy}:
            raise ConfigError(f"--best-by: {self.best_by!r} is not one of {', '.join(b.value for b in BestBy)}")
        if self.augment is not None:
            try:
                parse_policy(self.augment)
            except ValueError as exc:
                raise ConfigError(f"--augment: {exc}") from None
        if self.loss is not None and self.loss not in LOSSES:
            raise ConfigError(f"loss: {self.loss!r} is not one of {', '.join(LOSSES)}")
        _check_positive("steps", self.steps, allow_none=True)
        _check_positive("epochs", self.epochs, allow_none=True)
        _check_positive("max-seconds", self.max_seconds, allow_none=True)
        _check_positive("checkpoint-minutes", self.checkpoint_minutes)
        for name in ("batch_size", "latent_dim", "d_steps", "sample_every", "checkpoint_every", "stats_every"):
            _check_positive(name.replace("_", "-"), getattr(self, name), allow_none=True, integer=True)
        for name, most in SIZE_BOUNDS.items():  # a checkpoint's config too: nothing huge is built from a file
            if getattr(self, name) is not None:
                _check_at_most(name.replace("_", "-"), getattr(self, name), most)
        check_hparams({name: getattr(self, name) for name in LIVE_FIELDS if getattr(self, name) is not None})

    def hparams(self) -> dict:
        return {name: getattr(self, name) for name in LIVE_FIELDS}

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict, source: str = "config") -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown setting(s) {', '.join(unknown)}")
        return cls(**values)

    @classmethod
    def read_toml(cls, path: Path) -> dict:
        """The settings a TOML file names (only those: whether it names a preset matters), checked."""
        try:
            values = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such file") from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: not a valid TOML file ({exc})") from None
        cls.from_dict(values, str(path))  # an unknown setting is refused, naming the file
        return values


def _looks_like_path(name: str) -> bool:
    return Path(name).expanduser().exists() or any(ch in name for ch in "/\\.~")


def _check_positive(name: str, value, allow_none: bool = False, integer: bool = False) -> None:
    if value is None and allow_none:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    if integer:
        ok = ok and float(value).is_integer()
    if not ok:
        raise ConfigError(f"--{name}: must be a positive {'integer' if integer else 'number'}, got {value!r}")


MAX_LR = 1.0
MAX_D_STEPS = 100
SIZE_BOUNDS = {"batch_size": 65_536, "latent_dim": 4_096}


def _check_at_most(name: str, value, most: float) -> None:
    if value > most:
        raise ConfigError(f"--{name}: must be at most {most:g}, got {value!r}")


def check_hparams(values: dict) -> None:
    """Validate live hyperparameters; raises ConfigError naming the first bad one."""
    for name, value in values.items():
        if name not in LIVE_FIELDS:
            raise ConfigError(f"{name}: not a hyperparameter that can change during a run")
        if name in ("lr_g", "lr_d"):
            _check_positive(name.replace("_", "-"), value)
            _check_at_most(name.replace("_", "-"), value, MAX_LR)
        elif name == "d_steps":
            _check_positive("d-steps", value, integer=True)
            _check_at_most("d-steps", value, MAX_D_STEPS)  # one step must stay short: Stop is seen between steps
        elif name in ("beta1", "beta2", "label_smoothing"):
            if not (isinstance(value, (int, float)) and 0.0 <= value < 1.0):
                raise ConfigError(f"--{name.replace('_', '-')}: must be in [0, 1), got {value!r}")
