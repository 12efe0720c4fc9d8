"""Live quality: conditional accuracy against the step, with a distance to the real data on the right axis
and a per-class heatmap below (classes x measurements). The figures combo picks which: the domain
classifier's (its Fréchet distance; per-class accuracy) or the independent ones, in a seeded random
network's features that no training shaped (KID with its spread over subsets; per-class Fréchet distance).

Reports arrive at most every ~100 steps; a burst of them (an opened run's history) costs one redraw, and
past MAX_COLUMNS measurements the heatmap's columns and the curves' points are averaged in groups, so a
redraw costs the same after an hour as after a minute. A rollback drops the reports of the abandoned
stretch, as the loss plot greys its curves.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from cgan_core.output.quality import QualityReport

from .loss_plot import cheap_grid
from .quality_distance import DistanceAxis
from .quality_heatmap import BACKGROUND, ClassHeatmap

ACCURACY_COLOR = "#4e9af1"
CLASSIFIER, INDEPENDENT = "classifier", "independent"  # the figures combo's entries (its item data)
ACCURACY_TITLE = "per-class accuracy: purple 0% to yellow 100%"
AXIS_WIDTH = 46
MAX_COLUMNS = 300  # heatmap columns and curve points drawn, at most
SYMBOLS_UP_TO = 150  # a dot per measurement while they are few enough to tell apart


def grouped(values: np.ndarray, groups: int) -> np.ndarray:
    """Rows averaged in `groups` consecutive groups of near-equal size (the rows themselves when fewer)."""
    if len(values) <= groups:
        return values
    starts = np.linspace(0, len(values), groups + 1).astype(np.int64)[:-1]
    sizes = np.diff(np.append(starts, len(values)))
    sums = np.add.reduceat(values.astype(np.float64), starts, axis=0)
    return sums / (sizes[:, None] if values.ndim == 2 else sizes)


class QualityView(QWidget):
    settingsChanged = Signal(object)  # (enabled: bool, every: int | None), None = auto

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("qualityView")
        self.reports: list[QualityReport] = []
        self.class_names: list[str] = []
        self.user_choice: bool | None = None  # None until the user ticks or unticks: the worker decides
        self._redraw_timer = QTimer(self, singleShot=True, interval=0)  # a burst of reports: one redraw
        self._redraw_timer.timeout.connect(self.redraw)
        self._build_header()
        self._build_plot()
        self._build_heatmap()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 0, 0, 0)
        layout.addLayout(self.header)
        layout.addWidget(self.status)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.heatmap, 1)
        self.redraw()  # the empty state drawn as such from the start, not left to pyqtgraph's auto-range

    # ---- construction ------------------------------------------------------------------------
    def _build_header(self) -> None:
        self.check = QCheckBox("Quality", objectName="qualityCheck")
        self.check.setStyleSheet("QCheckBox { font-weight: bold; }")
        self.check.setToolTip("Measure conditional accuracy and Frechet distance with the dataset's domain classifier")
        self.check.toggled.connect(self._on_toggled)
        self.every = QSpinBox(objectName="qualityEverySpin", minimum=0, maximum=100_000, singleStep=50, value=0)
        self.every.setSpecialValueText("auto")
        self.every.setKeyboardTracking(False)
        self.every.setToolTip("Steps between measurements; auto keeps them within 5% of the training time")
        self.every.valueChanged.connect(lambda _: self._emit_settings())
        self.figures = QComboBox(objectName="qualityFiguresCombo")
        self.figures.addItem("classifier figures", CLASSIFIER)
        self.figures.addItem("independent figures", INDEPENDENT)
        self.figures.setToolTip("Right axis and heatmap: the domain classifier's Frechet distance and per-class "
                                "accuracy, or KID (with its spread) and per-class Frechet distance in a seeded random "
                                "network's features, which the best-generator choice never trained on")
        self.figures.currentIndexChanged.connect(lambda _: self.redraw())
        self.readout = QLabel("", objectName="qualityReadout")
        self.header = QHBoxLayout()
        for widget in (self.check, QLabel("every"), self.every, QLabel("steps"), self.figures):
            self.header.addWidget(widget)
        self.header.addStretch(1)
        self.header.addWidget(self.readout)
        self.status = QLabel("", objectName="qualityStatus")
        self.status.setStyleSheet("color: #888;")

    def _build_plot(self) -> None:
        self.plot = pg.PlotWidget(background=BACKGROUND)
        self.plot.setObjectName("qualityPlot")
        item = self.plot.getPlotItem()
        cheap_grid(item)
        item.setLabel("left", "accuracy %", color=ACCURACY_COLOR)
        item.setLabel("bottom", "step")
        item.setYRange(0, 100, padding=0.02)
        item.getViewBox().setLimits(yMin=-5, yMax=105)
        self.accuracy_curve = item.plot(pen=pg.mkPen(ACCURACY_COLOR, width=2), symbol="o", symbolSize=4,
                                        symbolBrush=ACCURACY_COLOR)
        # The best generator so far (best.safetensors): a star on the accuracy curve, and a line labelled at
        # mid-height: the best is often the newest, where the real floor's label sits at the bottom right.
        self.best_step: int | None = None
        self.best_marker = item.plot(pen=None, symbol="star", symbolSize=16, symbolBrush="#ffd54f",
                                     symbolPen="#b8860b")
        self.best_line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#ffd54f", width=1, style=Qt.DotLine),
                                         label="best", labelOpts={"color": "#ffd54f", "position": 0.5})
        self.best_line.hide()
        item.addItem(self.best_line)
        self.distance = DistanceAxis(item, lambda values: grouped(values, MAX_COLUMNS))

    def _build_heatmap(self) -> None:
        self.heatmap = ClassHeatmap(self._describe_cell)
        self.heatmap.set_title(ACCURACY_TITLE)
        item = self.heatmap.getPlotItem()
        item.setXLink(self.plot.getPlotItem())
        self._cells = (np.zeros(0), None)  # the heatmap's columns as drawn: steps, (columns, classes) values
        # Equal axis widths on both sides, so the heatmap's columns sit under the plot's points.
        for plot_item in (self.plot.getPlotItem(), item):
            plot_item.showAxis("right")
            for side in ("left", "right"):
                plot_item.getAxis(side).setWidth(AXIS_WIDTH)
        item.getAxis("right").setStyle(showValues=False)
        item.getAxis("bottom").setStyle(showValues=False)
        self.heatmap.setMinimumHeight(80)  # the window must still fit a 1366x768 screen
        self.plot.setMinimumHeight(80)

    # ---- settings ------------------------------------------------------------------------------
    def settings(self) -> tuple[bool | None, int | None]:
        return self.user_choice, (self.every.value() or None)

    def _on_toggled(self, checked: bool) -> None:
        self.user_choice = checked
        self._emit_settings()

    def _emit_settings(self) -> None:
        enabled, every = self.settings()
        if enabled is not None:
            self.settingsChanged.emit((enabled, every))

    @Slot(str)
    def set_status(self, message: str) -> None:
        """The worker's word on live quality; an "off" it chose (auto) unticks the box quietly."""
        self.status.setText(message)
        self.status.setToolTip(message)
        if message.startswith("off") and self.check.isChecked():
            self.check.blockSignals(True)
            self.check.setChecked(False)
            self.check.blockSignals(False)
        elif not message.startswith(("off", "unavailable")) and not self.check.isChecked():
            self.check.blockSignals(True)
            self.check.setChecked(True)
            self.check.blockSignals(False)

    # ---- data ------------------------------------------------------------------------------------
    def set_class_names(self, names: list[str]) -> None:
        self.class_names = list(names)
        self.heatmap.set_class_names(self.class_names)

    def mark_best(self, step: int | None) -> None:
        """The step whose generator is the run's best.safetensors (None: no best yet)."""
        self.best_step = step
        self.redraw()

    def clear(self) -> None:
        self.reports = []
        self.best_step = None
        self.readout.setText("")
        self.redraw()

    def set_reports(self, reports: list[QualityReport]) -> None:
        """A whole history (Open run…): the latest branch of it, where rollbacks went back."""
        kept: list[QualityReport] = []
        for report in reports:
            while kept and kept[-1].step >= report.step:
                kept.pop()
            kept.append(report)
        self.reports = kept
        self.redraw()

    @Slot(object)
    def add_report(self, report: QualityReport) -> None:
        self.reports = [r for r in self.reports if r.step < report.step] + [report]
        self._redraw_timer.start()

    def branch(self, to_step: int) -> None:
        """A rollback to `to_step`: the measurements after it belong to the abandoned stretch."""
        self.reports = [r for r in self.reports if r.step <= to_step]
        self.redraw()  # the best stays: best.safetensors keeps it whatever branch the run takes

    @property
    def independent(self) -> bool:
        return self.figures.currentData() == INDEPENDENT

    def redraw(self) -> None:
        steps = np.array([r.step for r in self.reports], dtype=np.float64)
        accuracy = np.array([100 * r.accuracy for r in self.reports])
        shown = grouped(steps, MAX_COLUMNS)
        self.accuracy_curve.setData(shown, grouped(accuracy, MAX_COLUMNS))
        self.accuracy_curve.setSymbol("o" if len(steps) <= SYMBOLS_UP_TO else None)
        best = [r for r in self.reports if r.step == self.best_step]
        self.best_marker.setData([float(r.step) for r in best], [100 * r.accuracy for r in best])
        self.best_line.setVisible(self.best_step is not None)
        if self.best_step is not None:
            self.best_line.setValue(self.best_step)
        distance = self.distance.draw_kid if self.independent else self.distance.draw_frechet
        far = distance(shown, self.reports)
        self.distance.show_values(bool(self.reports))
        if self.reports and far:
            far = f"<span style='color:{ACCURACY_COLOR}'>{100 * self.reports[-1].accuracy:.1f}%</span>  " + far
        self.readout.setText(far)
        self._draw_heatmap(shown)

    def _draw_heatmap(self, shown: np.ndarray) -> None:
        """Per-class accuracy, or per-class closeness in random features: the real floor over the class's
        Fréchet distance (1: as close as real images of it get), both yellow where good."""
        values = None
        if not self.independent:
            self.heatmap.set_title(ACCURACY_TITLE)
            if self.reports:
                values = np.array([r.per_class for r in self.reports], dtype=np.float64)
        elif all(r.intra_frechet for r in self.reports):
            self.heatmap.set_title("per-class Fréchet distance, random features: purple far, yellow at the real floor")
            if self.reports:
                distances = np.array([r.intra_frechet for r in self.reports], dtype=np.float64)
                floors = np.array([r.intra_floor for r in self.reports])[:, None]
                values = np.nan_to_num(np.clip(floors / np.maximum(distances, 1e-9), 0.0, 1.0))  # NaN: too few images
        else:
            self.heatmap.set_title("per-class Fréchet distance: not in these measurements (an older run)")
        cells = None if values is None else grouped(values, MAX_COLUMNS)
        self._cells = (shown, cells)
        self.heatmap.draw(shown, cells)

    def _describe_cell(self, column: int, row: int) -> str:
        steps, cells = self._cells
        if cells is None or column >= len(steps) or row >= cells.shape[1]:
            return ""
        name = self.class_names[row] if row < len(self.class_names) else str(row)
        step = f"step {steps[column]:.0f}" + (" (mean of a group)" if len(self.reports) > len(steps) else "")
        if self.independent:
            return f"class {name} at {step}: real floor / Fréchet distance {cells[column, row]:.2f}"
        return f"class {name} at {step}: {100 * cells[column, row]:.0f}%"
