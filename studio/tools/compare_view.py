"""The Runs view's Compare images tab: the selected runs' grids side by side at one step (or one training
time), one slider moving every run to its nearest recorded grid; or, with Same noise, every run's generator
drawn on one shared z. The pictures are cgan_core.compare.images' (the CLI's `compare` draws the same)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QScrollArea, QSlider, QVBoxLayout, QWidget

from cgan_core.compare import images
from cgan_core.errors import CganError, ConfigError

BY_STEP, BY_TIME = "by step", "by training time"
TIME_MARKS = 60


class CompareImagesView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runs: list[Path] = []
        self.marks: list[float] = []
        self.axis = QComboBox(objectName="compareAxis")
        self.axis.addItems([BY_STEP, BY_TIME])
        self.slider = QSlider(Qt.Horizontal, objectName="compareSlider")
        self.position = QLabel(objectName="comparePosition")
        self.same_noise = QCheckBox("Same noise", objectName="compareSameNoise")
        self.same_noise.setToolTip("Draw every run's generator on one shared z and the same labels: the columns "
                                   "then differ only by the model")
        self.which = QComboBox(objectName="compareWhich")
        self.which.addItems(["last generator", "best generator"])
        self.differences = QLabel(objectName="compareDifferences", wordWrap=True)
        self.status = QLabel(objectName="compareStatus", wordWrap=True)
        self.picture = QLabel(objectName="comparePicture", alignment=Qt.AlignLeft | Qt.AlignTop)
        self.scroll = scroll = QScrollArea(widgetResizable=True)
        scroll.setWidget(self.picture)
        self._columns: list = []
        self.records: list = []
        self.status_note = ""
        controls = QHBoxLayout()
        for widget in (self.axis, self.slider, self.position, self.same_noise, self.which):
            controls.addWidget(widget)
        controls.setStretch(1, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.differences)
        layout.addLayout(controls)
        layout.addWidget(self.status)
        layout.addWidget(scroll, 1)
        self.axis.currentTextChanged.connect(lambda _: self._reset_marks())
        self.slider.valueChanged.connect(lambda _: self.draw())
        self.same_noise.toggled.connect(lambda _: self.draw())
        self.which.currentIndexChanged.connect(lambda _: self.draw())

    def show_runs(self, runs: list[Path], differences: dict | None = None) -> None:
        """The runs to compare (2 to 6); `differences`: the settings that differ, {name: [value a run]}."""
        self.runs = [Path(r) for r in runs]
        diff = differences or {}
        self.differences.setText("  ·  ".join(f"{name}: {' | '.join(map(str, values))}" for name, values in diff.items()))
        self.records, self.status_note = [], ""
        if 2 <= len(self.runs) <= images.MAX_RUNS:  # read once: a slider move reads only the grids it shows
            try:
                self.records = [images.read_record(run) for run in self.runs]
            except CganError as exc:
                self.status_note = str(exc)
        self._reset_marks()

    def _reset_marks(self) -> None:
        """The slider's positions: every step any run saved a grid at (or times), opening at the last step
        every run reached."""
        if not self.records:
            self.marks, start = [], 0
        elif self.axis.currentText() == BY_STEP:
            self.marks = sorted({s for record in self.records for s in record.grid_steps})
            start = images.common_step(self.records)
        else:
            start = min(record.seconds_trained for record in self.records)
            self.marks = list(np.linspace(0.0, start, TIME_MARKS)) if start > 0 else []
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, len(self.marks) - 1))
        self.slider.setValue(int(np.searchsorted(self.marks, start, side="right")) - 1 if self.marks else 0)
        self.slider.blockSignals(False)
        self.draw()

    def draw(self) -> None:
        """Compose the picture at the slider's position (or on one noise) and show it."""
        self.slider.setEnabled(not self.same_noise.isChecked())
        self.which.setEnabled(self.same_noise.isChecked())
        if not 2 <= len(self.runs) <= images.MAX_RUNS:
            self.picture.clear()
            self._columns = []
            self.status.setText(f"Select 2 to {images.MAX_RUNS} runs in the Runs tab to compare what they draw.")
            return
        try:
            columns, note = self._shared_noise() if self.same_noise.isChecked() else (None, "")
            if columns is None:
                columns = self._recorded()
        except CganError as exc:
            self.status.setText(str(exc))
            self.picture.clear()
            self._columns = []
            return
        self.status.setText(note)
        self._columns = columns
        self._fit()

    def _shared_noise(self) -> tuple[list | None, str]:
        """Every generator on one z; for generators that cannot share one, None and why (the recorded grids
        are shown instead)."""
        try:
            columns = images.same_noise_columns(self.runs, best=self.which.currentIndex() == 1)
        except ConfigError as exc:
            return None, f"{exc}; their recorded grids instead"
        self.position.setText("")
        return columns, ""

    def _recorded(self) -> list:
        """Each run's recorded grid at the slider's step or training time."""
        if not self.marks:
            raise CganError(self.status_note or "no run has a sample grid yet")
        mark = self.marks[self.slider.value()]
        by_step = self.axis.currentText() == BY_STEP
        self.position.setText(f"step {int(mark)}" if by_step else f"{mark:.0f} s")
        return images.recorded_columns(self.records, step=int(mark) if by_step else None,
                                       seconds=None if by_step else mark)

    def _fit(self) -> None:
        """Every column at one zoom, the largest whole one that fits the tab's width (pixels stay crisp, and the
        labels are drawn at their own size)."""
        if not self._columns:
            return
        room = self.scroll.viewport().width() - 4 - images.GAP * (len(self._columns) + 1)
        scale = max(1, min(4, room // images.natural_width(self._columns)))
        picture = np.ascontiguousarray(images.compose(self._columns, scale=scale))
        height, width, _ = picture.shape
        self.picture.setPixmap(QPixmap.fromImage(QImage(picture.data, width, height, 3 * width,
                                                        QImage.Format_RGB888).copy()))

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._fit()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        self._fit()
