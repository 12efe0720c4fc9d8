"""The live loss plot: d1, d2 and g per batch, with smoothing, log-y, markers and a hover readout.

Chunks are appended to numpy buffers as they arrive; the curves redraw on a QTimer, so a burst of
chunks costs one redraw. Peak downsampling and clip-to-view keep 100k+ points fluid.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QSpinBox, QVBoxLayout, QWidget

CURVES = {"d1": ("#4e9af1", "D on real"), "d2": ("#f1a14e", "D on fake"), "g": ("#5cc46a", "G")}
REDRAW_MS = 100


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over `window` points (shorter at the start), NaN-free input assumed."""
    if window <= 1 or len(values) == 0:
        return values
    cumsum = np.cumsum(np.insert(values.astype(np.float64), 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(idx - window, 0)
    return ((cumsum[idx] - cumsum[lo]) / (idx - lo)).astype(np.float32)


class LossPlot(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.steps = np.zeros(0, np.int64)
        self.values = {name: np.zeros(0, np.float32) for name in CURVES}
        self.markers: list[pg.InfiniteLine] = []
        self.ghosts: list[pg.PlotDataItem] = []  # abandoned stretches after rollbacks
        self._dirty = False
        self.plot = pg.PlotWidget(background="#1e1f22")
        self.plot.setObjectName("lossPlot")
        item = self.plot.getPlotItem()
        item.showGrid(x=True, y=True, alpha=0.15)
        item.setLabel("bottom", "step")
        item.setLabel("left", "loss")
        item.getAxis("left").enableAutoSIPrefix(False)  # "loss (x0.001)" with values of 700 confuses
        item.setDownsampling(mode="peak", auto=True)
        item.setClipToView(True)
        self.legend = item.addLegend(offset=(-10, -30), labelTextColor="#dddddd", brush=(30, 31, 34, 200))
        self.raw_curves, self.smooth_curves = {}, {}
        for name, (color, title) in CURVES.items():
            raw = pg.mkColor(color)
            raw.setAlpha(90)
            self.raw_curves[name] = item.plot(pen=pg.mkPen(raw, width=1))
            self.smooth_curves[name] = item.plot(pen=pg.mkPen(color, width=2), name=f"{name}  ({title})")
        item.getViewBox().sigRangeChangedManually.connect(self._on_manual_range)
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self._build_controls()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self.controls)
        layout.addWidget(self.plot, 1)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.redraw)
        self.timer.start(REDRAW_MS)

    def _build_controls(self) -> None:
        self.controls = QHBoxLayout()
        self.toggles = {}
        for name, (color, title) in CURVES.items():
            box = QCheckBox(name)
            box.setChecked(True)
            box.setToolTip(f"Show {name}: {title}")
            box.setStyleSheet(f"QCheckBox {{ color: {color}; font-weight: bold; }}")
            box.toggled.connect(self._apply_visibility)
            self.toggles[name] = box
            self.controls.addWidget(box)
        self.controls.addSpacing(12)
        self.controls.addWidget(QLabel("smooth"))
        self.smooth_spin = QSpinBox(objectName="smoothSpin", minimum=1, maximum=5000, value=25)
        self.smooth_spin.setToolTip("Moving-average window of the bold curves, in steps (1 = off)")
        self.smooth_spin.valueChanged.connect(self._mark_dirty)
        self.controls.addWidget(self.smooth_spin)
        self.log_box = QCheckBox("log y", objectName="logYCheck")
        self.log_box.toggled.connect(lambda on: self.plot.getPlotItem().setLogMode(y=on))
        self.controls.addWidget(self.log_box)
        self.follow_button = QPushButton("Follow", objectName="followButton")
        self.follow_button.setToolTip("Follow the newest steps again after zooming or panning")
        self.follow_button.setEnabled(False)
        self.follow_button.clicked.connect(self.follow)
        self.controls.addWidget(self.follow_button)
        self.controls.addStretch(1)
        self.readout = QLabel("", objectName="hoverReadout")
        self.readout.setStyleSheet("color: #aaaaaa; font-family: monospace;")
        self.readout.setMinimumWidth(0)  # the readout shrinks first: the window must fit small screens
        self.readout.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.controls.addWidget(self.readout)

    # ---- data ------------------------------------------------------------------------------
    def append(self, chunk) -> None:
        self.steps = np.concatenate([self.steps, chunk.steps])
        for name in CURVES:
            self.values[name] = np.concatenate([self.values[name], chunk.column(name)])
        self._dirty = True

    def set_history(self, steps: np.ndarray, columns: dict[str, np.ndarray]) -> None:
        self.clear()
        self.steps = steps.astype(np.int64)
        self.values = {name: columns[name].astype(np.float32) for name in CURVES}
        self._dirty = True
        self.redraw()

    def clear(self) -> None:
        self.steps = np.zeros(0, np.int64)
        self.values = {name: np.zeros(0, np.float32) for name in CURVES}
        for item in self.markers + self.ghosts:
            self.plot.removeItem(item)
        self.markers, self.ghosts = [], []
        self._dirty = True

    def add_ghost(self, steps: np.ndarray, columns: dict[str, np.ndarray]) -> None:
        """An abandoned stretch, greyed, and left out of the auto-range: a diverged spike of 1e9 must not
        flatten the live curves."""
        for name in CURVES:
            ghost = pg.PlotDataItem(steps, np.nan_to_num(columns[name], nan=0.0, posinf=0.0, neginf=0.0),
                                    pen=pg.mkPen((140, 140, 140, 110), width=1))
            ghost.setZValue(-10)
            self.plot.getPlotItem().addItem(ghost, ignoreBounds=True)
            self.ghosts.append(ghost)

    def branch(self, to_step: int, text: str) -> None:
        """A rollback: the curves restart from `to_step`; the abandoned stretch stays visible, greyed."""
        keep = self.steps <= to_step
        if not keep.all():
            self.add_ghost(self.steps[~keep], {name: v[~keep] for name, v in self.values.items()})
            self.steps = self.steps[keep]
            self.values = {name: v[keep] for name, v in self.values.items()}
        self.add_marker(to_step, text, color="#e06c75", left=True)
        self._dirty = True

    def add_marker(self, step: int, text: str, color: str = "#c678dd", left: bool = False) -> pg.InfiniteLine:
        """A labelled vertical line; `left` puts the label before the line (rollbacks sit at the newest steps)."""
        # Labels alternate between two heights so that close markers do not overprint each other.
        height = 0.96 if len(self.markers) % 2 == 0 else 0.88
        anchor = (1, 0.5) if left else (0, 0.5)
        line = pg.InfiniteLine(pos=step, angle=90, pen=pg.mkPen(color, width=1, style=Qt.DashLine),
                               label=text, labelOpts={"position": height, "color": color,
                                                      "fill": (30, 31, 34, 220), "anchors": [anchor, anchor]})
        line.setToolTip(f"step {step}: {text}")
        self.plot.addItem(line)
        self.markers.append(line)
        return line

    @property
    def point_count(self) -> int:
        return len(self.steps)

    # ---- drawing -----------------------------------------------------------------------------
    @Slot()
    def _mark_dirty(self) -> None:
        self._dirty = True

    @Slot()
    def redraw(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        window = self.smooth_spin.value()
        for name in CURVES:
            values = self.values[name]
            self.raw_curves[name].setData(self.steps, values)
            self.smooth_curves[name].setData(self.steps, moving_average(values, window))
        self._apply_visibility()

    @Slot()
    def _apply_visibility(self) -> None:
        smoothing = self.smooth_spin.value() > 1
        for name, box in self.toggles.items():
            self.smooth_curves[name].setVisible(box.isChecked())
            self.raw_curves[name].setVisible(box.isChecked() and smoothing)

    @Slot()
    def _on_manual_range(self, *args) -> None:
        self.follow_button.setEnabled(True)

    @Slot()
    def follow(self) -> None:
        self.plot.getPlotItem().enableAutoRange()
        self.follow_button.setEnabled(False)

    @property
    def following(self) -> bool:
        return not self.follow_button.isEnabled()

    @Slot(object)
    def _on_mouse_moved(self, pos) -> None:
        if not len(self.steps) or not self.plot.sceneBoundingRect().contains(pos):
            return
        x = self.plot.getPlotItem().getViewBox().mapSceneToView(pos).x()
        i = int(np.clip(np.searchsorted(self.steps, x), 0, len(self.steps) - 1))
        parts = "  ".join(f"{n} {self.values[n][i]:.3f}" for n in CURVES)
        self.readout.setText(f"step {int(self.steps[i])}  {parts}")
