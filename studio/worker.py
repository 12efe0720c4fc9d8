"""The training worker: a QObject moved to a QThread that drives a cgan_core TrainingRun.

Commands arrive through a queue.Queue that the loop drains between steps: a busy loop never runs
queued slots. Events leave as frozen dataclasses of floats and numpy copies, throttled here, where
they are produced: losses about 10 Hz, grids at most 2 Hz (only the newest is kept).
"""
from __future__ import annotations

import queue
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from cgan_core.config import LIVE_FIELDS, TrainConfig
from cgan_core.errors import CganError
from cgan_core.events import (GuardGaveUp, HParamChange, LossChunk, RolledBack, RunFinished,
                              SampleGrid, SnapshotTaken)
from cgan_core.quality import QualityReport

LOSS_INTERVAL = 0.1
GRID_INTERVAL = 0.5


@dataclass(frozen=True)
class Progress:
    step: int
    epoch: float
    images_per_second: float
    seconds: float
    fraction: float | None  # of the bounded run, None when unbounded
    paused: bool


@dataclass
class _Outbox:
    """Events waiting for their throttle window."""

    chunks: list = field(default_factory=list)
    grid: SampleGrid | None = None
    last_loss: float = 0.0
    last_grid: float = 0.0


def merge_chunks(chunks: list[LossChunk]) -> LossChunk:
    last = chunks[-1]
    return LossChunk(np.concatenate([c.steps for c in chunks]), np.concatenate([c.values for c in chunks]),
                     last.names, last.epoch, last.images_seen, last.seconds, last.images_per_second)


class TrainWorker(QObject):
    started = Signal(object)  # dict: run_dir, device
    losses = Signal(object)  # LossChunk
    grid = Signal(object)  # SampleGrid
    hparamChanged = Signal(object)  # HParamChange
    rolledBack = Signal(object)  # RolledBack
    snapshots = Signal(object)  # tuple of the steps of the healthy snapshots kept
    guardGaveUp = Signal(object)  # GuardGaveUp: the worker has paused itself
    quality = Signal(object)  # QualityReport
    qualityStatus = Signal(str)  # what live quality is doing, for the quality panel
    generatorSnapshot = Signal(object)  # dict: numpy copies of the sampler's weights, metadata, run_dir, step
    progress = Signal(object)  # Progress
    busy = Signal(str)  # "" when idle
    failed = Signal(str)
    finished = Signal(object)  # RunFinished or None

    def __init__(self, config: TrainConfig, out: Path | None = None, resume: Path | None = None,
                 start_paused: bool = False, guard: dict | None = None,
                 quality: tuple[bool | None, int | None] = (False, None)) -> None:
        """quality: (enabled, every); enabled None means "on when the domain classifier is cached"."""
        super().__init__()
        self.config, self.out, self.resume, self.guard = config, out, resume, guard
        self.quality_settings = quality
        self._preparer = None
        self._live = None  # the prepared LiveQuality, kept when quality is switched off
        self.commands: queue.Queue = queue.Queue()
        self.paused = start_paused
        self.run = None
        self._steps_requested: list[tuple[bool, bool]] = []
        self._outbox = _Outbox()
        self._stop = False

    # ---- called from the GUI thread: only queue.put, never touching the run ----------------
    def send(self, command: str, *args) -> None:
        self.commands.put((command, args))

    def request_stop(self) -> None:
        self.send("stop")

    # ---- the loop (worker thread) ----------------------------------------------------------
    @Slot()
    def run_loop(self) -> None:
        result = None
        try:
            self.busy.emit("Loading data and building the models…")
            from cgan_core.device import describe
            from cgan_core.run import TrainingRun

            # Continuing a run keeps its architecture; the panel's length and live values apply.
            self._fetch_dataset()
            overrides = {k: getattr(self.config, k) for k in ("steps", "epochs", "max_seconds", "sample_every",
                                                               *LIVE_FIELDS)}
            self.run = TrainingRun(self.config, out=self.out, resume=self.resume, overrides=overrides,
                                   guard=self.guard)
            self.started.emit({"run_dir": str(self.run.run_dir), "device": describe(self.run.trainer.device)})
            self.busy.emit("")
            self._emit_grid_now(self.run.sample_grid())
            self._start_quality(*self.quality_settings)
            result = self._loop()
        except CganError as exc:  # a bad file or value: the message names it
            self.failed.emit(str(exc))
        except Exception as exc:  # every error reaches the window as a signal, never vanishes
            traceback.print_exc()
            self.failed.emit(f"{type(exc).__name__}: {exc}")
        finally:
            self._stop = True  # also aborts a classifier being trained for live quality
            if self._preparer is not None:
                self._preparer.join()
            if self.run is not None:
                self.run.close()
            self.busy.emit("")
            self.finished.emit(result)

    def _fetch_dataset(self) -> None:
        """A named download dataset is fetched before the run, its progress in the busy message."""
        from cgan_core.download import SOURCES, fetch, is_fetched

        name = self.config.dataset
        if name in SOURCES and not is_fetched(SOURCES[name]):
            shown = {"at": None}

            def progress(file: str, fraction: float) -> None:
                if (file, int(fraction * 50)) != shown["at"]:
                    shown["at"] = (file, int(fraction * 50))
                    self.busy.emit(f"Downloading {name}: {file} {fraction:.0%}")
            fetch(SOURCES[name], progress)

    def _loop(self) -> RunFinished | None:
        run = self.run
        while True:
            self._drain(block=self.paused and not self._steps_requested)
            if self._stop:
                reason = "stopped"
                break
            if self.paused and not self._steps_requested:
                continue
            if (reason := run.limit_reached()) is not None:
                break
            if self._steps_requested:
                update_d, update_g = self._steps_requested.pop(0)
                # A single step is looked at closely: show its losses and a fresh grid at once.
                self._handle(run.step_parts(update_d, update_g) + [run.flush(), run.sample_grid()])
                self._send_due(force=True)
                continue
            else:
                self._handle(run.step())
            self._send_due()
        self.busy.emit("Saving the final checkpoint…")
        events = run.finish(reason)
        self._handle(events)
        self._send_due(force=True)
        return next(e for e in events if isinstance(e, RunFinished))

    def _drain(self, block: bool) -> None:
        try:
            command, args = self.commands.get(timeout=0.05) if block else self.commands.get_nowait()
        except queue.Empty:
            return
        while True:
            self._apply(command, args)
            try:
                command, args = self.commands.get_nowait()
            except queue.Empty:
                return

    def _apply(self, command: str, args: tuple) -> None:
        run = self.run
        if command == "stop":
            self._stop = True
        elif command == "pause":
            self.paused = bool(args[0])
            self._handle([run.flush()])
            self._send_due(force=True)
        elif command == "step":
            self._steps_requested.append(args)
        elif command == "hparams":
            self._handle(run.set_hparams(**args[0]))
            self._send_due(force=True)
        elif command == "quality":
            self._start_quality(*args)
        elif command == "quality_ready":  # from the preparer thread; the latest settings apply
            self._live = args[0]
            self._start_quality(*self.quality_settings)
        elif command == "guard":
            run.guard = run.guard.replace(**args[0])
            run.monitor.config = run.guard
        elif command == "sample_every":
            run.config.sample_every = int(args[0])
        elif command == "save_generator":
            self.busy.emit("Saving the generator…")
            run.save_generator(Path(args[0]))
            self.busy.emit("")
        elif command == "explorer_snapshot":  # a copy for the explorer: training goes on untouched
            from cgan_core.checkpoint import generator_metadata

            sampler = run.trainer.sampler
            arrays = {k: v.detach().cpu().numpy().copy() for k, v in sampler.state_dict().items()}
            meta = generator_metadata(sampler, run.trainer.dataset.class_names, {"step": run.step_count})
            self.generatorSnapshot.emit({"arrays": arrays, "meta": meta, "run_dir": str(run.run_dir),
                                         "step": run.step_count})
        elif command == "preview":  # a snapshot's grid, drawn from a copy of its weights
            self._emit_grid_now(run.sample_grid(snapshot_step=int(args[0])))
        elif command == "rollback":  # manual: back to the snapshot at or before this step, lrs kept
            self._handle(run.rollback("manual", int(args[0]) + 1, to_step=int(args[0]), manual=True))
            self._send_due(force=True)

    def _handle(self, events: list) -> None:
        for event in events:
            if isinstance(event, LossChunk):
                self._outbox.chunks.append(event)
            elif isinstance(event, SampleGrid):
                self._outbox.grid = event
            elif isinstance(event, HParamChange):
                self.hparamChanged.emit(event)
            elif isinstance(event, SnapshotTaken):
                self.snapshots.emit(event.kept)
            elif isinstance(event, RolledBack):
                self._send_due(force=True)  # the curves before the branch point arrive first
                self.rolledBack.emit(event)
                self.snapshots.emit(tuple(self.run.snapshots.steps))
            elif isinstance(event, QualityReport):
                self.quality.emit(event)
            elif isinstance(event, GuardGaveUp):
                self.paused = True  # pause and tell the user instead of looping
                self.guardGaveUp.emit(event)

    def _start_quality(self, enabled: bool | None, every: int | None) -> None:
        """Turn live quality on or off, or change its interval; preparing it runs beside training."""
        from cgan_core.quality import classifier_ready

        run = self.run
        if enabled is None:  # the default: on when it costs nothing to get ready
            enabled = classifier_ready(run.trainer.dataset)
            if not enabled:
                self.quality_settings = (False, every)
                self.qualityStatus.emit("off: the domain classifier is not trained yet (a minute or two); tick to train it")
                return
        self.quality_settings = (enabled, every)
        if not enabled:
            run.enable_quality(None)
            self.qualityStatus.emit("off")
        elif self._live is not None:
            run.enable_quality(self._live, every)
            self.qualityStatus.emit(run.quality_schedule.label)
        elif self._preparer is None or not self._preparer.thread.is_alive():
            from .quality_prep import QualityPreparer

            self._preparer = QualityPreparer(run.trainer.dataset, run.config,
                                             on_ready=lambda live: self.send("quality_ready", live),
                                             on_status=self.qualityStatus.emit, should_stop=lambda: self._stop)
            self._preparer.start()

    def _send_due(self, force: bool = False) -> None:
        now, box = time.monotonic(), self._outbox
        if box.chunks and (force or now - box.last_loss >= LOSS_INTERVAL):
            chunk = merge_chunks(box.chunks)
            box.chunks, box.last_loss = [], now
            self.losses.emit(chunk)
            self._emit_progress(chunk.epoch, chunk.images_per_second)
        elif force:
            self._emit_progress(self.run.trainer.batches.epoch_progress, 0.0)
        if box.grid is not None and (force or now - box.last_grid >= GRID_INTERVAL):
            self._emit_grid_now(box.grid)

    def _emit_progress(self, epoch: float, images_per_second: float) -> None:
        run = self.run
        self.progress.emit(Progress(run.step_count, epoch, images_per_second, run.seconds, run.progress(), self.paused))

    def _emit_grid_now(self, grid: SampleGrid) -> None:
        self._outbox.grid, self._outbox.last_grid = None, time.monotonic()
        self.grid.emit(grid)


# Every training thread that has been started and not yet finished: lets tests check that none is left
# running, and the app wait for all of them on quit.
import weakref  # noqa: E402

LIVE_THREADS: "weakref.WeakSet" = weakref.WeakSet()
