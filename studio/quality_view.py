"""Live quality: conditional accuracy and Frechet distance against the step, and a per-class
accuracy heatmap (classes x measurements).

Reports arrive at most every ~100 steps; a burst of them (an opened run's history) costs one redraw, and
past MAX_COLUMNS measurements the heatmap's columns and the curves' points are averaged in groups, so a
redraw costs the same after an hour as after a minute. A rollback drops the reports of the abandoned
stretch, as the loss plot greys its curves.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from cgan_core.output.quality import QualityReport

from .loss_plot import cheap_grid

ACCURACY_COLOR, FRECHET_COLOR = "#4e9af1", "#f1a14e"
BACKGROUND = "#1e1f22"
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


def _edges(steps: np.ndarray) -> np.ndarray:
    """Column edges halfway between measurements (intervals may vary in auto mode)."""
    if len(steps) == 1:
        return np.array([steps[0] - 50.0, steps[0] + 50.0])
    mids = (steps[1:] + steps[:-1]) / 2.0
    return np.concatenate([[2 * steps[0] - mids[0]], mids, [2 * steps[-1] - mids[-1]]])


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
        self.readout = QLabel("", objectName="qualityReadout")
        self.header = QHBoxLayout()
        for widget in (self.check, QLabel("every"), self.every, QLabel("steps")):
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
        # The best generator so far (best.safetensors): a star on the accuracy curve, and a line.
        self.best_step: int | None = None
        self.best_marker = item.plot(pen=None, symbol="star", symbolSize=16, symbolBrush="#ffd54f",
                                     symbolPen="#b8860b")
        self.best_line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#ffd54f", width=1, style=Qt.DotLine),
                                         label="best", labelOpts={"color": "#ffd54f", "position": 0.08})
        self.best_line.hide()
        item.addItem(self.best_line)
        # The Frechet distance on a right axis of its own (pyqtgraph's MultiplePlotAxes pattern).
        self.frechet_box = pg.ViewBox()
        item.showAxis("right")
        item.scene().addItem(self.frechet_box)
        right = item.getAxis("right")
        right.linkToView(self.frechet_box)
        right.setLabel("Frechet distance", color=FRECHET_COLOR)
        self.frechet_box.setXLink(item)
        self.frechet_curve = pg.PlotDataItem(pen=pg.mkPen(FRECHET_COLOR, width=2))
        self.floor_line = pg.InfiniteLine(angle=0, pen=pg.mkPen(FRECHET_COLOR, width=1, style=Qt.DashLine),
                                          label="real floor", labelOpts={"color": FRECHET_COLOR, "position": 0.9})
        self.floor_line.hide()
        self.frechet_box.addItem(self.frechet_curve)
        self.frechet_box.addItem(self.floor_line)
        item.getViewBox().sigResized.connect(self._sync_boxes)

    def _build_heatmap(self) -> None:
        self.heatmap = pg.PlotWidget(background=BACKGROUND)
        self.heatmap.setObjectName("qualityHeatmap")
        item = self.heatmap.getPlotItem()
        item.setTitle("per-class accuracy: purple 0% to yellow 100%", size="8pt", color="#999")
        item.setLabel("left", "class")
        item.getAxis("left").setTicks([[]])  # class names arrive with the first grid
        item.invertY(True)
        item.setMouseEnabled(x=False, y=False)
        item.setXLink(self.plot.getPlotItem())
        self.mesh = None
        self.colormap = pg.colormap.get("viridis")
        self.heatmap.scene().sigMouseMoved.connect(self._on_heatmap_hover)

        # Equal axis widths on both sides, so the heatmap's columns sit under the plot's points.
        for plot_item in (self.plot.getPlotItem(), item):
            plot_item.showAxis("right")
            for side in ("left", "right"):
                plot_item.getAxis(side).setWidth(AXIS_WIDTH)
        item.getAxis("right").setStyle(showValues=False)
        item.getAxis("bottom").setStyle(showValues=False)
        self.heatmap.setMinimumHeight(80)  # the window must still fit a 1366x768 screen
        self.plot.setMinimumHeight(80)

    @Slot()
    def _sync_boxes(self) -> None:
        self.frechet_box.setGeometry(self.plot.getPlotItem().getViewBox().sceneBoundingRect())

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
        ticks = [(i + 0.5, name) for i, name in enumerate(self.class_names)]
        self.heatmap.getPlotItem().getAxis("left").setTicks([ticks])

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
        self.frechet_curve.setData(shown, grouped(np.array([r.frechet for r in self.reports]), MAX_COLUMNS))
        if self.reports:
            last = self.reports[-1]
            self.floor_line.setValue(last.floor)
            self.floor_line.show()
            top = max(max(r.frechet for r in self.reports), last.floor) * 1.05
            self.frechet_box.setYRange(0, top, padding=0)
            self.readout.setText(f"<span style='color:{ACCURACY_COLOR}'>{100 * last.accuracy:.1f}%</span>  "
                                 f"<span style='color:{FRECHET_COLOR}'>FD {last.frechet:.1f}</span>")
        else:
            self.floor_line.hide()
        self._draw_heatmap(steps)

    def _draw_heatmap(self, steps: np.ndarray) -> None:
        """One PColorMeshItem, updated in place: no graphics items are created or dropped per report."""
        item = self.heatmap.getPlotItem()
        if not self.reports:
            if self.mesh is not None:
                self.mesh.hide()
            return
        per_class = grouped(np.array([r.per_class for r in self.reports], dtype=np.float64), MAX_COLUMNS)  # (T, K)
        steps = grouped(steps, MAX_COLUMNS)
        k = per_class.shape[1]
        if len(self.class_names) != k:
            self.set_class_names([str(i) for i in range(k)])
        xx, yy = np.meshgrid(_edges(steps), np.arange(k + 1), indexing="ij")
        if self.mesh is None:
            self.mesh = pg.PColorMeshItem(colorMap=self.colormap, levels=(0.0, 1.0))
            item.addItem(self.mesh)
        self.mesh.setData(xx, yy, per_class)
        self.mesh.show()
        item.setYRange(0, k, padding=0)

    def _on_heatmap_hover(self, pos) -> None:
        if not self.reports:
            return
        point = self.heatmap.getPlotItem().getViewBox().mapSceneToView(pos)
        steps = np.array([r.step for r in self.reports], dtype=np.float64)
        column = int(np.clip(np.searchsorted(_edges(steps), point.x()) - 1, 0, len(steps) - 1))
        row = int(point.y())
        report = self.reports[column]
        if 0 <= row < len(report.per_class):
            name = self.class_names[row] if row < len(self.class_names) else str(row)
            self.heatmap.setToolTip(f"class {name} at step {report.step}: {100 * report.per_class[row]:.0f}%")
