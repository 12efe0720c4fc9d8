"""The guard's detectors: health rules on the step stats, per-class collapse, and the snapshot ring.

Each detector only observes and names what it sees; `DivergenceGuard` (guard.py) decides what to do.
"""
from __future__ import annotations

import copy
import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import torch

from cgan_core.run.events import Reason

SUSTAINED = (Reason.D_DOMINANCE, Reason.G_EXPLODES)  # conditions that must hold for `window` steps


@dataclass(frozen=True)
class Finding:
    """A sign of divergence: `reason` began at `since` (the first bad step)."""

    reason: Reason
    since: int
    detail: str = ""


class HealthMonitor:
    """Reads chunks of step stats (rows of the LossChunk) and names the first sign of divergence.

    - non_finite acts at once, always.
    - The rules that need a baseline (the spike against a running median, the sustained conditions)
      wait until the run's step `warmup`: a recipe's first hundreds of steps are its own.
    - A sustained condition the guard has acknowledged (it advised instead of rolling back) is not
      reported again until it has cleared for `window` steps.
    - `balanced_at` is the step at which the run first held `window` steps free of every condition after
      the warm-up: from then on it has had a healthy state to go back to.
    """

    def __init__(self, config) -> None:
        self.config = config
        self.balanced_at: int | None = None
        self.acknowledged: set[str] = set()
        self.reset()

    def reset(self) -> None:
        """Forget the running counters (after a rollback); what the run has shown so far is kept."""
        self._since: dict[str, int | None] = {name: None for name in SUSTAINED}
        self._clear_since: int | None = None
        self.cleared_at: int | None = None  # the last step that completed `window` steps free of every condition
        self._grad_history: deque = deque(maxlen=200)
        self._spike_since: int | None = None

    def pending(self) -> bool:
        """Whether a condition that has not been acknowledged is building up right now."""
        return any(since is not None and name not in self.acknowledged for name, since in self._since.items())

    def acknowledge(self, reason: str) -> None:
        self.acknowledged.add(reason)

    def check_row(self, step: int, row: dict[str, float]) -> Finding | None:
        c = self.config
        if not all(math.isfinite(v) for v in row.values()):
            return Finding(Reason.NON_FINITE, step)
        if step < c.warmup:
            return None
        conditions = {
            Reason.D_DOMINANCE: (row["d1"] < c.d_loss_floor and row["d2"] < c.d_loss_floor
                            and row["d_real"] > c.d_real_ceiling and row["d_fake"] < c.d_fake_floor),
            Reason.G_EXPLODES: row["g"] > c.g_ceiling,
        }
        for name, holds in conditions.items():
            self._since[name] = (self._since[name] or step) if holds else None
        self._track_clear(step, any(conditions.values()))
        for name in SUSTAINED:
            since = self._since[name]
            if since is not None and step - since + 1 >= c.window and name not in self.acknowledged:
                return Finding(name, since)
        grad = max(row["grad_d"], row["grad_g"])
        if len(self._grad_history) >= 20 and grad > max(c.spike_factor * float(np.median(self._grad_history)),
                                                        c.spike_floor):
            # A spike must hold: a GAN's gradient norm jumps 10-40x for a single step and recovers at once.
            self._spike_since = self._spike_since or step
            if step - self._spike_since + 1 >= c.spike_steps:
                return Finding(Reason.GRAD_SPIKE, self._spike_since, f"gradient norm {grad:.3g}")
            return None
        self._spike_since = None
        self._grad_history.append(grad)
        return None

    def _track_clear(self, step: int, any_condition: bool) -> None:
        if any_condition:
            self._clear_since = None
            return
        self._clear_since = self._clear_since or step
        if step - self._clear_since + 1 >= self.config.window:
            self.acknowledged.clear()  # every condition has cleared: the next one is news again
            self.cleared_at = step
            if self.balanced_at is None:
                self.balanced_at = step


class CollapseMonitor:
    """Per-class collapse: a per-class signal (diversity, accuracy) that held between `reach` and
    `ceiling` x its reference for `sustain` readings in a row (the class was learnt, not one noisy
    reading; an untrained generator's noise is far more diverse than real data, so it does not count),
    and then stayed below `fraction` x the reference for `confirm` readings in a row."""

    def __init__(self, reference: np.ndarray, fraction: float, reach: float | None = None, sustain: int = 3,
                 confirm: int = 2, ceiling: float = np.inf) -> None:
        self.real = np.maximum(reference, 1e-6)
        self.fraction = fraction
        self.reach = fraction if reach is None else reach
        self.ceiling = ceiling
        self.sustain, self.confirm = sustain, confirm
        k = len(reference)
        self.reached = np.zeros(k, dtype=bool)
        self._above = np.zeros(k, dtype=np.int64)
        self._below = np.zeros(k, dtype=np.int64)
        self._low_since = np.zeros(k, dtype=np.int64)  # the step of the first low reading in a row

    def check(self, signal: np.ndarray, step: int = 0) -> tuple[int, int] | None:
        """(the first collapsed class, the step its low readings began), or None."""
        if self.fraction <= 0:
            return None
        ratio = np.asarray(signal) / self.real
        low = self.reached & (ratio < self.fraction)
        self._low_since = np.where(low & (self._below == 0), step, self._low_since)
        self._below = np.where(low, self._below + 1, 0)
        self._above = np.where((ratio >= self.reach) & (ratio <= self.ceiling), self._above + 1, 0)
        self.reached |= self._above >= self.sustain
        collapsed = np.flatnonzero(self._below >= self.confirm)
        return (int(collapsed[0]), int(self._low_since[collapsed[0]])) if len(collapsed) else None

    def pending(self) -> bool:
        """A learnt class reads low and is not confirmed yet: not a state to keep as healthy."""
        return bool((self._below > 0).any())

    def restart_counts(self) -> None:
        """After a rollback: readings in a row start again; what was learnt stays learnt."""
        self._above[:] = 0
        self._below[:] = 0


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

    def at(self, step: int) -> dict | None:
        return next((s for s in self.snapshots if s["step"] == step), None)

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
