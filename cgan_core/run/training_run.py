"""A training run: the orchestrator of a Trainer (the step), RunFiles (the run directory), the
DivergenceGuard (health, snapshots, rollback policy) and live quality. `RunLoop` (loop.py) drives it
with typed commands; the CLI, the tests and the studio's worker all go through that one loop.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from cgan_core.data import ImageDataset
from cgan_core.errors import UsageError
from cgan_core.output.quality import LiveQuality, QualityTracker, best_so_far
from cgan_core.records import FinishReason
from cgan_core.run import commands as cmd
from cgan_core.run import grids as samples
from cgan_core.run import timelapse
from cgan_core.run.budget import Budget
from cgan_core.run.events import (
    CheckpointSaved,
    GuardAdvice,
    HParamChange,
    LossChunk,
    Reason,
    RolledBack,
    RunFinished,
    SampleGrid,
    SnapshotTaken,
)
from cgan_core.run.folder_writer import RunFiles, checkpoint_files, holds_run, latest_checkpoint, new_run_dir
from cgan_core.run.fork import state_bytes
from cgan_core.run.guard import Action, Decision, DivergenceGuard, GuardConfig
from cgan_core.run.recovery import Recovery
from cgan_core.run.resume import accept_resume, load_networks, resume_point
from cgan_core.run.saving import RunSaves
from cgan_core.run.stats import StatsBuffer
from cgan_core.step.config import LIVE_FIELDS, TrainConfig
from cgan_core.step.device import describe
from cgan_core.step.distributed import World, to_cpu
from cgan_core.step.footprint import fitting_footprint
from cgan_core.step.presets import canonical_name
from cgan_core.step.trainer import Trainer

__all__ = ["TrainingRun", "checkpoint_files", "latest_checkpoint", "new_run_dir"]
EARLY_GRIDS = (10, 25, 50)  # the first grids come sooner than every sample_every steps: a user is watching


class TrainingRun:
    def __init__(self, config: TrainConfig, out: Path | None = None, dataset: ImageDataset | None = None,
                 resume: Path | None = None, overrides: dict | None = None, grid_per_class: int = 8,
                 warn: Callable[[str], None] = lambda msg: None, guard: GuardConfig | dict | None = None,
                 world: World | None = None, report_seconds: float | None = None, tensorboard: bool = False) -> None:
        """report_seconds: read the step stats at least this often (StatsBuffer); None: every stats_every steps.
        tensorboard: the run's writer also writes TensorBoard files (RUN/tensorboard)."""
        overrides, state = overrides or {}, None
        self.report_seconds = report_seconds
        if resume is not None:
            config, out, state = resume_point(resume, out, overrides, world, warn)
        elif out is not None and holds_run(out):
            raise UsageError(f"--out {out}: that folder already holds a run; --resume {out} continues it, "
                             "or choose another folder")
        # The folder's lock first: a second writer is refused before it builds anything or touches a file.
        self.files = RunFiles(Path(out) if out else new_run_dir(canonical_name(config.preset)))
        self.run_dir = self.files.run_dir
        for message in self.files.warnings:
            warn(message)
        try:
            if resume is not None and self.files.replayed:  # a change a kill cut short, completed: pick again
                config, _, state = resume_point(resume, out, overrides, world, warn)
            self._build(config, dataset, state, overrides, guard, world, warn)
            if tensorboard:  # its settings as config.json holds them
                self.files.open_tensorboard({**self.config.to_dict(), "world_size": self.ranks})
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
        self.config, self.dataset = self.trainer.config, self.trainer.dataset
        self.ranks = world.size if world is not None else 1  # the processes training this run
        # The device, and bf16 when the forwards run in it (e.g. "cpu (2 threads), bf16").
        self.device_name = describe(self.trainer.device) + (", bf16" if self.trainer.low_precision else "")
        self.footprint = fitting_footprint(self.config, self.dataset.image_shape, self.dataset.num_classes,
                                           self.trainer.device)  # or refused in one line
        self._share_due = world is not None  # the first turn gives every rank rank 0's whole state
        self.warn = warn
        self.seconds = 0.0  # training time of the whole run, across resumes
        self._queued: list = []  # events caused between steps, sent with the next step's
        saved = state.get("guard_settings", {}) if state is not None else {}  # as they were live, when saved
        bounds = GuardConfig.layered(self.config.loss, self.trainer.preset.guard, saved, guard)
        self.guard = DivergenceGuard(bounds, samples.real_diversity(self.trainer), self.trainer.dataset.num_classes)
        if state is not None:
            load_networks(self.trainer, state, self.run_dir)
            self.seconds = float(state.get("seconds", 0.0))
            self.guard.load_state_dict(state.get("guard", {}))
        self.budget = Budget(self.config.steps, self.config.epochs, self.config.max_seconds, self.step_count,
                             self.epoch, self.seconds)
        if state is not None:
            accept_resume(self.budget, self.files, self.trainer, self.seconds, self.config.steps)
        self.guard.take_snapshot(self.trainer.state_dict())  # always somewhere to go back to: the start
        self.stats = StatsBuffer(self.seconds, self.trainer.images_seen, self.config.stats_every,
                                 self.report_seconds)
        self.quality = QualityTracker(best_so_far(self.files.best, self.config.selection), self.config.selection)
        self.saves = RunSaves(self.files, self.trainer, self.guard, self.ranks)
        self.recovery = Recovery(self.trainer, self.guard, self.files, self.saves, warn)
        if state is not None:  # after the snapshot: a rollback goes back to the run as it was saved
            self.set_hparams(**{k: v for k, v in overrides.items() if k in LIVE_FIELDS and v is not None})
        self.files.write_config({**self.config.to_dict(), "world_size": self.ranks,
                                 "global_batch_size": self.config.batch_size * self.ranks})

    # ---- what the driver may read -----------------------------------------------------------------
    @property
    def step_count(self) -> int:
        return self.trainer.step_count

    @property
    def epoch(self) -> float:
        return self.trainer.epoch_progress

    @property
    def snapshot_steps(self) -> tuple[int, ...]:
        return tuple(self.guard.ring.steps)

    def state_bytes(self) -> int:
        """The bytes of one full training state (weights, optimizers, EMA): what each variant of a fork holds."""
        return state_bytes(self.trainer.state_dict())

    def limit_reached(self) -> str | None:
        return self.budget.reached(self.step_count, self.epoch, self.seconds)

    def progress(self) -> float | None:
        """Fraction of the bounded length done, or None when the run is unbounded."""
        return self.budget.fraction(self.step_count, self.epoch, self.seconds)

    # ---- stepping ----------------------------------------------------------------------------------
    def step(self, part: cmd.StepPart = cmd.StepPart.BOTH) -> list:
        """One training step (of both networks, or of one: "Step D only"), then whatever events fall due
        (losses, guard, grid, quality, checkpoint). Its time counts as training."""
        start = time.perf_counter()
        try:
            return self._step_and_events(part)
        finally:
            self.seconds += time.perf_counter() - start

    def _step_and_events(self, part: cmd.StepPart) -> list:
        stats = part.run_on(self.trainer)
        self.stats.add(stats, self.epoch)
        step, events = self.step_count, self._queued
        self._queued = []
        # A checkpoint overdue by the clock does not wait for the chunk to fill: a slow preset's 10 steps
        # take ~3 s, which a kill -9 would otherwise lose on top of the cadence.
        boundary = self.stats.due(self.seconds) or (
            self.saves.clock.overdue_by_time() and self.guard.healthy_now())
        if boundary:
            events.append(chunk := self.flush())
            for decision in self.guard.check_chunk(chunk):
                events += self._act(decision)
                if decision.action is Action.ROLLBACK:
                    return events
        if self.guard.enabled and self.guard.snapshot_due(step):
            decision = self.guard.check_diversity(step, samples.sample_diversity(self.trainer), self.dataset.class_names)
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
        if boundary and self.saves.clock.due(step) and self.guard.healthy_now():
            events.append(self.save_checkpoint())
        return events

    def flush(self) -> LossChunk | None:
        """Read the pending stats (one host sync for all of them) into a chunk and metrics.csv."""
        read = self.stats.read(self.trainer.hparams, self.seconds, self.trainer.images_seen)
        if read is None:
            return None
        self.files.write_metrics(read[1])
        return read[0]

    @property
    def images_per_second(self) -> float:  # over the last chunk of steps (DrivenRun)
        return self.stats.images_per_second

    # ---- commands ------------------------------------------------------------------------------------
    def apply(self, command) -> list:
        """Apply a run-level command between steps; returns the events it caused."""
        match command:
            case cmd.SetHParams():
                return self.set_hparams(**command.values) or []
            case cmd.SetGuard():
                return self.guard.set_bounds(**command.values) or []
            case cmd.RollBack():
                return self.rollback(Reason.MANUAL, command.step + 1, to_step=command.step, manual=True)
            case cmd.SetGridInterval():
                self.config.sample_every = int(command.every)
                return []
            case cmd.SetQuality():
                return self.enable_quality(command.live, command.every) or []
            case cmd.PreviewSnapshot():
                return [self.sample_grid(snapshot_step=command.step)]
            case cmd.CopyGenerator():
                return [samples.weights_copy(self.trainer, str(self.run_dir))]
            case cmd.SaveGenerator():
                self.save_generator(command.path)
                return []
            case cmd.ShareState():
                self.world.share(to_cpu(self.trainer.state_dict()))
                return []
        raise TypeError(f"not a run command: {command!r}")

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
        """Back to the newest healthy state before `bad_step`, or the snapshot at `to_step` (Recovery)."""
        self.stats.clear()
        events = self.recovery.rollback(reason, bad_step, self.seconds, to_step, manual, detail)
        if any(isinstance(e, RolledBack) for e in events):
            self._share_due = self.world is not None  # every rank goes back to the same state
        return events

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
            events.append(self.saves.best(report))
        decision = self.guard.check_accuracy(step, report.per_class, self.dataset.class_names)
        return events + (self._act(decision) if decision is not None else [])

    # ---- what the run shows of its generator ---------------------------------------------------------
    def sample_grid(self, per_class: int | None = None, snapshot_step: int | None = None) -> SampleGrid:
        """The fixed-noise grid of the live generator, or of the snapshot taken at `snapshot_step`."""
        snapshot = None if snapshot_step is None else self.guard.snapshot_at(snapshot_step)
        return samples.grid(self.trainer, per_class or self.grid_per_class, snapshot)

    # ---- files and the end -----------------------------------------------------------------------------
    def save_checkpoint(self) -> CheckpointSaved:
        return self.saves.checkpoint(self.seconds)

    def save_generator(self, path: Path | None = None) -> Path:
        return self.saves.generator(path)

    def finish(self, reason: FinishReason) -> list:
        """Flush, write the final checkpoint and generator (unless the state diverged), and summarise."""
        events: list = [e for e in [self.flush()] if e is not None]
        if not self.recovery.diverged and not self.files.has_checkpoint(self.step_count):
            events.append(self.save_checkpoint())
        finished = RunFinished(self.step_count, reason, self.summary())
        self.files.log(finished)
        if self.world is not None:  # the other ranks end once the run directory is complete
            self.world.barrier()
        return events + [finished]

    def summary(self) -> dict:
        return self.files.summary(self.step_count, self.trainer.images_seen, self.seconds)

    def observe(self, event) -> None:  # DrivenRun: every event the loop yields
        self.files.observe(event)

    def close(self) -> None:
        self.files.close()
