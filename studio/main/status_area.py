"""The status bar: step, epoch, speed, elapsed and ETA, an epoch bar, a busy indicator, when the last
checkpoint was written, the device and the run directory. A part of MainWindow, composed in."""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar

from cgan_core.run.events import CheckpointSaved, Progress


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class StatusArea:
    """Owns the status bar's widgets. Its updates are called from MainWindow's slots (GUI thread)."""

    def __init__(self, status: QStatusBar) -> None:
        self.status_label = QLabel("Ready: press Start (F5)", objectName="statusLabel")
        self.device_label = QLabel("", objectName="deviceLabel")
        self.run_dir_label = QLabel("", objectName="runDirLabel")
        self.run_dir_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.epoch_bar = QProgressBar(objectName="epochProgress", maximum=1000, textVisible=True)
        self.epoch_bar.setFixedWidth(140)
        self.epoch_bar.setFormat("epoch %p%")
        self.epoch_bar.setToolTip("Progress through the current epoch")
        self.busy_bar = QProgressBar(objectName="busyIndicator", minimum=0, maximum=0)
        self.busy_bar.setFixedWidth(80)
        self.busy_bar.hide()
        self.checkpoint_label = QLabel("", objectName="checkpointLabel")
        self.checkpoint_label.setToolTip("When the last checkpoint was written: a crash loses no more than this")
        status.addWidget(self.status_label, 1)
        status.addPermanentWidget(self.busy_bar)
        status.addPermanentWidget(self.checkpoint_label)
        status.addPermanentWidget(self.epoch_bar)
        status.addPermanentWidget(self.device_label)
        status.addPermanentWidget(self.run_dir_label)

    def show_progress(self, p: Progress) -> None:
        parts = [f"epoch {p.epoch:.2f}", f"step {p.step}", f"{p.images_per_second:,.0f} img/s",
                 f"elapsed {_clock(p.seconds)}"]
        if p.fraction:
            parts.append(f"ETA {_clock(p.seconds * (1 - p.fraction) / p.fraction)}")
        if p.paused:
            parts.append("PAUSED")
        self.status_label.setText("  ·  ".join(parts))
        # QProgressBar.setValue repaints at once, synchronously, holding the GIL that the training thread
        # waits for: the largest single cost of the GUI thread at 100+ steps a second (py-spy: a fifth of
        # it). With updates off it only marks the bar dirty; the next paint of the window draws it.
        self.epoch_bar.setUpdatesEnabled(False)
        self.epoch_bar.setValue(int((p.epoch % 1.0) * 1000))
        self.epoch_bar.setUpdatesEnabled(True)  # schedules the bar's paint (update(), not repaint())

    def show_busy(self, message: str) -> None:
        self.busy_bar.setVisible(bool(message))
        self.busy_bar.setToolTip(message)
        if message:
            self.status_label.setText(message)


    def show_checkpoint(self, event: CheckpointSaved) -> None:
        written = time.strftime("%H:%M:%S", time.localtime(event.time or time.time()))
        self.checkpoint_label.setText(f"checkpoint {written} (step {event.step})")
        self.checkpoint_label.setToolTip(f"Last checkpoint: {event.path}")

    def show_attached(self, run_dir: Path, config: dict) -> None:
        """Following a run another process writes; a torchrun / --nproc run's rank 0 writes the folder."""
        ranks = int(config.get("world_size", 1))
        where = f"{ranks} processes, global batch {config.get('global_batch_size')}" if ranks > 1 else None
        self.set_run(str(run_dir), where)
        self.set_message(f"Attached to {run_dir.name}: edits and Stop go to its control folder")

    def set_message(self, text: str) -> None:
        self.status_label.setText(text)

    def set_run(self, run_dir: str, device: str | None = None) -> None:
        if device is not None:
            self.device_label.setText(f"device: {device}")
        # The folder's name only (the whole path in the tooltip): a long path took the step and elapsed time's
        # room at 1280 px, and "elapsed 1:00:02" read "elapse".
        self.run_dir_label.setText(Path(run_dir).name)
        self.run_dir_label.setToolTip(f"Run directory: {run_dir}")
        self.checkpoint_label.setText("")
