"""The training worker: a QObject moved to a QThread that drives cgan_core's RunLoop.

It only translates. UI actions arrive as typed commands (cgan_core.run.commands) through a queue.Queue that
the loop drains between steps (a busy loop never runs queued slots). The loop's events leave through one
Mailbox (stream.py): throttled here where they are produced (losses about 10 Hz, grids at most 2 Hz, only
the newest kept), coalesced there while the window is behind, announced by one signal.
Events are frozen dataclasses of floats and numpy copies, safe to hand to the GUI thread.
"""
from __future__ import annotations

import queue
import time
import traceback
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from cgan_core.errors import CganError
from cgan_core.run import commands as cmd
from cgan_core.run.events import Forked, LossChunk, Progress, RolledBack, RunFinished, SampleGrid, SnapshotTaken
from cgan_core.run.loop import OnGiveUp, RunLoop
from cgan_core.run.prepare import fetch_dataset
from cgan_core.run.tensorboard_log import check_available as check_tensorboard
from cgan_core.step.config import LIVE_FIELDS, TrainConfig

from .quality_prep import QualityControl, QualitySettings
from .stream import Busy, Ended, Failed, Mailbox, QualityStatus, RunStarted, Snapshots, merge_chunks

LOSS_INTERVAL = 0.1
GRID_INTERVAL = 0.5
REPORT_SECONDS = 0.4  # the step stats are read at least this often: the plot trails training by < 1 s
# Every training thread that has been started and not yet finished: lets tests check that none is left
# running, and the app wait for all of them on quit.
LIVE_THREADS: weakref.WeakSet = weakref.WeakSet()


@dataclass
class _Outbox:
    """Events waiting for their throttle window."""

    chunks: list = field(default_factory=list)
    grid: SampleGrid | None = None
    last_loss: float = 0.0
    last_grid: float = 0.0


class _Stopped(Exception):
    """Stop was asked before training began."""


class TrainWorker(QObject):
    eventsReady = Signal()  # the mailbox has events the window has not taken (at most one undelivered)
    done = Signal()  # run_loop has returned: the thread may quit

    def __init__(self, config: TrainConfig, out: Path | None = None, resume: Path | None = None,
                 start_paused: bool = False, guard: dict | None = None,
                 quality: tuple[bool | None, int | None] = (False, None), tensorboard: bool = False) -> None:
        """quality: (enabled, every); enabled None means "on when the domain classifier is cached".
        tensorboard: also write the run's events as TensorBoard files (RUN/tensorboard)."""
        super().__init__()
        self.tensorboard = tensorboard
        self.config, self.out, self.resume, self.guard = config, out, resume, guard
        self.start_paused = start_paused
        self.commands: queue.Queue = queue.Queue()
        self.mailbox = Mailbox(self.eventsReady.emit)
        self.run = None  # the TrainingRun, once built (tests read its public state)
        self.quality_control = QualityControl(QualitySettings(*quality), self.send,
                                              lambda message: self.mailbox.post(QualityStatus(message)))
        self._outbox = _Outbox()
        self._download_shown: tuple[str, int] | None = None
        self.stop_requested = False

    # ---- called from the GUI thread: only queue.put, never touching the run ------------------------
    def send(self, command) -> None:
        """A cgan_core command, or a QualitySettings for live quality; applied between steps."""
        self.commands.put(command)

    def request_stop(self) -> None:
        self.stop_requested = True  # seen while the data downloads or loads, before the loop runs
        self.quality_control.abort()  # a classifier being trained for live quality stops between batches
        self.send(cmd.Stop())

    # ---- the loop (worker thread) ---------------------------------------------------------------------
    @Slot()
    def run_loop(self) -> None:
        result, post = None, self.mailbox.post
        try:
            post(Busy("Loading data and building the models…"))
            from cgan_core.run.training_run import TrainingRun

            fetch_dataset(self.config.dataset, self._download_progress)
            if self.stop_requested:
                raise _Stopped
            # Continuing a run keeps its architecture; the panel's length and live values apply.
            overrides = {k: getattr(self.config, k) for k in ("steps", "epochs", "max_seconds", "sample_every",
                                                               *LIVE_FIELDS)}
            if self.tensorboard:
                check_tensorboard()  # before the run starts: a missing package is one clear message
            self.run = TrainingRun(self.config, out=self.out, resume=self.resume, overrides=overrides,
                                   guard=self.guard, report_seconds=REPORT_SECONDS, tensorboard=self.tensorboard)
            if self.stop_requested:  # Stop while the data loaded: the run ends as a stopped one, untrained
                once = iter([cmd.Stop()])
                for event in RunLoop(self.run, lambda block: next(once, None)).events():
                    self._handle(event)
                    result = event
                raise _Stopped
            post(RunStarted(str(self.run.run_dir), self.run.device_name, self.run.state_bytes(),
                            self.run.dataset.image_label))
            post(Busy(""))
            self._post_grid_now(self.run.sample_grid())
            self.quality_control.start(self.run)
            loop = RunLoop(self.run, self._next_command, paused=self.start_paused, on_give_up=OnGiveUp.PAUSE)
            for event in loop.events():
                self._handle(event)
                if isinstance(event, RunFinished):
                    result = event
        except _Stopped:
            post(Busy(""))
        except CganError as exc:  # a bad file or value: the message names it
            post(Failed(str(exc)))
        except Exception as exc:  # every error reaches the window as an event, never vanishes
            traceback.print_exc()
            post(Failed(f"{type(exc).__name__}: {exc}"))
        finally:
            self._close()
            post(Busy(""))
            post(Ended(result))  # always: the window and the thread wait for it
            self.done.emit()

    def _close(self) -> None:
        """Close what the run opened; a failure here (a full disk with metrics buffered) is reported, and
        the worker still ends."""
        self.quality_control.abort()
        self.quality_control.join()
        try:
            if self.run is not None:
                self.run.close()  # its writer closes the TensorBoard files too
        except Exception as exc:
            self.mailbox.post(Failed(f"closing the run: {type(exc).__name__}: {exc}"))

    def _download_progress(self, file: str, fraction: float) -> None:
        if self.stop_requested:
            raise _Stopped  # the download stops between blocks; its partial file is the downloader's
        if (file, int(fraction * 50)) != self._download_shown:  # every 2%, not every block
            self._download_shown = (file, int(fraction * 50))
            self.mailbox.post(Busy(f"Downloading {self.config.dataset}: {file} {fraction:.0%}"))

    def _next_command(self, block: bool):
        """The loop's command source. Live-quality settings are the studio's own business: they are
        settled here and reach the run as a SetQuality command once the classifier is ready."""
        while True:
            try:
                command = self.commands.get(timeout=0.05) if block else self.commands.get_nowait()
            except queue.Empty:
                return None
            if isinstance(command, QualitySettings):
                command = self.quality_control.change(command)
                if command is None:
                    continue
            return command

    def _handle(self, event) -> None:
        """Losses, grids and progress wait for their throttle window; every other event goes at once."""
        if isinstance(event, LossChunk):
            self._outbox.chunks.append(event)
        elif isinstance(event, SampleGrid):
            if event.step != self.run.step_count:  # a snapshot's preview: asked for, so shown at once
                self._post_grid_now(event)
            else:
                self._outbox.grid = event
        elif isinstance(event, SnapshotTaken):
            self.mailbox.post(Snapshots(event.kept))
        elif isinstance(event, (RolledBack, Forked)):
            self._send_due(force=True)  # the curves before the branch point (or the chosen variant's) arrive first
            self.mailbox.post(event)
            self.mailbox.post(Snapshots(self.run.snapshot_steps))
        elif isinstance(event, Progress):
            self._send_due(event, force=event.paused)  # paused or single steps: shown at once
        elif isinstance(event, RunFinished):
            self.mailbox.post(Busy("Saving the final checkpoint…"))
            self._send_due(force=True)
            self.mailbox.post(event)
        else:
            self.mailbox.post(event)

    def _send_due(self, progress: Progress | None = None, force: bool = False) -> None:
        now, box = time.monotonic(), self._outbox
        if box.chunks and (force or now - box.last_loss >= LOSS_INTERVAL):
            chunk = merge_chunks(box.chunks)
            box.chunks, box.last_loss = [], now
            self.mailbox.post(chunk)
            if progress is not None:
                self.mailbox.post(progress)
        elif force and progress is not None:
            self.mailbox.post(progress)
        if box.grid is not None and (force or now - box.last_grid >= GRID_INTERVAL):
            self._post_grid_now(box.grid)

    def _post_grid_now(self, grid: SampleGrid) -> None:
        self._outbox.grid, self._outbox.last_grid = None, time.monotonic()
        self.mailbox.post(grid)
