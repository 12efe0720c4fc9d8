"""Attach to run…: follow a live run directory that another process writes (a CLI run, a torchrun job,
a run on another machine whose directory is mounted or synced), and steer it through its control folder.
No network port is opened. The run directory is read on a QTimer in the GUI thread: the reads are small
appends (cgan_core.run.folder_reader), and the views get the same events a run hosted here would send."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal, Slot

from cgan_core.run.control import send
from cgan_core.run.events import RunFinished, SampleGrid
from cgan_core.run.folder_reader import RunTail, generator_class_names

from .stream import Ended

POLL_MS = 250  # a look at the folder costs a stat and the new bytes; the plot stays well within 1 s


class AttachedRun(QObject):
    """Hands the followed run's new events to `events` as one list per look, as a hosted run's mailbox
    does, so the window binds both the same way. Ended comes after the run's RunFinished."""

    events = Signal(object)  # list of typed events

    def __init__(self, run_dir: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.run_dir = Path(run_dir)
        self.tail = RunTail(self.run_dir)  # refuses a folder that is not a run directory
        self.class_names = _class_names(self.run_dir)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.poll)

    @property
    def config(self) -> dict:
        """The followed run's configuration (config.json)."""
        return self.tail.config

    def start(self) -> None:
        self.poll()
        self.timer.start(POLL_MS)

    def send(self, command) -> None:
        """A command for the followed run, as a file in its control folder."""
        send(self.run_dir, command)

    def detach(self) -> None:
        self.timer.stop()

    @Slot()
    def poll(self) -> None:
        batch = []
        for item in self.tail.poll():
            if isinstance(item, tuple):  # (step, grid image) from the run's grids folder
                step, image = item
                names = self.class_names
                batch.append(SampleGrid(step, np.ascontiguousarray(image), tuple(names), 8, image.shape[0] // len(names)))
            else:
                batch.append(item)
            if isinstance(item, RunFinished):
                self.detach()
                batch.append(Ended(item))
        if batch:
            self.events.emit(batch)


def _class_names(run_dir: Path) -> list[str]:
    """From the run's generator file, when it has one yet; MNIST's digits otherwise."""
    return generator_class_names(run_dir) or [str(i) for i in range(10)]
