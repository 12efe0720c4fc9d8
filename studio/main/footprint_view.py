"""What the chosen run will cost, shown before Start: the models' size and the memory training takes, at
once and again at every change of a fixed setting (counted on the meta device, so nothing is allocated),
with the device's free memory beside it, or the one-line refusal that Start would meet; and the step's time
on a click (a few real steps on random images of the chosen shape, in a thread of its own, stopped by Start)."""
from __future__ import annotations

import threading
from collections.abc import Callable

from PySide6.QtCore import QTimer, Signal, Slot
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from cgan_core.data.registry import planned_images
from cgan_core.errors import CganError
from cgan_core.step.config import TrainConfig
from cgan_core.step.device import pick_device
from cgan_core.step.footprint import fitting_footprint, free_memory_mb, measure_step_seconds

REFUSED_STYLE = "color: #d9534f"


class FootprintView(QWidget):
    timed = Signal(int, str)  # (the request it answers, the text): from the timing thread
    planned = Signal(tuple)  # (channels, height, width) the chosen data will train at, at each count

    def __init__(self, config_of: Callable[[], TrainConfig], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.config_of = config_of
        self.label = QLabel(objectName="footprintLabel", wordWrap=True)
        # Three lines kept for it: the scrolling panel did not grow a wrapped label when its text changed, and at
        # 1280x800 its third line ("MB free on cpu") was cut under the button.
        self.label.setMinimumHeight(3 * self.label.fontMetrics().lineSpacing() + 4)
        self.time_button = QPushButton("Time a step", objectName="footprintTimeButton")
        self.time_button.setToolTip("Train a few steps of this preset on random images of the chosen size, to see "
                                    "how long a step takes on this device (a few seconds; Start stops it)")
        self.time_button.clicked.connect(self.time_step)
        # Stacked, not side by side: beside the wrapped text the button fell past the panel's right edge.
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.time_button)
        self._debounce = QTimer(self, singleShot=True, interval=300)  # a spin box's arrows send many edits
        self._debounce.timeout.connect(self.refresh)
        self._request, self._cancel, self._running = 0, threading.Event(), False
        self._planned = None  # (config, image shape, classes) the text shown was counted for; None: refused
        self.timed.connect(self._on_timed)

    @Slot()
    def schedule(self) -> None:
        if not self._running:
            self._debounce.start()

    @Slot()
    def refresh(self) -> str:
        """Count the footprint of the settings shown now; the text shown (also a refusal's)."""
        self._cancel.set()  # a step's timing for the settings before is no longer the answer
        self._request += 1
        self._planned = None
        try:
            config = self.config_of()
            shape, classes = planned_images(config.dataset, config.image_size, config.color)
            self.planned.emit(tuple(shape))
            device = pick_device(config.device)
            footprint = fitting_footprint(config, shape, classes, device)
            self._planned = (config, shape, classes)
            free = free_memory_mb(device)
            text = footprint.describe() + (f" ({free:,.0f} MB free on {device.type})" if free is not None else "")
            self.label.setStyleSheet("")
        except CganError as error:
            text = str(error)
            self.label.setStyleSheet(REFUSED_STYLE)
        self.label.setText(text)
        self.time_button.setEnabled(not self._running and self._planned is not None)
        return text

    @Slot()
    def time_step(self) -> None:
        base = self.refresh()
        if self._planned is None:
            return  # refused: timing it would meet the same wall
        config, shape, classes = self._planned
        request, cancel = self._request, threading.Event()
        self._cancel = cancel
        self.time_button.setEnabled(False)
        self.label.setText(base + "; timing a step…")

        def measure() -> None:
            try:
                seconds = measure_step_seconds(config, shape, classes, stop=cancel.is_set)
                text = "" if seconds is None else (f"{base}; {seconds:.3f} s a step, "
                                                   f"{config.batch_size / seconds:,.0f} img/s")
            except (CganError, RuntimeError) as error:  # RuntimeError: torch's, e.g. out of memory
                text = f"{base}; a step could not be timed: {error}"
            try:
                self.timed.emit(request, text)
            except RuntimeError:  # the window closed meanwhile
                pass

        threading.Thread(target=measure, name="footprint-timing", daemon=True).start()

    @Slot(int, str)
    def _on_timed(self, request: int, text: str) -> None:
        if request == self._request and text:
            self.label.setText(text)
        self.time_button.setEnabled(not self._running and self._planned is not None)

    def set_running(self, running: bool) -> None:
        """A run is starting (or done): a timing in progress stops at its next step; the run's own speed is
        the status bar's from here on."""
        self._running = running
        self._cancel.set()
        if running and self._debounce.isActive():  # an edit just before Start: count what the run starts with now
            self._debounce.stop()
            self.refresh()
        self.time_button.setEnabled(not running)
        if not running:
            self.schedule()
