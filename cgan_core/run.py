"""A training run: the orchestrator of a Trainer (the step), RunFiles (the run directory), the
DivergenceGuard (health, snapshots, rollback policy) and live quality. `RunLoop` (loop.py) drives it
with typed commands; the CLI, the tests and the studio's worker all go through that one loop.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from . import commands as cmd
from . import samples, timelapse
from .budget import Budget
from .checkpoint import save_generator
from .config import LIVE_FIELDS, TrainConfig
from .data import ImageDataset
from .device import describe
from .distributed import World, to_cpu
from .errors import CheckpointError, UsageError
from .events import (
    BestSaved,
    CheckpointSaved,
    GuardAdvice,
    GuardGaveUp,
    HParamChange,
    LossChunk,
    Reason,
    RolledBack,
    RunFinished,
    SampleGrid,
    SnapshotTaken,
)
from .guard import Action, Decision, DivergenceGuard, GuardConfig
from .presets import canonical_name
from .quality import LiveQuality, QualityTracker, best_so_far
from .resume import resume_point
from .run_files import (
    CheckpointClock,
    RunFiles,
    checkpoint_files,
    checkpoint_step,
    holds_run,
    latest_checkpoint,
    new_run_dir,
)
from .stats import StatsBuffer
from .trainer import Trainer

__all__ = ["TrainingRun", "checkpoint_files", "latest_checkpoint", "new_run_dir"]
EARLY_GRIDS = (10, 25, 50)  # the first grids come sooner than every sample_every steps: a user is watching
STREAM_KEYS = ("batches", "noise_rng", "torch_rng", "cuda_rng", "images_seen")


class TrainingRun:
    def __init__(self, config: TrainConfig, out: Path | None = None, dataset: ImageDataset | None = None,
                 resume: Path | None = None, overrides: dict | None = None, grid_per_class: int = 8,
                 warn: Callable[[str], None] = lambda msg: None, guard: GuardConfig | dict | None = None,
                 world: World | None = None, report_seconds: float | None = None) -> None:
        """report_seconds: also read the step stats when this much training time has passed since the
        last read, not only every stats_every steps (the studio's plot stays within a second of training
        whatever the preset's speed); None keeps the chunks to whole stats_every steps (CLI, ranks, tests)."""
        overrides, state = overrides or {}, None
        self.report_seconds = report_seconds
        if resume is not None:
            config, out, state = resume_point(resume, out, overrides, world, warn)
        elif out is not None and holds_run(out):
            raise UsageError(f"--out {out}: that folder already holds a run; --resume {out} continues it, "
                             "or choose another folder")
        # The folder's lock first: a second writer is refused before it builds anything or touches a file.
        self.files = RunFiles(Path(out) if out else new_run_dir(canonical_name(config.preset)))
        try:
            self._build(config, dataset, state, overrides, guard, world, warn)
        except BaseException:
            self.files.close()  # a refused or failed start leaves the folder to the next writer
            raise
        self.grid_per_class = grid_per_class

    def _build(self, config: TrainConfig, dataset: ImageDataset | None, state: dict | None, overrides: dict,
               guard: GuardConfig | dict | None, world: World | None, warn: Callable[[str], None]) -> None:
        self.world = world  # rank 0 of a distributed run (FollowerRun is every other rank), or None
        if world is not None:  # the other ranks build the same trainer from rank 0's configuration
            world.share(config.resolved().to_dict())
        self.trainer = Trainer(config, dataset, warn, world)
        self.config = self.trainer.config
        self._share_due = world is not None  # the first turn gives every rank rank 0's whole state
        self.warn = warn
        self.seconds = 0.0  # training time of the whole run, across resumes
        self._queued: list = []  # events caused between steps, sent with the next step's
        saved = state.get("guard_settings", {}) if state is not None else {}  # as they were live, when saved
        bounds = guard if isinstance(guard, GuardConfig) else GuardConfig.for_loss(
            self.config.loss, **{**self.trainer.preset.guard, **saved, **(guard or {})})  # loss, preset, run, user
        self.guard = DivergenceGuard(bounds, samples.real_diversity(self.trainer), self.trainer.dataset.num_classes)
        self.diverged = False  # gave up with no healthy state to restore: nothing more is saved as healthy
        if state is not None:
            self.trainer.load_state_dict(state)
            self.seconds = float(state.get("seconds", 0.0))
            self.guard.load_state_dict(state.get("guard", {}))
        self.budget = Budget(self.config.steps, self.config.epochs, self.config.max_seconds, self.step_count,
                             self.epoch, self.seconds)
        if state is not None and self.budget.reached(self.step_count, self.epoch, self.seconds) == "steps":
            raise UsageError(f"--steps {self.config.steps}: {self.run_dir} is already at step {self.step_count}; "
                             "ask for more steps, or give --max-seconds or --epochs to train on from here")
        if state is not None:  # only now, once the resume is accepted
            self._start_from_checkpoint()
        self.guard.take_snapshot(self.trainer.state_dict())  # always somewhere to go back to: the start
        self.stats = StatsBuffer(self.seconds, self.trainer.images_seen)
        self.quality = QualityTracker(best_so_far(self.files.best))
        self.checkpoints = CheckpointClock(self.step_count, self.config.checkpoint_every,
                                          self.config.checkpoint_minutes)
        if state is not None:  # after the snapshot: a rollback goes back to the run as it was saved
            self.set_hparams(**{k: v for k, v in overrides.items() if k in LIVE_FIELDS and v is not None})
        self.files.write_config({**self.config.to_dict(), "world_size": self.ranks,
                                 "global_batch_size": self.config.batch_size * self.ranks})

    def _start_from_checkpoint(self) -> None:
        """A resume of the newest checkpoint trains the rows past it again, so they go. A resume of an older
        one (checkpoints past it exist) starts a branch: the stretch past it is set aside, its rows stay,
        greyed in the history, and a rollback event records the branch."""
        step = self.step_count
        if not self.files.has_checkpoint_after(step):
            self.files.truncate_after(step)
            return
        newest = self.files.set_aside_after(step)
        self.files.truncate_after(None)  # only rows a crash cut short go
        hp = self.trainer.hparams
        self.files.log(RolledBack(newest, step, Reason.MANUAL, hp["lr_g"], hp["lr_d"], True,
                                  f"resumed from the checkpoint at step {step}"))

    # ---- what the driver may read -----------------------------------------------------------------
    @property
    def run_dir(self) -> Path:
        return self.files.run_dir

    @property
    def step_count(self) -> int:
        return self.trainer.step_count

    @property
    def ranks(self) -> int:
        """The processes training this run: 1, or the world size of a distributed run."""
        return self.world.size if self.world is not None else 1

    @property
    def epoch(self) -> float:
        return self.trainer.batches.epoch_progress

    @property
    def dataset(self) -> ImageDataset:
        return self.trainer.dataset

    @property
    def device_name(self) -> str:
        """The device, and bf16 when the forwards run in it (e.g. "cpu (2 threads), bf16")."""
        return describe(self.trainer.device) + (", bf16" if self.trainer.low_precision else "")

    @property
    def snapshot_steps(self) -> tuple[int, ...]:
        return tuple(self.guard.ring.steps)

    def limit_reached(self) -> str | None:
        return self.budget.reached(self.step_count, self.epoch, self.seconds)

    def progress(self) -> float | None:
        """Fraction of the bounded length done, or None when the run is unbounded."""
        return self.budget.fraction(self.step_count, self.epoch, self.seconds)

    # ---- stepping ----------------------------------------------------------------------------------
    def step(self) -> list:
        """One training step, then whatever events fall due (losses, guard, grid, quality, checkpoint)."""
        return self.step_parts(True, True)

    def step_parts(self, update_d: bool, update_g: bool) -> list:
        """A step that may update only D or only G (see Trainer.step); its time counts as training."""
        start = time.perf_counter()
        try:
            return self._step_and_events(update_d, update_g)
        finally:
            self.seconds += time.perf_counter() - start

    def _step_and_events(self, update_d: bool, update_g: bool) -> list:
        stats = self.trainer.step(update_d, update_g)
        self.stats.add(stats, self.epoch)
        step, events = self.step_count, self._queued
        self._queued = []
        # A checkpoint overdue by the clock does not wait for the chunk to fill: a slow preset's 10 steps
        # take ~3 s, which a kill -9 would otherwise lose on top of the cadence.
        boundary = len(self.stats) >= self.config.stats_every or self._report_due() or (
            self.checkpoints.overdue_by_time() and self.guard.healthy_now())
        if boundary:
            events.append(chunk := self.flush())
            for decision in self.guard.check_chunk(chunk):
                events += self._act(decision)
                if decision.action is Action.ROLLBACK:
                    return events
        if self.guard.enabled and self.guard.snapshot_due(step):
            decision = self.guard.check_diversity(step, self.sample_diversity(), self.dataset.class_names)
            if decision is not None:
                return events + self._act(decision)
            if self.guard.healthy_now():  # every check passed and none is building up
                self.guard.take_snapshot(self.trainer.state_dict())
                events.append(SnapshotTaken(step, self.snapshot_steps))
        if step % self.config.sample_every == 0 or (step in EARLY_GRIDS and step < self.config.sample_every):
            grid = self.sample_grid()
            timelapse.save_grid_image(self.run_dir, step, grid.image)
            events.append(grid)
        if self.quality.due(step):
            events += self.measure_quality()
        if boundary and self.checkpoints.due(step) and self.guard.healthy_now():
            events.append(self.save_checkpoint())
        return events

    def _report_due(self) -> bool:
        return self.report_seconds is not None and self.seconds - self.stats.read_at >= self.report_seconds

    def flush(self) -> LossChunk | None:
        """Read the pending stats (one host sync for all of them) into a chunk and metrics.csv."""
        read = self.stats.read(self.trainer.hparams, self.seconds, self.trainer.images_seen)
        if read is None:
            return None
        self.files.write_metrics(read[1])
        return read[0]

    @property
    def images_per_second(self) -> float:
        return self.stats.images_per_second

    # ---- commands ------------------------------------------------------------------------------------
    def apply(self, command) -> list:
        """Apply a run-level command between steps; returns the events it caused."""
        handlers = {
            cmd.SetHParams: lambda c: self.set_hparams(**c.values),
            cmd.SetGuard: lambda c: self.guard.set_bounds(**c.values),
            cmd.RollBack: lambda c: self.rollback(Reason.MANUAL, c.step + 1, to_step=c.step, manual=True),
            cmd.SetGridInterval: lambda c: setattr(self.config, "sample_every", int(c.every)),
            cmd.SetQuality: lambda c: self.enable_quality(c.live, c.every),
            cmd.PreviewSnapshot: lambda c: [self.sample_grid(snapshot_step=c.step)],
            cmd.CopyGenerator: lambda c: [samples.weights_copy(self.trainer, str(self.run_dir))],
            cmd.SaveGenerator: lambda c: self.save_generator(c.path) and None,
            cmd.ShareState: lambda c: self.world.share(to_cpu(self.trainer.state_dict())) and None,
        }
        if type(command) not in handlers:
            raise TypeError(f"not a run command: {command!r}")
        return handlers[type(command)](command) or []

    def due_commands(self) -> list:
        """Commands every rank must apply before the next step: ShareState after rank 0's state changed."""
        due, self._share_due = ([cmd.ShareState()] if self._share_due else []), False
        return due

    def log(self, event) -> None:
        self.files.log(event)

    def set_hparams(self, **changes) -> list[HParamChange]:
        """The user's live hyperparameters, applied between steps; each change is recorded and returned."""
        events = self._change_hparams(changes)
        if events:
            self.guard.settings_changed(self.step_count)
        return events

    def _change_hparams(self, changes: dict) -> list[HParamChange]:
        pending = self.flush()  # rows before the change keep the old learning rates
        if pending is not None:
            self._queued.append(pending)
        changed = self.trainer.set_hparams(**changes)
        events = [HParamChange(self.step_count, k, float(old), float(new)) for k, (old, new) in changed.items()]
        for event in events:
            self.files.log(event)
        return events

    # ---- the guard's decisions -----------------------------------------------------------------------
    def _act(self, decision: Decision) -> list:
        finding = decision.finding
        if decision.action is Action.ROLLBACK:
            return self.rollback(finding.reason, finding.since, detail=finding.detail)
        changes = self._change_hparams(self.guard.remedy(self.trainer.hparams))
        self._share_due = self._share_due or (bool(changes) and self.world is not None)  # rank 0's guard decided
        advice = GuardAdvice(self.step_count, finding.reason, decision.message, ", ".join(c.label for c in changes))
        self.files.log(advice)
        return [advice, *changes]

    def rollback(self, reason: str, bad_step: int, to_step: int | None = None, manual: bool = False,
                 detail: str = "") -> list:
        """Restore the newest healthy snapshot from before `bad_step` (or the one at `to_step`), falling
        back to the newest healthy checkpoint on disk, with its learning rates times the backoff. The
        data and noise streams keep going, so the batches that led to the trouble are not replayed."""
        self.stats.clear()
        from_step, current = self.step_count, self.trainer.state_dict()
        target = self.guard.target(bad_step, to_step)
        if target is None and manual:
            raise CheckpointError(f"no snapshot at or before step {to_step} (kept: {list(self.snapshot_steps)})")
        if target is None:
            target = self.files.newest_checkpoint_before(bad_step - 1, self.warn)
        if target is None:
            return [self._give_up(reason, current, 0, "nowhere healthy to go back to")]
        self.trainer.load_state_dict({**target, **{k: current[k] for k in STREAM_KEYS if k in current}})
        backoff = 1.0 if manual else self.guard.config.backoff
        hp = self.trainer.hparams
        self.trainer.set_hparams(lr_g=hp["lr_g"] * backoff, lr_d=hp["lr_d"] * backoff)
        self.files.set_aside_after(self.step_count)
        gave_up = self.guard.rolled_back(from_step, self.step_count, manual, reason)
        event = RolledBack(from_step, self.step_count, reason, hp["lr_g"], hp["lr_d"], manual, detail)
        self.files.log(event)
        self.checkpoints.moved_to(self.step_count)
        self._share_due = self.world is not None  # every rank goes back to the same state
        return [event, self._give_up(reason, current, gave_up)] if gave_up else [event]

    def _give_up(self, reason: str, diverged: dict, rollbacks: int, why: str = "") -> GuardGaveUp:
        """Keep the diverged state for inspection (never as a resumable checkpoint) and say so."""
        path = self.files.save_diverged({**diverged, "config": self.config.to_dict(), "seconds": self.seconds},
                                        int(diverged["step"]))
        self.diverged = not rollbacks  # with no rollback, the live state is the diverged one
        event = GuardGaveUp(self.step_count, f"{reason}: {why}" if why else reason, rollbacks, str(path))
        self.files.log(event)
        return event

    # ---- live quality and the best generator -----------------------------------------------------------
    def enable_quality(self, quality: LiveQuality | None, every: int | None = None) -> None:
        """Measure quality every `every` steps (None: auto, see QualitySchedule); None turns it off."""
        self.quality.enable(quality, every, self.step_count)

    def measure_quality(self) -> list:
        """One live measurement of the EMA (or current) generator, into quality.csv; the best so far is
        kept; with the guard on, a class whose accuracy was learnt and then lost rolls the run back."""
        trainer, step = self.trainer, self.step_count
        report = self.quality.measure(trainer.generate, self.config.latent_dim, trainer.g.output_range, step,
                                      self.seconds, step - self.budget.start_step)
        self.files.append_quality(report, self.dataset.class_names)
        events: list = [report]
        if self.quality.take_if_best(report):
            extra = {"accuracy": f"{report.accuracy:.4f}", "frechet": f"{report.frechet:.4f}"}
            self.save_generator(self.files.best, extra)
            events.append(best := BestSaved(report.step, report.accuracy, report.frechet, str(self.files.best)))
            self.files.log(best)
        decision = self.guard.check_accuracy(step, report.per_class, self.dataset.class_names)
        return events + (self._act(decision) if decision is not None else [])

    # ---- what the run shows of its generator ---------------------------------------------------------
    def sample_grid(self, per_class: int | None = None, snapshot_step: int | None = None) -> SampleGrid:
        """The fixed-noise grid of the live generator, or of the snapshot taken at `snapshot_step`."""
        snapshot = None
        if snapshot_step is not None and (snapshot := self.guard.ring.at(snapshot_step)) is None:
            raise CheckpointError(f"no snapshot at step {snapshot_step} (kept: {list(self.snapshot_steps)})")
        return samples.grid(self.trainer, per_class or self.grid_per_class, snapshot)

    def sample_diversity(self) -> np.ndarray:
        return samples.sample_diversity(self.trainer)

    # ---- files and the end -----------------------------------------------------------------------------
    def _checkpoint(self, trainer_state: dict) -> dict:
        """What a checkpoint holds: the trainer's state and what the run needs to go on from it."""
        return {**trainer_state, "config": self.config.to_dict(), "seconds": self.seconds,
                "guard": self.guard.state_dict(), "world_size": self.ranks,
                "guard_settings": json.loads(json.dumps(asdict(self.guard.config)))}  # plain types only

    def save_checkpoint(self) -> CheckpointSaved:
        path = self.files.save_checkpoint(self._checkpoint(self.trainer.state_dict()), self.step_count)
        if self.guard.healthy_now():  # generator.safetensors holds the newest healthy generator only
            self.save_generator()
        self.checkpoints.written(self.step_count)
        event = CheckpointSaved(self.step_count, str(path), time.time())
        self.files.log(event)
        return event

    def save_rescue(self) -> Path | None:
        """After a failure mid-step (another rank died): the live state may be half a step, so the newest
        healthy snapshot becomes a checkpoint when it is newer than the newest on disk. Returns the newest."""
        on_disk = checkpoint_files(self.run_dir)
        newest = checkpoint_step(on_disk[0]) if on_disk else -1
        snapshot = self.guard.ring.newest_before(self.step_count)
        if snapshot is None or int(snapshot["step"]) <= newest:
            return on_disk[0] if on_disk else None
        return self.files.save_checkpoint(self._checkpoint(snapshot), int(snapshot["step"]))

    def save_generator(self, path: Path | None = None, extra: dict | None = None) -> Path:
        path = Path(path) if path else self.files.generator
        info = {"preset": self.config.preset, "dataset": self.config.dataset, "step": self.step_count,
                "ema": self.trainer.ema is not None, **(extra or {})}
        save_generator(path, self.trainer.sampler, self.dataset.class_names, info)
        return path

    def finish(self, reason: str) -> list:
        """Flush, write the final checkpoint and generator (unless the state diverged), and summarise."""
        events: list = [e for e in [self.flush()] if e is not None]
        if not self.diverged and not self.files.has_checkpoint(self.step_count):
            events.append(self.save_checkpoint())
        finished = RunFinished(self.step_count, reason, self.summary())
        self.files.log(finished)
        if self.world is not None:  # the other ranks end once the run directory is complete
            self.world.barrier()
        return events + [finished]

    def summary(self) -> dict:
        return self.files.summary(self.step_count, self.trainer.images_seen, self.seconds)

    def close(self) -> None:
        self.files.close()
