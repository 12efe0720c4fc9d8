"""The Runs view's overlay: one series of several runs, smoothed, by step or by training time, with each
run's hyperparameter changes and rollbacks as markers in its colour."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from cgan_core.compare.summary import RunCurves

from .loss_plot import cheap_grid
from .series import decimated

COLOURS = ("#4e9af1", "#f1a14e", "#5cc46a", "#e05c8a", "#b48ef0", "#e6d45a", "#4ed8d0", "#d0d0d0")
SERIES = {"g": "G loss", "d1": "D loss on real", "d2": "D loss on fake", "accuracy": "quality: accuracy"}


class RunsPlot(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runs: list[tuple[str, RunCurves]] = []
        self.series = QComboBox(objectName="runsSeries")
        for key, title in SERIES.items():
            self.series.addItem(title, key)
        self.axis = QComboBox(objectName="runsAxis")
        self.axis.addItem("by step", "step")
        self.axis.addItem("by training time", "seconds")
        self.smooth = QSpinBox(minimum=1, maximum=1000, value=50, objectName="runsSmooth")
        controls = QHBoxLayout()
        for widget in (QLabel("Show"), self.series, self.axis, QLabel("smooth"), self.smooth):
            controls.addWidget(widget)
        controls.addStretch(1)
        self.plot = pg.PlotWidget(background="#1e1f22", objectName="runsPlot")
        cheap_grid(self.plot.getPlotItem())
        self.legend = self.plot.getPlotItem().addLegend(offset=(-10, 10), labelTextColor="#dddddd")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(self.plot, 1)
        for signal in (self.series.currentIndexChanged, self.axis.currentIndexChanged, self.smooth.valueChanged):
            signal.connect(self.redraw)

    def show_runs(self, runs: list[tuple[str, RunCurves]]) -> None:
        self.runs = runs
        self.redraw()

    @property
    def drawn(self) -> int:
        """How many runs the plot shows a curve of (tests and screenshots read it)."""
        return sum(1 for item in self.plot.getPlotItem().listDataItems()
                   if item.getData()[0] is not None and len(item.getData()[0]) > 0)

    def redraw(self, *_) -> None:
        item = self.plot.getPlotItem()
        item.clear()
        self.legend.clear()
        key, by = self.series.currentData(), self.axis.currentData()
        item.setLabel("bottom", "step" if by == "step" else "training time (s)")
        item.setLabel("left", SERIES[key])
        for i, (name, curves) in enumerate(self.runs):
            colour = COLOURS[i % len(COLOURS)]
            x, y = self._xy(curves, key, by)
            if len(x):
                item.plot(x, y, pen=pg.mkPen(colour, width=2), name=name,
                          symbol="o" if key == "accuracy" else None, symbolSize=5, symbolBrush=colour)
            for step, label in curves.markers:
                at = step if by == "step" else _seconds_at(curves, step)
                line = pg.InfiniteLine(at, angle=90, pen=pg.mkPen(colour, width=1, style=pg.QtCore.Qt.DashLine),
                                       label=label, labelOpts={"color": colour, "position": 0.92, "rotateAxis": (1, 0)})
                item.addItem(line)

    def _xy(self, curves: RunCurves, key: str, by: str) -> tuple[np.ndarray, np.ndarray]:
        if key == "accuracy":
            x = curves.quality_steps if by == "step" else np.array([_seconds_at(curves, s) for s in curves.quality_steps])
            return x.astype(np.float64), curves.accuracy * 100.0
        x = curves.steps if by == "step" else curves.seconds
        columns = max(200, int(self.plot.getPlotItem().getViewBox().width()))
        return decimated(x, curves.losses[key], columns, self.smooth.value())


def _seconds_at(curves: RunCurves, step: int) -> float:
    """The training time at `step` (the nearest recorded row)."""
    if not len(curves.steps):
        return 0.0
    i = min(int(np.searchsorted(curves.steps, step)), len(curves.steps) - 1)
    return float(curves.seconds[i])
