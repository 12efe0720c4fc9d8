"""The divergence guard: health checks on the step stats, a ring of healthy snapshots, and rollback.

Checks run on stats the run already reads every `stats_every` steps, so the guard adds no host sync.
Each reason is a named value shown to the user. Default bounds and why:
- non_finite: a NaN or inf loss or gradient norm acts at once; nothing after it can be trusted.
- d_dominance: d1 and d2 both below `d_loss_floor` with mean D(x) above `d_real_ceiling` and mean
  D(G(z)) below `d_fake_floor`, held for `window` steps: D wins and G's gradients vanish (ganhacks:
  "D loss -> 0 is a failure mode"). BCE 0.05 ~ D at 95% confidence on both halves.
- g_explodes: g above `g_ceiling` for `window` steps. BCE 6.0 means D(G(z)) < 0.25%; seed 004's
  readers call g near 0.8 healthy. Hinge's g is -D(G(z)): 10 is far outside its usual +-2.
- grad_spike: a gradient norm above `spike_factor` x its running median (Lightning's SpikeDetection
  uses a relative tolerance; 10x leaves room for the noisy early steps). ganhacks: norms over 100 are trouble.
- class_collapse: a class's within-class diversity of fixed-noise samples falls below
  `collapse_fraction` of the real within-class diversity, after having reached it (a generator that
  has not learnt a class yet is not collapsing). About half the real value is the usual alarm.
  When live quality is on, the same reason also fires when a class's conditional accuracy, having
  reached `accuracy_reached`, falls below `accuracy_floor` (the domain classifier no longer sees the
  class: the generator draws another class or mush for it). 0.8 then 0.4 is far outside the +-5 points
  that 500 samples jitter by.
"""
from __future__ import annotations

import copy
import json
import math
from collections import deque
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch

from .errors import ConfigError

REASONS = ("non_finite", "d_dominance", "g_explodes", "grad_spike", "class_collapse")


@dataclass
class GuardConfig:
    enabled: bool = True
    window: int = 50  # W: steps a sustained condition must hold
    d_loss_floor: float = 0.05
    d_real_ceiling: float = 0.95
    d_fake_floor: float = 0.05
    g_ceiling: float = 6.0
    spike_factor: float = 10.0
    snapshot_every: int = 100  # N: steps between healthy in-memory snapshots
    ring_size: int = 5  # M: snapshots kept
    backoff: float = 0.5  # learning rates are multiplied by this on a rollback; 1.0 disables it
    max_rollbacks: int = 3  # R rollbacks ...
    rollback_window: int = 2000  # ... within this many steps: give up and pause
    collapse_fraction: float = 0.5  # of the real within-class diversity; 0 turns the check off
    accuracy_reached: float = 0.8  # live quality: a class's accuracy that counts as learnt ...
    accuracy_floor: float = 0.4  # ... and the accuracy below which it counts as lost; 0 turns it off

    @classmethod
    def for_loss(cls, loss: str, **overrides) -> "GuardConfig":
        base = cls(g_ceiling=10.0, d_loss_floor=0.02) if loss == "hinge" else cls()
        return base.replace(**overrides)

    def replace(self, **overrides) -> "GuardConfig":
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigError(f"guard: unknown setting(s) {', '.join(unknown)}")
        values = {**asdict(self), **overrides}
        config = GuardConfig(**values)
        config.validate()
        return config

    def validate(self) -> None:
        for name in ("window", "snapshot_every", "ring_size", "max_rollbacks", "rollback_window"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"guard: {name} must be a positive integer, got {value!r}")
        if not 0 < self.backoff <= 1:
            raise ConfigError(f"guard: backoff must be in (0, 1], got {self.backoff!r}")
        if not 0 <= self.collapse_fraction < 1:
            raise ConfigError(f"guard: collapse_fraction must be in [0, 1), got {self.collapse_fraction!r}")
        if not 0 <= self.accuracy_floor < self.accuracy_reached <= 1:
            raise ConfigError("guard: need 0 <= accuracy_floor < accuracy_reached <= 1, got "
                              f"{self.accuracy_floor!r} and {self.accuracy_reached!r}")

    @staticmethod
    def read_overrides(path: Path) -> dict:
        """Guard settings from a JSON or TOML file, validated (names and ranges) before any training."""
        import tomllib

        path = Path(path)
        try:
            text = path.read_text()
            values = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such file") from None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: not a valid guard configuration ({exc})") from None
        try:
            GuardConfig().replace(**values)
        except (ConfigError, TypeError) as exc:
            raise ConfigError(f"{path}: {exc}") from None
        return values


class HealthMonitor:
    """Reads chunks of step stats and names the first sign of divergence, if any."""

    def __init__(self, config: GuardConfig) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        self._dominance_since: int | None = None
        self._g_high_since: int | None = None
        self._grad_history: deque = deque(maxlen=200)

    def check(self, chunk) -> tuple[str, int] | None:
        """(reason, first bad step) for the first problem in a LossChunk, or None while healthy."""
        c = self.config
        for step, values in zip(chunk.steps.tolist(), chunk.values.tolist()):
            row = dict(zip(chunk.names, values))
            if not all(math.isfinite(v) for v in row.values()):
                return "non_finite", step
            dominant = (row["d1"] < c.d_loss_floor and row["d2"] < c.d_loss_floor
                        and row["d_real"] > c.d_real_ceiling and row["d_fake"] < c.d_fake_floor)
            self._dominance_since = (self._dominance_since or step) if dominant else None
            if self._dominance_since is not None and step - self._dominance_since + 1 >= c.window:
                return "d_dominance", self._dominance_since
            self._g_high_since = (self._g_high_since or step) if row["g"] > c.g_ceiling else None
            if self._g_high_since is not None and step - self._g_high_since + 1 >= c.window:
                return "g_explodes", self._g_high_since
            grad = max(row["grad_d"], row["grad_g"])
            if len(self._grad_history) >= 20 and grad > c.spike_factor * float(np.median(self._grad_history)):
                return "grad_spike", step
            self._grad_history.append(grad)
        return None


def within_class_diversity(images: torch.Tensor, labels: torch.Tensor, num_classes: int) -> np.ndarray:
    """Mean per-pixel standard deviation across the samples of each class, (num_classes,)."""
    return np.array([float(images[labels == c].float().std(0).mean()) if int((labels == c).sum()) > 1 else 0.0
                     for c in range(num_classes)])


class CollapseMonitor:
    """Per-class collapse: a per-class signal (diversity, accuracy) that had reached `reach` x its
    reference and then fell below `fraction` x the reference."""

    def __init__(self, reference: np.ndarray, fraction: float, reach: float | None = None) -> None:
        self.real = np.maximum(reference, 1e-6)
        self.fraction = fraction
        self.reach = fraction if reach is None else reach
        self.reached = np.zeros(len(reference), dtype=bool)

    def check(self, signal: np.ndarray) -> int | None:
        """The first collapsed class, or None."""
        if self.fraction <= 0:
            return None
        ratio = np.asarray(signal) / self.real
        collapsed = np.flatnonzero(self.reached & (ratio < self.fraction))
        self.reached |= ratio >= self.reach
        return int(collapsed[0]) if len(collapsed) else None


class SnapshotRing:
    """The last M healthy trainer states, in memory (tensors cloned, so later steps cannot alter them)."""

    def __init__(self, size: int) -> None:
        self.snapshots: deque = deque(maxlen=size)

    def add(self, state: dict) -> None:
        self.snapshots.append(_clone(state))

    def newest_before(self, step: int) -> dict | None:
        """The newest snapshot taken at or before `step` (before the trouble began)."""
        for state in reversed(self.snapshots):
            if state["step"] <= step:
                return state
        return None

    def drop_after(self, step: int) -> None:
        while self.snapshots and self.snapshots[-1]["step"] > step:
            self.snapshots.pop()

    @property
    def steps(self) -> list[int]:
        return [s["step"] for s in self.snapshots]


def _clone(value):
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_clone(v) for v in value)
    return copy.copy(value)
