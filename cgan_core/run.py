"""A training run: a Trainer, its run directory, and the events it yields.

Plain code that the CLI, the tests and the studio's worker thread all drive the same way:
call `step()` (or iterate `events()`), read the events, change hyperparameters between steps.
"""
from __future__ import annotations

import copy
import csv
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from . import checkpoint as ckpt
from . import paths, timelapse
from .config import LIVE_FIELDS, TrainConfig
from .data import ImageDataset
from .errors import CheckpointError
from .events import (CheckpointSaved, GuardGaveUp, HParamChange, LossChunk, RolledBack, RunFinished, SampleGrid,
                     SnapshotTaken)
from .guard import CollapseMonitor, GuardConfig, HealthMonitor, SnapshotRing, within_class_diversity
from .quality import QUALITY_FILE, LiveQuality, QualityReport, QualitySchedule, append_report
from .sampling import make_grid, to_uint8
from .trainer import STAT_NAMES, StepStats, Trainer

METRIC_COLUMNS = ("step", "epoch", "d1", "d2", "g", "lr_g", "lr_d", "d_real", "d_fake", "grad_d", "grad_g", "seconds")
KEEP_CHECKPOINTS = 3
EARLY_GRIDS = (10, 25, 50)  # the first grids come sooner than every sample_every steps: a user is watching
Event = (LossChunk | SampleGrid | HParamChange | CheckpointSaved | SnapshotTaken | RolledBack | GuardGaveUp
         | QualityReport | RunFinished)
STREAM_KEYS = ("batches", "noise_rng", "torch_rng", "cuda_rng", "images_seen")


def new_run_dir(preset: str) -> Path:
    return paths.runs_dir() / f"{datetime.now():%Y%m%d-%H%M%S}-{preset}"


def checkpoint_files(run_dir: Path) -> list[Path]:
    """A run's checkpoints, newest first (temp files are never among them)."""
    files = [p for p in (Path(run_dir) / "checkpoints").glob("step-*.pt") if ckpt.TMP_MARK not in p.name]
    return sorted(files, reverse=True)


def latest_checkpoint(path: Path, warn: Callable[[str], None] = lambda msg: None) -> tuple[Path, dict]:
    """The newest checkpoint of a run directory that loads; a damaged one is reported and skipped."""
    path = Path(path)
    if path.is_file():
        return path, ckpt.load_checkpoint(path)
    if not path.is_dir():
        raise CheckpointError(f"{path}: no such run directory or checkpoint")
    problems = []
    for candidate in checkpoint_files(path):
        try:
            return candidate, ckpt.load_checkpoint(candidate)
        except CheckpointError as exc:
            problems.append(str(exc))
            warn(f"{exc}; trying the previous checkpoint")
    detail = f" ({'; '.join(problems)})" if problems else ""
    raise CheckpointError(f"{path}: no loadable checkpoint in {path / 'checkpoints'}{detail}")


class TrainingRun:
    def __init__(self, config: TrainConfig, out: Path | None = None, dataset: ImageDataset | None = None,
                 resume: Path | None = None, overrides: dict | None = None, grid_per_class: int = 8,
                 warn: Callable[[str], None] = lambda msg: None, guard: GuardConfig | dict | None = None) -> None:
        state = None
        if resume is not None:
            resume_path, state = latest_checkpoint(resume, warn)
            saved = TrainConfig.from_dict(state["config"])
            fixed = {k: v for k, v in (overrides or {}).items() if k not in LIVE_FIELDS}
            config = TrainConfig.from_dict({**saved.to_dict(), **fixed})
            out = out or (resume_path.parent.parent if Path(resume).is_file() else Path(resume))
        self.trainer = Trainer(config, dataset, warn)
        self.config = self.trainer.config
        self.run_dir = Path(out) if out else new_run_dir(self.config.preset)
        (self.run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        ckpt.remove_stale_temps(self.run_dir)
        ckpt.remove_stale_temps(self.run_dir / "checkpoints")
        self.grid_per_class = grid_per_class
        self.seconds = 0.0
        self._pending: list[tuple[StepStats, float]] = []
        self._queued: list[Event] = []
        self._rate = (0.0, 0)  # (seconds, images) at the last chunk, for a recent images/s
        # The guard's bounds: the loss type's, then the preset's, then the caller's (a dict) on top.
        preset_bounds = self.trainer.preset.guard
        self.guard = guard if isinstance(guard, GuardConfig) else GuardConfig.for_loss(
            self.config.loss, **{**preset_bounds, **(guard or {})})
        self.monitor = HealthMonitor(self.guard)
        self.snapshots = SnapshotRing(self.guard.ring_size)
        self.rollback_steps: list[int] = []  # where each automatic rollback happened
        self.collapse = CollapseMonitor(self._real_diversity(), self.guard.collapse_fraction)
        self.quality: LiveQuality | None = None
        self.quality_schedule = QualitySchedule()
        self._quality_seconds = 0.0
        if state is not None:
            self.trainer.load_state_dict(state)
            self.seconds = float(state.get("seconds", 0.0))
            self._rate = (self.seconds, self.trainer.images_seen)
            for name in ("metrics.csv", QUALITY_FILE):  # rows past the checkpoint are trained again
                ckpt.truncate_csv_after(self.run_dir / name, self.trainer.step_count)
            live = {k: v for k, v in (overrides or {}).items() if k in LIVE_FIELDS and v is not None}
            self.set_hparams(**live)
        ckpt.atomic_write_text(self.run_dir / "config.json", json.dumps(self.config.to_dict(), indent=2))
        self._metrics = self._open_metrics()
        self._first_step = self.trainer.step_count

    # ---- files -----------------------------------------------------------------------------
    def _open_metrics(self):
        path = self.run_dir / "metrics.csv"
        new = not path.exists() or path.stat().st_size == 0
        handle = open(path, "a", newline="")
        if new:
            handle.write(",".join(METRIC_COLUMNS) + "\n")
        return handle

    def _log_event(self, kind: str, **fields) -> None:
        with open(self.run_dir / "events.jsonl", "a") as f:
            f.write(json.dumps({"event": kind, "time": time.time(), **fields}) + "\n")

    # ---- stepping ----------------------------------------------------------------------------
    @property
    def step_count(self) -> int:
        return self.trainer.step_count

    def step(self) -> list[Event]:
        """One training step, then whatever events fall due (loss chunk, grid, checkpoint)."""
        return self.step_parts(True, True)

    def step_parts(self, update_d: bool, update_g: bool) -> list[Event]:
        """A step that may update only D or only G (see Trainer.step); its time counts as training."""
        start = time.perf_counter()
        try:
            return self._step_and_events(update_d, update_g)
        finally:
            self.seconds += time.perf_counter() - start

    def _step_and_events(self, update_d: bool, update_g: bool) -> list[Event]:
        stats = self.trainer.step(update_d, update_g)
        self._pending.append((stats, self.trainer.batches.epoch_progress))
        step = self.trainer.step_count
        events: list[Event] = self._queued
        self._queued = []
        if len(self._pending) >= self.config.stats_every:
            chunk = self.flush()
            events.append(chunk)
            if self.guard.enabled and (problem := self.monitor.check(chunk)):
                return events + self.rollback(*problem)
        if self.guard.enabled and step % self.guard.snapshot_every == 0:
            collapsed = self.collapse.check(self.sample_diversity())
            if collapsed is not None:
                name = self.trainer.dataset.class_names[collapsed]
                return events + self.rollback("class_collapse", step, detail=f"class {name}")
            self.snapshots.add(self.trainer.state_dict())  # healthy: the checks above passed
            events.append(SnapshotTaken(step, tuple(self.snapshots.steps)))
        if step % self.config.sample_every == 0 or (step in EARLY_GRIDS and step < self.config.sample_every):
            grid = self.sample_grid()
            timelapse.save_grid_image(self.run_dir, step, grid.image)
            events.append(grid)
        if self.quality is not None and self.quality_schedule.due(step):
            events += self.measure_quality()
        if step % self.config.checkpoint_every == 0:
            events.append(self.save_checkpoint())
        return events

    # ---- live quality ----------------------------------------------------------------------------
    def enable_quality(self, quality: LiveQuality | None, every: int | None = None) -> None:
        """Measure quality every `every` steps (None: auto, see QualitySchedule); None turns it off."""
        self.quality = quality
        self.quality_schedule = QualitySchedule(every)
        self.quality_schedule.next_step = self.step_count + self.quality_schedule.minimum if every is None else (
            (self.step_count // every + 1) * every)
        k = self.trainer.dataset.num_classes
        self.accuracy_watch = CollapseMonitor(np.ones(k), self.guard.accuracy_floor, self.guard.accuracy_reached)

    def measure_quality(self) -> list[Event]:
        """One live measurement of the EMA (or current) generator; written to quality.csv. With the
        guard on, a class whose accuracy was learnt and then lost rolls the run back."""
        trainer, step = self.trainer, self.step_count
        report = self.quality.measure(trainer.generate, self.config.latent_dim, trainer.g.output_range, step)
        append_report(self.run_dir, report, trainer.dataset.class_names)
        trained = max(1, step - self._first_step)
        self.quality_schedule.measured(step, report.seconds, (self.seconds - self._quality_seconds) / trained)
        self._quality_seconds += report.seconds
        events: list[Event] = [report]
        if self.guard.enabled and (lost := self.accuracy_watch.check(np.array(report.per_class))) is not None:
            name = trainer.dataset.class_names[lost]
            detail = f"class {name} accuracy {report.per_class[lost]:.0%}"
            events += self.rollback("class_collapse", step, detail=detail)
        return events

    def flush(self) -> LossChunk | None:
        """Read the pending stats (one host sync for all of them) into a chunk and metrics.csv."""
        if not self._pending:
            return None
        values = torch.stack([s.values for s, _ in self._pending]).cpu().numpy()  # host sync
        steps = np.array([s.step for s, _ in self._pending], dtype=np.int64)
        epochs = [e for _, e in self._pending]
        self._pending = []
        hp, names = self.trainer.hparams, list(STAT_NAMES)
        for i, step in enumerate(steps):
            row = dict(zip(names, values[i].tolist()), step=int(step), epoch=epochs[i],
                       lr_g=hp["lr_g"], lr_d=hp["lr_d"], seconds=self.seconds)
            self._metrics.write(",".join(_fmt(row[c]) for c in METRIC_COLUMNS) + "\n")
        self._metrics.flush()
        seconds, images = self._rate
        elapsed = max(self.seconds - seconds, 1e-9)
        rate = (self.trainer.images_seen - images) / elapsed
        self._rate = (self.seconds, self.trainer.images_seen)
        return LossChunk(steps, values.astype(np.float32), tuple(names), epochs[-1],
                         self.trainer.images_seen, self.seconds, rate)

    def sample_grid(self, per_class: int | None = None, snapshot_step: int | None = None) -> SampleGrid:
        """The fixed-noise grid of the live generator, or of the snapshot taken at `snapshot_step`."""
        per_class = per_class or self.grid_per_class
        z, labels = self.trainer.fixed_grid_batch(per_class)
        if snapshot_step is None:
            step, output = self.trainer.step_count, self.trainer.generate(z, labels)
        else:
            state = next((s for s in self.snapshots.snapshots if s["step"] == snapshot_step), None)
            if state is None:
                raise CheckpointError(f"no snapshot at step {snapshot_step} (kept: {self.snapshots.steps})")
            model = copy.deepcopy(self.trainer.sampler).eval()  # a copy: the live generator is never touched
            model.load_state_dict(state["ema" if self.trainer.ema is not None else "g"])
            with torch.no_grad():
                step, output = snapshot_step, model(z, labels).float()
        images = to_uint8(output, self.trainer.g.output_range).cpu().numpy()
        grid = make_grid(images, per_class)
        side = images.shape[2] + 2
        return SampleGrid(step, grid, tuple(self.trainer.dataset.class_names), per_class, side)

    def set_hparams(self, **changes) -> list[HParamChange]:
        """Apply live hyperparameters between steps; each change is recorded and returned."""
        pending = self.flush()  # rows before the change keep the old learning rates
        if pending is not None:
            self._queued.append(pending)
        changed = self.trainer.set_hparams(**changes)
        events = [HParamChange(self.step_count, k, float(old), float(new)) for k, (old, new) in changed.items()]
        for e in events:
            self._log_event("hparam", step=e.step, name=e.name, old=e.old, new=e.new)
        return events

    def _real_diversity(self, per_class: int = 64) -> np.ndarray:
        data = self.trainer.dataset
        picks = torch.cat([torch.nonzero(data.labels == c).flatten()[:per_class] for c in range(data.num_classes)])
        images = self.trainer.to_model_range(data.images[picks])
        return within_class_diversity(images, data.labels[picks], data.num_classes)

    def sample_diversity(self) -> np.ndarray:
        """Within-class diversity of the fixed-noise samples (16 a class), in the generator's range."""
        z, labels = self.trainer.fixed_grid_batch(len(self.trainer.fixed_z))
        return within_class_diversity(self.trainer.generate(z, labels), labels, self.trainer.dataset.num_classes)

    def rollback(self, reason: str, bad_step: int, to_step: int | None = None, manual: bool = False,
                 detail: str = "") -> list[Event]:
        """Restore the newest healthy snapshot from before `bad_step` (or the one at `to_step`), with its
        hyperparameters times the backoff. The data and noise streams keep going, so the batches that
        led to the trouble are not replayed."""
        self._pending = []
        wanted = to_step if to_step is not None else bad_step - 1
        target = self.snapshots.newest_before(wanted)
        from_step = self.step_count
        if target is None:
            self._log_event("guard_gave_up", step=from_step, reason=f"{reason}: no healthy snapshot")
            return [GuardGaveUp(from_step, f"{reason}: no healthy snapshot to go back to", len(self.rollback_steps))]
        current = self.trainer.state_dict()
        self.trainer.load_state_dict({**target, **{k: current[k] for k in STREAM_KEYS if k in current}})
        backoff = 1.0 if manual else self.guard.backoff
        hp = self.trainer.hparams
        self.trainer.set_hparams(lr_g=hp["lr_g"] * backoff, lr_d=hp["lr_d"] * backoff)
        self.snapshots.drop_after(target["step"])
        timelapse.drop_after(self.run_dir, target["step"])
        self.monitor.reset()
        event = RolledBack(from_step, self.step_count, reason, hp["lr_g"], hp["lr_d"], manual, detail)
        self._log_event("rollback", from_step=from_step, to_step=self.step_count, reason=reason,
                        lr_g=hp["lr_g"], lr_d=hp["lr_d"], manual=manual, detail=detail)
        events: list[Event] = [event]
        if not manual:
            self.rollback_steps.append(from_step)
            recent = [s for s in self.rollback_steps if from_step - s < self.guard.rollback_window]
            if len(recent) >= self.guard.max_rollbacks:
                self.rollback_steps = []
                self._log_event("guard_gave_up", step=self.step_count, reason=reason)
                events.append(GuardGaveUp(self.step_count, reason, len(recent)))
        return events

    def save_checkpoint(self) -> CheckpointSaved:
        state = self.trainer.state_dict()
        state.update(config=self.config.to_dict(), seconds=self.seconds)
        path = self._checkpoint_path()
        ckpt.save_checkpoint(path, state)
        self.save_generator()
        for old in checkpoint_files(self.run_dir)[KEEP_CHECKPOINTS:]:
            old.unlink(missing_ok=True)
        self._log_event("checkpoint", step=self.step_count, path=str(path))
        return CheckpointSaved(self.step_count, str(path))

    def _checkpoint_path(self) -> Path:
        return self.run_dir / "checkpoints" / f"step-{self.step_count:09d}.pt"

    def save_generator(self, path: Path | None = None) -> Path:
        path = Path(path) if path else self.run_dir / "generator.safetensors"
        extra = {"preset": self.config.preset, "dataset": self.config.dataset, "step": self.step_count,
                 "ema": self.trainer.ema is not None}
        ckpt.save_generator(path, self.trainer.sampler, self.trainer.dataset.class_names, extra)
        return path

    # ---- limits and the loop ---------------------------------------------------------------------
    def limit_reached(self) -> str | None:
        c = self.config
        if c.steps is not None and self.step_count >= c.steps:
            return "steps"
        if c.epochs is not None and self.trainer.batches.epoch_progress >= c.epochs:
            return "epochs"
        if c.max_seconds is not None and self.seconds >= c.max_seconds:
            return "seconds"
        return None

    def progress(self) -> float | None:
        """Fraction of the bounded length done, or None when the run is unbounded."""
        c, parts = self.config, []
        if c.steps is not None:
            parts.append(self.step_count / c.steps)
        if c.epochs is not None:
            parts.append(self.trainer.batches.epoch_progress / c.epochs)
        if c.max_seconds is not None:
            parts.append(self.seconds / c.max_seconds)
        return min(1.0, max(parts)) if parts else None

    def events(self, should_stop: Callable[[], bool] = lambda: False) -> Iterator[Event]:
        """Train until a limit is reached or `should_stop()` is true, then finish the run."""
        reason = None
        while reason is None:
            events = self.step()
            yield from events
            gave_up = any(isinstance(e, GuardGaveUp) for e in events)
            reason = "diverged" if gave_up else self.limit_reached() or ("stopped" if should_stop() else None)
        yield from self.finish(reason)

    def finish(self, reason: str) -> list[Event]:
        """Flush, write the final checkpoint and generator, and summarise the run."""
        events: list[Event] = [e for e in [self.flush()] if e is not None]
        if not self._checkpoint_path().is_file():
            events.append(self.save_checkpoint())
        events.append(RunFinished(self.step_count, reason, self.summary()))
        self._log_event("finished", step=self.step_count, reason=reason)
        return events

    def summary(self) -> dict:
        last = _last_metrics(self.run_dir / "metrics.csv")
        return {
            "run_dir": str(self.run_dir),
            "steps": self.step_count,
            "images": self.trainer.images_seen,
            "seconds": round(self.seconds, 3),
            "images_per_second": round(self.trainer.images_seen / max(self.seconds, 1e-9), 1),
            "d1": last.get("d1"), "d2": last.get("d2"), "g": last.get("g"),
        }

    def close(self) -> None:
        self._metrics.close()


def _fmt(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _last_metrics(path: Path) -> dict:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {k: float(v) for k, v in rows[-1].items() if k in STAT_NAMES} if rows else {}
