"""The run controller: the one owner of the training thread, its worker and the paused state.

The window talks to it in UI terms (start, pause, step, stop, send a command) and listens to one signal,
`events`: a list of typed events (cgan_core.run.events and stream.py), in order, from the hosted run's
mailbox or the attached run's tail alike. On close: request a stop, quit the thread, wait. Never terminate().
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QElapsedTimer, QObject, QThread, QTimer, Signal, Slot

from cgan_core.run import commands as cmd
from cgan_core.run.events import GuardGaveUp
from cgan_core.step.config import TrainConfig

from .quality_prep import QualitySettings
from .stream import Ended
from .worker import LIVE_THREADS, TrainWorker

STOP_WAIT_MS = 60_000
# The views take the hosted run's events at most this often; in between they coalesce in the worker's
# mailbox. Every delivery costs the GUI thread a redraw, and each moment it holds the interpreter lock is
# a moment the training thread waits: 4 a second keeps the plot within a second of training, and halved the
# window's cost on training against 10 a second (BENCHMARKS.md, the hour in the window).
DELIVERY_INTERVAL_MS = 250


class RunController(QObject):
    events = Signal(object)  # list of typed events
    stateChanged = Signal()  # running or paused changed: controls follow

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread: QThread | None = None
        self.worker: TrainWorker | None = None
        self.attached = None  # an AttachedRun: a live run that another process writes, steered by files
        self.paused = False
        self._since_delivery = QElapsedTimer()
        self._delivery_due = QTimer(self)  # a notice that came too soon is served when the interval ends
        self._delivery_due.setSingleShot(True)
        self._delivery_due.timeout.connect(self._drain)

    @property
    def running(self) -> bool:
        """A run is live: hosted here (the thread) or followed (attached)."""
        return self.thread is not None or self.attached is not None

    def attach(self, run_dir: Path) -> None:
        """Follow a live run directory; its events come out of this controller's own signals."""
        from .attach import AttachedRun

        self.attached = AttachedRun(run_dir, self)  # refuses a folder that is not a run directory
        self.attached.events.connect(self._deliver)
        self.stateChanged.emit()
        self.attached.start()

    @Slot()
    def _drain(self) -> None:
        """The worker's notice: take what its mailbox holds (it may be more than when it was sent), at most
        once every DELIVERY_INTERVAL_MS."""
        if self.worker is None:
            return
        wait = DELIVERY_INTERVAL_MS - self._since_delivery.elapsed() if self._since_delivery.isValid() else 0
        if wait > 0:
            if not self._delivery_due.isActive():
                self._delivery_due.start(wait)
            return
        self._since_delivery.start()
        self._deliver(self.worker.mailbox.take())

    @Slot(object)
    def _deliver(self, batch: list) -> None:
        for event in batch:
            if isinstance(event, GuardGaveUp):  # the loop has paused itself
                self.paused = True
                self.stateChanged.emit()
        if batch:
            self.events.emit(batch)
        if self.attached is not None and any(isinstance(e, Ended) for e in batch):
            self.attached, self.paused = None, False
            self.stateChanged.emit()

    def start(self, config: TrainConfig, resume: Path | None, paused: bool, guard: dict,
              quality: tuple[bool | None, int | None], tensorboard: bool = False) -> None:
        if self.running:
            return
        self.paused = paused
        self.worker = TrainWorker(config, resume=resume, start_paused=paused, guard=guard, quality=quality,
                                  tensorboard=tensorboard)
        self.thread = QThread(self)
        LIVE_THREADS.add(self.thread)
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.run_loop)
        self.worker.eventsReady.connect(self._drain)
        self.worker.done.connect(self.thread.quit)
        self.thread.finished.connect(self._on_thread_finished)
        self.thread.start()
        self.stateChanged.emit()

    def send(self, command) -> None:
        """A command for the live run: the hosted run's loop, or the attached run's control folder."""
        if self.attached is not None:
            self.attached.send(command)
        elif self.worker is not None:
            self.worker.send(command)

    def set_quality(self, enabled: bool | None, every: int | None) -> None:
        self.send(QualitySettings(enabled, every))

    def toggle_pause(self) -> None:
        if self.running:
            self.paused = not self.paused
            self.send(cmd.Pause() if self.paused else cmd.Resume())
            self.stateChanged.emit()

    def step_once(self, update_d: bool, update_g: bool) -> None:
        """One batch; a running run is paused first (the caller starts a paused run when none is live)."""
        if self.worker is None:
            return
        if not self.paused:
            self.toggle_pause()
        self.worker.send(cmd.Step(update_d, update_g))

    def stop(self) -> None:
        if self.attached is not None:
            self.attached.send(cmd.Stop())
        elif self.worker is not None:
            self.worker.request_stop()

    def shutdown(self) -> bool:
        """Request a stop, quit the thread and wait for it; False if it did not stop in time."""
        if self.thread is None:
            return True
        self.worker.request_stop()
        self.thread.quit()
        return self.thread.wait(STOP_WAIT_MS)

    @Slot()
    def _on_thread_finished(self) -> None:
        self._delivery_due.stop()
        self._since_delivery.invalidate()
        self._drain()  # whatever the worker posted last
        LIVE_THREADS.discard(self.thread)
        self.thread.deleteLater()
        self.worker.deleteLater()
        self.thread, self.worker, self.paused = None, None, False
        self.stateChanged.emit()
