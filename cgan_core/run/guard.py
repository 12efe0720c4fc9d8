"""The divergence guard: it reads the stats the run already has, keeps healthy snapshots, and decides
between rolling back, advising, and giving up. It owns its detectors (guard_rules.py), the snapshot
ring and the rollback policy; the run carries out what it decides.

Default bounds and why (the soak table in BENCHMARKS.md shows the ranges each preset really reaches):
- non_finite: a NaN or inf loss or gradient norm acts at once; nothing after it can be trusted.
- warmup (200 steps): every other rule waits for it. Faithful recipes start badly (seed 004's own Keras
  code has d1, d2 < 0.01 and g at 5-6 between steps 100 and 180); a running median needs a baseline.
- d_dominance: d1 and d2 both below `d_loss_floor` with mean D(x) above `d_real_ceiling` and mean
  D(G(z)) below `d_fake_floor`, held for `window` steps: D wins and G's gradients vanish (ganhacks:
  "D loss -> 0 is a failure mode"). BCE 0.05 ~ D at 95% confidence on both halves.
- g_explodes: g above `g_ceiling` for `window` steps. BCE 6.0 means D(G(z)) < 0.25%.
- grad_spike: a gradient norm above `spike_factor` x its running median over the last 200 steps, for
  `spike_steps` steps in a row (Lightning's SpikeDetection uses a relative tolerance; PaLM restarts from
  before a spike), and above `spike_floor` (1.0). A single-step jump that recovers at once is a GAN's
  normal noise: the MLP recipe with small batches shows 15-30x one-step spikes while it trains well. The
  floor: when D dominates, G's and D's gradients vanish to 1e-6-1e-4 and jump 10x without meaning
  anything (dcgan-label-channel's 45-minute soak, step 3,680: a "spike" to 0.001).
- class_collapse: a class's within-class diversity of fixed-noise samples (per-pixel standard deviation,
  against the real data's), having held 0.5-1.5x the real value (`diversity_reached`; above 1.5x it is an
  untrained generator's noise) for 3 checks in a row, stays below `collapse_fraction` (0.1) for 2. One
  noisy reading is not a collapse. Faithful recipes draw less varied digits than real ones: learnt
  classes dip to 0.16-0.5 of the real diversity in healthy runs (mlp-label-concat's 1s to 0.16), so the
  usual "half the real value" would fire on them; a collapsed class (one image whatever z) reads 0.0-0.05.
  With live quality on, the same reason fires when a class's conditional accuracy, having held
  `accuracy_reached` for 3 measurements, stays below `accuracy_floor` for 2.

What it does about a finding:
- It rolls back where there is somewhere healthy to go: for a sustained condition, only when the run
  had been free of every condition for `window` steps after the warm-up, or the user changed a setting
  before the condition began. Otherwise the condition is the recipe's own dynamics (seed 004 is
  D-dominated from step ~100 for thousands of steps): rolling back would replay it, so the guard advises
  (an event with what it sees and what would help), applies `remedy` where the user allowed one, and lets
  the run go on. The same holds when the replay after a rollback meets the same sustained condition again
  before any clear stretch and with no settings change by the user since the state it went back to: the
  recipe's own phase (conv-onehot-channels' D wins for 200+ steps near step 1,800 and recovers), which a
  second and third replay would not shorten. A user's change that diverges still rolls back until the
  guard gives up.
- After `max_rollbacks` rollbacks within `rollback_window` steps it gives up: the run is left at the
  last healthy state, paused (studio) or stopped (CLI).
"""
from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import asdict, dataclass, fields
from enum import Enum, StrEnum
from pathlib import Path

import numpy as np

from cgan_core import records
from cgan_core.errors import CheckpointError, ConfigError
from cgan_core.run.events import Reason
from cgan_core.run.guard_rules import SUSTAINED, CollapseMonitor, Finding, HealthMonitor, SnapshotRing
from cgan_core.step.losses import LossKind


class Remedy(StrEnum):
    """What the guard may change when it advises, as the user allowed (a str: config files keep the names)."""

    NONE = "none"
    LOWER_LR_D = "lower_lr_d"
    LABEL_SMOOTHING = "label_smoothing"

    @property
    def label(self) -> str:
        return {Remedy.NONE: "only advise", Remedy.LOWER_LR_D: "halve lr D",
                Remedy.LABEL_SMOOTHING: "label smoothing 0.1"}[self]


class Action(Enum):
    """What the guard decided about a finding."""

    ROLLBACK = "rollback"
    ADVISE = "advise"


REMEDIES = tuple(Remedy)
DIVERSITY_CEILING = 1.5  # x the real diversity: above it, samples are still noise, not a learnt class
__all__ = ["REMEDIES", "Action", "Decision", "DivergenceGuard", "Finding", "GuardConfig", "Reason", "Remedy"]


@dataclass
class GuardConfig:
    enabled: bool = True
    warmup: int = 200  # steps before the rules that need a baseline (all but non_finite) may fire
    window: int = 50  # W: steps a sustained condition must hold
    d_loss_floor: float = 0.05
    d_real_ceiling: float = 0.95
    d_fake_floor: float = 0.05
    g_ceiling: float = 6.0
    spike_factor: float = 10.0
    spike_steps: int = 3  # steps in a row a spike must hold
    spike_floor: float = 1.0  # ... and a spike is a norm above this too (vanishing gradients jump 10x at 1e-4)
    snapshot_every: int = 100  # N: steps between healthy in-memory snapshots
    ring_size: int = 5  # M: snapshots kept
    backoff: float = 0.5  # learning rates are multiplied by this on a rollback; 1.0 disables it
    max_rollbacks: int = 3  # R rollbacks ...
    rollback_window: int = 2000  # ... within this many steps: give up and pause
    diversity_reached: float = 0.5  # of the real within-class diversity: a class that held it was learnt ...
    collapse_fraction: float = 0.1  # ... and below this it has collapsed; 0 turns the check off
    accuracy_reached: float = 0.8  # live quality: a class's accuracy that counts as learnt ...
    accuracy_floor: float = 0.4  # ... and the accuracy below which it counts as lost; 0 turns it off
    remedy: str = "none"  # what the guard may change when it advises: none, lower_lr_d or label_smoothing

    @classmethod
    def for_loss(cls, loss: str, **overrides) -> GuardConfig:
        base = cls(g_ceiling=10.0, d_loss_floor=0.02) if LossKind(loss) is LossKind.HINGE else cls()
        return base.replace(**overrides)

    @classmethod
    def layered(cls, loss: str, preset: dict, saved: dict, user: GuardConfig | dict | None) -> GuardConfig:
        """The loss type's bounds, then the preset's, then those a resumed run had live, then the user's."""
        return user if isinstance(user, GuardConfig) else cls.for_loss(loss, **{**preset, **saved, **(user or {})})

    def replace(self, **overrides) -> GuardConfig:
        known = {f.name for f in fields(self)}
        unknown = sorted(str(name)[:40] for name in set(overrides) - known)
        if unknown:
            raise ConfigError(f"guard: unknown setting(s) {', '.join(unknown)}")
        values = {**asdict(self), **overrides}
        config = GuardConfig(**values)
        config.validate()
        return config

    def validate(self) -> None:
        """Each setting by its schema (records.GuardSettings: types and bounds), then how they combine."""
        records.guard_settings(asdict(self))
        if not self.collapse_fraction < self.diversity_reached:
            raise ConfigError("guard: need collapse_fraction < diversity_reached, got "
                              f"{self.collapse_fraction!r} and {self.diversity_reached!r}")
        if not self.accuracy_floor < self.accuracy_reached:
            raise ConfigError("guard: need accuracy_floor < accuracy_reached, got "
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
        values = records.guard_settings(values, str(path))  # its one line names the file
        try:
            GuardConfig().replace(**values)  # how the settings combine
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        return values


@dataclass(frozen=True)
class Decision:
    """What the guard decided about a finding: roll back, or advise (with the message)."""

    action: Action
    finding: Finding
    message: str = ""


# D dominance and a high G loss are one episode (D rejects every sample, so G's loss climbs): one advice.
ADVICE = ("D wins: it tells real from generated samples with near certainty (d1 and d2 near 0, g high), "
          "so G's gradients fade. This run has had no healthy state to go back to, so rolling back would only "
          "replay it. Some recipes start this way and recover; if the samples do not improve, try a lower lr D, "
          "label smoothing 0.1, or the studio-fast preset.")


class DivergenceGuard:
    def __init__(self, config: GuardConfig, real_diversity: np.ndarray, num_classes: int) -> None:
        self.config = config
        self.monitor = HealthMonitor(config)
        self.ring = SnapshotRing(config.ring_size)
        self.diversity = CollapseMonitor(real_diversity, config.collapse_fraction, config.diversity_reached,
                                         ceiling=DIVERSITY_CEILING)
        self.accuracy = CollapseMonitor(np.ones(num_classes), config.accuracy_floor, config.accuracy_reached)
        self.rollback_steps: list[int] = []  # where each automatic rollback happened
        self.changed_at: int | None = None  # the step of the user's last settings change
        self.replaying: tuple[str, int] | None = None  # (sustained reason, to_step) of the last automatic rollback
        self.recent_r_t: deque = deque(maxlen=config.window)  # the overfitting sign over the last window, for advice

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    def set_bounds(self, **values) -> None:
        """Change settings live; every detector reads the new ones from the next step."""
        self.config = self.config.replace(**values)
        self.monitor.config = self.config
        self.diversity.fraction, self.diversity.reach = self.config.collapse_fraction, self.config.diversity_reached
        self.accuracy.fraction, self.accuracy.reach = self.config.accuracy_floor, self.config.accuracy_reached
        if self.ring.snapshots.maxlen != self.config.ring_size:
            old = SnapshotRing(self.config.ring_size)
            old.snapshots.extend(self.ring.snapshots)
            self.ring = old

    # ---- what the run shows -------------------------------------------------------------------------
    def check_chunk(self, chunk) -> list[Decision]:
        """Decisions on a LossChunk: at most one rollback (the rows after it are moot), or advice, which
        lets the rest of the chunk be read."""
        decisions: list[Decision] = []
        if not self.enabled:
            return decisions
        for step, values in zip(chunk.steps.tolist(), chunk.values.tolist()):
            row = dict(zip(chunk.names, values))
            if math.isfinite(row.get("r_t", math.nan)):
                self.recent_r_t.append(row["r_t"])
            finding = self.monitor.check_row(step, row)
            if finding is not None:
                decisions.append(self._decide(finding))
                if decisions[-1].action is Action.ROLLBACK:
                    break
        return decisions

    def check_diversity(self, step: int, diversity: np.ndarray, class_names) -> Decision | None:
        if not self.enabled or step < self.config.warmup:
            return None
        lost = self.diversity.check(diversity, step)
        if lost is None:
            return None
        return Decision(Action.ROLLBACK, Finding(Reason.CLASS_COLLAPSE, lost[1], f"class {class_names[lost[0]]}"))

    def check_accuracy(self, step: int, per_class, class_names) -> Decision | None:
        if not self.enabled:
            return None
        lost = self.accuracy.check(np.asarray(per_class), step)
        if lost is None:
            return None
        detail = f"class {class_names[lost[0]]} accuracy {per_class[lost[0]]:.0%}"
        return Decision(Action.ROLLBACK, Finding(Reason.CLASS_COLLAPSE, lost[1], detail))

    def settings_changed(self, step: int) -> None:
        """The user changed a hyperparameter: a condition that begins after it may be its doing, and one
        the guard advised about is news again."""
        self.changed_at = step
        self.monitor.acknowledged.clear()

    def healthy_now(self) -> bool:
        """No unacknowledged condition is building up: the state may be kept as healthy."""
        pending = self.monitor.pending() or self.diversity.pending() or self.accuracy.pending()
        return not (self.enabled and pending)

    def _decide(self, finding: Finding) -> Decision:
        if finding.reason in SUSTAINED and (not self._was_healthy_before(finding.since)
                                            or self._meets_it_again(finding.reason)):
            for reason in SUSTAINED:  # one episode, one advice
                self.monitor.acknowledge(reason)
            return Decision(Action.ADVISE, finding, ADVICE + self._overfitting_note())
        return Decision(Action.ROLLBACK, finding)

    def _overfitting_note(self) -> str:
        """What r_t says of it: near 1, D calls nearly every real image real, the sign StyleGAN2-ADA
        reads as D overfitting its training images (more data, augmentation or a lower lr D help)."""
        if not self.recent_r_t:
            return ""
        r_t = float(np.mean(self.recent_r_t))
        reading = "D has learnt its real images apart: it overfits" if r_t > 0.6 else "D is not overfitting yet"
        return f" r_t (the share of real images D calls real, less the rest) is {r_t:.2f}: {reading}."

    def _was_healthy_before(self, step: int) -> bool:
        balanced, changed = self.monitor.balanced_at, self.changed_at
        return (balanced is not None and balanced < step) or (changed is not None and changed < step)

    def _meets_it_again(self, reason: str) -> bool:
        """The replay after a rollback for `reason` ran into it again with no clear stretch in between and no
        change by the user: the condition is the recipe's own dynamics at this point of the run (a
        conv-onehot-channels run's D wins for 200+ steps near step 1,800 and recovers), and rolling back
        once more would replay it a third time."""
        if self.replaying is None or self.replaying[0] != reason:
            return False
        to_step = self.replaying[1]
        return self.monitor.cleared_at is None and (self.changed_at is None or self.changed_at < to_step)

    def remedy(self, hparams: dict) -> dict:
        """The hyperparameter change the user's `remedy` setting allows after an advice ({} for none)."""
        if self.config.remedy == Remedy.LOWER_LR_D:
            return {"lr_d": hparams["lr_d"] * 0.5}
        if self.config.remedy == Remedy.LABEL_SMOOTHING and hparams["label_smoothing"] < 0.1:
            return {"label_smoothing": 0.1}
        return {}

    # ---- snapshots and rollbacks ----------------------------------------------------------------------
    def snapshot_due(self, step: int) -> bool:
        return step % self.config.snapshot_every == 0

    def take_snapshot(self, state: dict) -> None:
        self.ring.add(state)

    def snapshot_at(self, step: int) -> dict:
        """The snapshot taken at `step`; CheckpointError when none is kept."""
        snapshot = self.ring.at(step)
        if snapshot is None:
            raise CheckpointError(f"no snapshot at step {step} (kept: {list(self.ring.steps)})")
        return snapshot

    def target(self, bad_step: int, to_step: int | None = None) -> dict | None:
        """The newest snapshot from before `bad_step`, or the one at or before `to_step` (manual)."""
        return self.ring.newest_before(to_step if to_step is not None else bad_step - 1)

    def rolled_back(self, from_step: int, to_step: int, manual: bool, reason: str = "") -> int:
        """Forget what followed `to_step`. Returns the number of recent rollbacks when this one is one too
        many (give up), else 0."""
        self.ring.drop_after(to_step)
        self.monitor.reset()
        self.replaying = (reason, to_step) if reason in SUSTAINED and not manual else None
        self.diversity.restart_counts()
        self.accuracy.restart_counts()
        if manual:
            return 0
        self.rollback_steps.append(from_step)
        recent = [s for s in self.rollback_steps if from_step - s < self.config.rollback_window]
        if len(recent) >= self.config.max_rollbacks:
            self.rollback_steps = []
            return len(recent)
        return 0

    # ---- kept in checkpoints ----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"balanced_at": -1 if self.monitor.balanced_at is None else self.monitor.balanced_at}

    def load_state_dict(self, state: dict) -> None:
        balanced = int(state.get("balanced_at", -1))
        self.monitor.balanced_at = None if balanced < 0 else balanced
