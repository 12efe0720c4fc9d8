"""Run configuration: what a run trains, for how long, and the hyperparameters that may change live."""
from __future__ import annotations

import dataclasses
import tomllib
import typing
from dataclasses import dataclass, fields
from enum import Enum
from pathlib import Path
from typing import Annotated

import msgspec
from msgspec import Meta

from cgan_core import records
from cgan_core.data import DATASETS, check_size_and_color, dataset_folder
from cgan_core.errors import ConfigError, DataError
from cgan_core.records import MAX_BATCH, MAX_LATENT, Count, DSteps, Fraction, LearningRate, Positive
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


Batch = Annotated[int, Meta(ge=1, le=MAX_BATCH)]
Latent = Annotated[int, Meta(ge=1, le=MAX_LATENT)]
Seed = Annotated[int, Meta(ge=0, le=2**63 - 1)]


@dataclass
class TrainConfig:
    """A run's settings. The annotations are the schema (records.py's bounds): config.json, a TOML file, a
    checkpoint's settings and the CLI's flags are all parsed by them (`from_dict`, `validate`)."""

    preset: records.Text = DEFAULT_PRESET
    dataset: records.Text = "mnist"  # a name in DATASETS, or a folder (IDX files, CIFAR-10 binary, images by class)
    # 28, 32 or 64: resize; None keeps the data's size (32 for image folders)
    image_size: Annotated[int, Meta(ge=8, le=1024)] | None = None
    color: records.Text = "keep"  # keep, grey or rgb
    steps: Count | None = None
    epochs: Positive | None = None
    max_seconds: Positive | None = None
    batch_size: Batch | None = None
    latent_dim: Latent | None = None
    loss: records.Text | None = None
    precision: records.Text | None = None  # auto, fp32 or bf16 (the forwards under autocast); None: the preset's
    augment: records.Text | None = None  # D's augmentation: none or e.g. "color,translation,cutout"; None: the preset's
    lr_g: LearningRate | None = None
    lr_d: LearningRate | None = None
    beta1: Fraction | None = None
    beta2: Fraction | None = None
    d_steps: DSteps | None = None
    label_smoothing: Fraction | None = None
    seed: Seed = 0
    device: records.Text = "auto"
    sample_every: Count = 100
    checkpoint_every: Count = 1000
    # Also a checkpoint every this many minutes of wall time, whatever the preset's speed: a crash or a
    # kill -9 loses minutes, not the 1,000 steps a slow preset takes ~5 minutes for.
    checkpoint_minutes: Positive = 2.0
    stats_every: Count = 10
    best_by: records.Text = BestBy.CLASSIFIER.value  # a BestBy value; fixed for a run (its best is compared by one rule)

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
        # Types and bounds by the annotations (a TOML file or a checkpoint may hold anything); then the names.
        records.convert(dataclasses.asdict(self), TrainConfig, "config", flags=True)
        get_preset(self.preset)
        if self.dataset not in DATASETS:
            try:
                exists = dataset_folder(self.dataset).exists()
            except DataError as exc:
                raise ConfigError(str(exc)) from None
            except OSError:  # a name longer than a file name may be
                exists = False
            if not exists and not any(ch in self.dataset for ch in "/\\.~"):
                raise ConfigError(f"--dataset: unknown dataset {self.dataset!r} (available: {', '.join(DATASETS)}, "
                                  "or a folder)")
            if not exists:
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

    def hparams(self) -> dict:
        return {name: getattr(self, name) for name in LIVE_FIELDS}

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict, source: str = "config", flags: bool = False) -> TrainConfig:
        """Settings from a file (config.json, TOML, a checkpoint), parsed by the annotations' schema; `flags`:
        they are the CLI's, and a refusal names the flag (--lr-d)."""
        if isinstance(values, dict):
            unknown = sorted(str(name)[:40] for name in set(values) - {f.name for f in fields(cls)})
            if unknown:
                raise ConfigError(f"{source}: unknown setting(s) {', '.join(unknown)}")
        return records.convert(values, cls, source, flags)

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


# What a run writes into config.json beside its settings (training_run.py).
WRITTEN_FIELDS = {"world_size": Annotated[int, Meta(ge=1, le=65_536)],
                  "global_batch_size": Annotated[int, Meta(ge=1, le=MAX_BATCH * 65_536)]}


def written_settings(values: object) -> dict:
    """config.json as a viewer reads it (the history, the Runs view, Attach): each setting parsed alone by its
    schema, TrainConfig's annotations and WRITTEN_FIELDS. One that is unknown (a setting an older version
    had) or does not fit is left out and the rest is shown; what is kept is of its type, within its bounds."""
    if not isinstance(values, dict):
        return {}
    schemas = {**typing.get_type_hints(TrainConfig, include_extras=True), **WRITTEN_FIELDS}
    kept = {}
    for name, value in values.items():
        if name in schemas:
            try:
                kept[name] = msgspec.convert(value, schemas[name], strict=True)
            except (msgspec.ValidationError, RecursionError):
                continue
    return kept


def check_hparams(values: dict) -> None:
    """Live hyperparameters checked by their schema (records.HParams); ConfigError names the flag at fault."""
    records.hparams(values, "hyperparameters", flags=True)
