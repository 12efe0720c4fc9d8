"""Try a change before making it: fork a run's state into variants that differ only in live hyperparameters,
train them from the same state on the same batches and noise, compare them, and continue from the one chosen.

Each variant is its own Trainer built from a copy of the fork's state (K variants hold K states), with its
own copy of torch's global RNG stream (dropout draws from it), swapped in around each of its turns. So a
variant with no change trains exactly as the run would have without a fork, and each variant is what
training it alone from the fork's state gives. The variants take turns of CHUNK steps, so they stand at
about the same step whenever one is looked at (tests/core/test_fork.py holds all three to bit-identity).
A variant that changes D steps per G step draws real batches at its own pace from the same stream.
"""
from __future__ import annotations

import copy
import itertools
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from cgan_core.data import ImageDataset
from cgan_core.errors import ConfigError, UsageError
from cgan_core.output.quality import distance, objective
from cgan_core.run.events import LossChunk, Reason
from cgan_core.run.grids import real_diversity
from cgan_core.run.guard import Action, DivergenceGuard, GuardConfig
from cgan_core.run.stats import StatsBuffer
from cgan_core.step.config import LIVE_FIELDS, TrainConfig, check_hparams
from cgan_core.step.trainer import STAT_NAMES, Trainer

MAX_VARIANTS = 4  # each holds a full training state: weights, both optimizers' moments and the EMA
MAX_HORIZON = 1_000_000
CHUNK = 25  # steps a variant trains in one turn: short enough to compare them live, long enough to batch the swaps


@dataclass(frozen=True)
class VariantSpec:
    """One variant: the live hyperparameters it changes (absolute values), and a label that says how."""

    label: str
    changes: dict = field(default_factory=dict)


def _value(name: str, text: str, current: dict):
    """'0.5x' scales the run's current value; a plain number sets it."""
    try:
        if text.endswith("x"):
            value = float(text[:-1]) * float(current[name])
        else:
            value = float(text)
    except ValueError:
        raise UsageError(f"--vary {name}={text}: not a number or a multiple such as 0.5x") from None
    if not math.isfinite(value):  # inf and nan parse as floats; neither is a setting
        raise UsageError(f"--vary {name}={text}: not a finite number")
    return max(1, round(value)) if name == "d_steps" else value


def parse_vary(options: list[str], current: dict) -> list[VariantSpec]:
    """`--vary lr_d=0.5x,1x,2x [--vary lr_g=1e-4,2e-4]`: one variant for each combination of the values."""
    axes = []
    for option in options:
        name, sep, values = option.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not values.strip():
            raise UsageError(f"--vary {option}: write NAME=VALUE,VALUE (e.g. lr_d=0.5x,1x,2x)")
        if name not in LIVE_FIELDS:
            raise UsageError(f"--vary {option}: {name} is not a live hyperparameter ({', '.join(LIVE_FIELDS)})")
        if any(name == other for other, _ in axes):
            raise UsageError(f"--vary {option}: {name} is varied twice")
        texts = values.split(",")
        if len(texts) > MAX_VARIANTS:  # before any product of the lists: thousands of values each would hang
            raise UsageError(f"--vary {name}: {len(texts)} values; a fork compares 2 to {MAX_VARIANTS} variants")
        axes.append((name, [(text.strip(), _value(name, text.strip(), current)) for text in texts]))
    count = math.prod(len(values) for _, values in axes)  # one variant a combination: counted before any is built
    if not 2 <= count <= MAX_VARIANTS:
        raise UsageError(f"--vary: {count} variant(s); a fork compares 2 to {MAX_VARIANTS}")
    specs = []
    for combination in itertools.product(*(values for _, values in axes)):
        changes = {name: value for (name, _), (_, value) in zip(axes, combination)}
        try:
            check_hparams(changes)
        except ConfigError as exc:
            raise UsageError(f"--vary {', '.join(options)}: {exc}") from None
        labels = [f"{name} {text}" for (name, _), (text, _) in zip(axes, combination)]
        specs.append(VariantSpec(", ".join(labels), {k: v for k, v in changes.items() if v != current[k]}))
    return specs


def state_bytes(state) -> int:
    """The bytes of the tensors in a (nested) training state: what each variant holds."""
    if isinstance(state, torch.Tensor):
        return state.numel() * state.element_size()
    if isinstance(state, dict):
        return sum(state_bytes(v) for v in state.values())
    if isinstance(state, (list, tuple)):
        return sum(state_bytes(v) for v in state)
    return 0


class _RngStreams:
    """torch's global RNG state (and the device's), kept aside for one variant between its turns."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device if device.type == "cuda" else None
        self.state = self._read()

    def _read(self) -> tuple:
        return torch.get_rng_state(), (torch.cuda.get_rng_state(self.cuda) if self.cuda is not None else None)

    def _write(self, state: tuple) -> None:
        torch.set_rng_state(state[0])
        if self.cuda is not None:
            torch.cuda.set_rng_state(state[1], self.cuda)

    def swap(self) -> None:
        """Put this variant's streams in place and keep the ones that were there (call again to undo)."""
        current = self._read()
        self._write(self.state)
        self.state = current


class Variant:
    """One variant's Trainer, its RNG streams, and its metrics rows since the fork (as metrics.csv has them)."""

    def __init__(self, spec: VariantSpec, config: TrainConfig, dataset: ImageDataset, state: dict,
                 seconds: float = 0.0, guard: GuardConfig | dict | None = None,
                 diversity: np.ndarray | None = None) -> None:
        """diversity: the real data's per-class diversity (the guard's collapse reference), when known."""
        self.spec = spec
        # Building a Trainer seeds torch's global RNG, and loading the fork's state sets it: both are the
        # variant's business, so the caller's streams are put back afterwards.
        with torch.random.fork_rng(devices=list(range(torch.cuda.device_count()))):
            self.trainer = Trainer(config, dataset)
            self.trainer.load_state_dict(copy.deepcopy(state))  # optimizers keep what they are given: a copy
            self.trainer.set_hparams(**spec.changes)
            self.streams = _RngStreams(self.trainer.device)  # the fork's streams, now this variant's
        self.base_seconds, self.seconds = seconds, 0.0  # the run's training time at the fork; this variant's since
        self.buffer = StatsBuffer(seconds, self.trainer.images_seen, every=CHUNK)
        self.rows: list[dict] = []
        self.chunks: list[LossChunk] = []  # each turn's losses: the live view's curves, the run's on promotion
        self.diverged_at: int | None = None
        self.stopped_by: str = ""  # why the variant stopped early, as a user reads it (the guard's reason)
        self.advice: list[str] = []  # the guard's advice (a sustained condition), as a user reads it
        # Its own guard, with the run's bounds and history: a variant the guard would roll back stops there.
        t = self.trainer
        bounds = GuardConfig.layered(t.config.loss, t.preset.guard, state.get("guard_settings", {}), guard)
        self.diversity = real_diversity(t) if diversity is None else diversity
        self.guard = DivergenceGuard(bounds, self.diversity, t.dataset.num_classes)
        self.guard.load_state_dict(state.get("guard", {}))

    @property
    def step(self) -> int:
        return self.trainer.step_count

    def losses(self) -> LossChunk | None:
        """Every step's losses since the fork, as one chunk."""
        if not self.chunks:
            return None
        last = self.chunks[-1]
        return LossChunk(np.concatenate([c.steps for c in self.chunks]), np.concatenate([c.values for c in self.chunks]),
                         last.names, last.epoch, last.images_seen, last.seconds, last.images_per_second)

    def state_dict(self) -> dict:
        """The variant's training state, with its own RNG streams (the trainer records the global ones)."""
        self.streams.swap()
        try:
            return self.trainer.state_dict()
        finally:
            self.streams.swap()

    def restore(self, state: dict, rows: list[dict], chunks: list, seconds: float, guard: dict) -> None:
        """Take back this variant as another process trained it: its state (loading sets the global streams,
        which become its own), its rows, losses, time and guard."""
        with torch.random.fork_rng(devices=[]):
            self.trainer.load_state_dict(state)
            self.streams = _RngStreams(self.trainer.device)
        self.rows, self.chunks, self.seconds = rows, chunks, seconds
        self.guard.load_state_dict(guard)

    def measure(self, quality) -> tuple[float, float, float] | None:
        """(objective, accuracy, distance) of its generator now, by `quality` (a LiveQuality), ranked by the
        run's rule (--best-by: the classifier's Fréchet distance, or the per-class one in independent
        features); None when it diverged."""
        if self.diverged_at is not None:
            return None
        t = self.trainer
        report = quality.measure(t.generate, t.config.latent_dim, t.g.output_range, t.step_count)
        by = t.config.selection
        return objective(report, by), report.accuracy, distance(report, by)

    def advance(self, steps: int) -> None:
        """Train `steps` steps in this variant's own streams; a non-finite loss ends the variant."""
        if self.diverged_at is not None or steps <= 0:
            return
        self.streams.swap()
        start = time.perf_counter()
        try:
            for _ in range(steps):
                self.buffer.add(self.trainer.step(), self.trainer.epoch_progress)
        finally:
            self.seconds += time.perf_counter() - start
            self.streams.swap()
        chunk, rows = self.buffer.read(self.trainer.hparams, self.base_seconds + self.seconds,
                                       self.trainer.images_seen)  # one host sync a turn
        self.rows += rows
        self.chunks.append(chunk)
        finite = np.isfinite(chunk.values).all(axis=1)
        if not finite.all():
            self.diverged_at, self.stopped_by = int(chunk.steps[np.argmin(finite)]), Reason.NON_FINITE.label
            return
        for decision in self.guard.check_chunk(chunk):
            if decision.action is Action.ROLLBACK:
                self.diverged_at, self.stopped_by = decision.finding.since, decision.finding.reason.label
            else:
                self.advice.append(decision.finding.reason.label)


@dataclass(frozen=True)
class VariantResult:
    """What a variant did over the horizon: its mean stats over the horizon's last quarter."""

    label: str
    changes: dict
    steps: int
    means: dict
    diverged_at: int | None  # where the variant's guard found it diverging (it stopped with that turn)
    stopped_by: str
    advice: tuple[str, ...]
    images_per_second: float


class Fork:
    """The variants of one fork, advanced in turns up to `horizon` steps each."""

    def __init__(self, config: TrainConfig, dataset: ImageDataset, state: dict, specs: list[VariantSpec],
                 horizon: int, seconds: float = 0.0, guard: GuardConfig | dict | None = None) -> None:
        if isinstance(horizon, bool) or not isinstance(horizon, int) or not 1 <= horizon <= MAX_HORIZON:
            raise UsageError(f"--steps {horizon!r}: a fork's horizon is 1 to {MAX_HORIZON:,} steps")
        if not 1 <= len(specs) <= MAX_VARIANTS:
            raise UsageError(f"{len(specs)} variants: a fork holds 1 to {MAX_VARIANTS}")
        self.start_step, self.horizon = int(state["step"]), horizon
        first = Variant(specs[0], config, dataset, state, seconds, guard)  # the real side is the same for all
        self.variants = [first] + [Variant(spec, config, dataset, state, seconds, guard, first.diversity)
                                   for spec in specs[1:]]

    @property
    def done(self) -> bool:
        return all(v.diverged_at is not None or v.step >= self.start_step + self.horizon for v in self.variants)

    def advance(self, chunk: int = CHUNK) -> None:
        """One turn: every variant trains up to `chunk` more steps of its horizon."""
        end = self.start_step + self.horizon
        for variant in self.variants:
            variant.advance(min(chunk, end - variant.step))

    def run(self, chunk: int = CHUNK) -> list[VariantResult]:
        while not self.done:
            self.advance(chunk)
        return self.results()

    def results(self) -> list[VariantResult]:
        out = []
        for v in self.variants:
            tail = v.rows[-max(1, len(v.rows) // 4):]
            means = {name: float(np.mean([row[name] for row in tail])) for name in STAT_NAMES} if tail else {}
            rate = v.trainer.config.batch_size * len(v.rows) / max(v.seconds, 1e-9)
            out.append(VariantResult(v.spec.label, dict(v.spec.changes), v.step - self.start_step, means,
                                     v.diverged_at, v.stopped_by, tuple(dict.fromkeys(v.advice)), rate))
        return out

    def best(self, scores: list) -> Variant:
        """The variant with the highest objective (scores as Variant.measure gives them); of equals, the
        first (the autotuner lists the value kept first)."""
        ranked = [(s[0], -i) for i, s in enumerate(scores) if s is not None]
        if not ranked:
            raise UsageError("best: every variant diverged; the run stays at the fork")
        return self.variants[-max(ranked)[1]]

    def chosen(self, label: str) -> Variant:
        for variant in self.variants:
            if variant.spec.label == label:
                return variant
        raise UsageError(f"--promote {label}: no such variant ({'; '.join(v.spec.label for v in self.variants)})")
