"""The live loss plot: d1, d2 and g per batch, with smoothing, log-y, markers and a hover readout.

Chunks go into a LossSeries (series.py) as they arrive; the curves redraw on a QTimer, only when something
changed, as often as a FramePacer allows (frame_pacer.py: the frames' measured cost kept within 1.5% of the
wall time, 2.5-5 frames a second; what the user asks for at once), with as many points as the plot has pixel
columns: a redraw costs the same at step 200,000 as at step 200 (tests/studio/test_long_runs.py holds it
to a budget).
"""
from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QGraphicsItem,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from studio.plots.overfitting_label import OverfittingLabel
from studio.plots.plot_placement import CORNERS, emptiest_corner, label_anchor

from .frame_pacer import FramePacer
from .series import LossSeries

CURVES = {"d1": ("#4e9af1", "D on real"), "d2": ("#f1a14e", "D on fake"), "g": ("#5cc46a", "G")}
TICK_MS = 100  # how often the plot looks for something to draw; the pacer says whether to
GHOST_COLUMNS = 1000  # an abandoned stretch is drawn once, at about this many columns
AXIS_ENDS = (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)


def axis_end(step: float) -> float:
    """Where the step axis ends while the plot follows the run: the next of 1, 1.2, 1.5, 2, ... 8, 10 (times
    a power of ten) past the newest step. The axis then keeps its range for minutes at a time, so its ticks
    and labels, and the timeline linked under it, are not redrawn with every chunk of losses."""
    scale, past = 10.0 ** np.floor(np.log10(max(step, 1.0))), max(step, 1.0) * 1.02
    return next(scale * k * f for k in (1, 10) for f in AXIS_ENDS if scale * k * f > past)


def cheap_grid(item: pg.PlotItem) -> None:
    """Fewer grid lines: the third tick level's many faint lines cost ~9 ms of every repaint of a 580x590
    plot (measured: 11.5 ms with them, 2.7 ms with major and minor ticks, 1.7 ms with major ticks only).
    The value axes keep their minor ticks (a loss is read to 0.1); the step axis needs only the major.
    Each axis is kept as a pixmap: its grid spans the plot, so every new point of a curve repainted its
    ticks, labels and lines (a third of the GUI thread's time with the GIL held, py-spy, mlp-label-product);
    an axis renders again only when its range or size changes (AxisItem updates itself then)."""
    item.showGrid(x=True, y=True, alpha=0.15)
    for side, level in (("left", 1), ("right", 1), ("bottom", 0)):
        axis = item.getAxis(side)
        axis.setStyle(maxTickLevel=level)
        axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


def legend_corner(box: pg.ViewBox, legend: pg.LegendItem, current: str, curves: list, markers: list) -> str:
    """The corner where the legend covers the fewest points of `curves` and no marker's label."""
    if box.width() < 1 or box.height() < 1:
        return current
    rect = legend.boundingRect()
    size = ((rect.width() + 10) / box.width(), (rect.height() + 10) / box.height())
    drawn = [(x, y) for x, y in (c.getData() for c in curves) if x is not None and len(x)]
    labels = []
    for line in markers:
        rect = box.mapSceneToView(line.label.sceneBoundingRect()).boundingRect()
        labels.append((rect.left(), rect.right(), min(rect.top(), rect.bottom()), max(rect.top(), rect.bottom())))
    return emptiest_corner(current, drawn, box.viewRange(), size, labels)


class _PacedPlotWidget(pg.PlotWidget):
    """A PlotWidget whose paints count toward its pacer's frame cost."""

    def __init__(self, pacer: FramePacer, **kwargs) -> None:
        super().__init__(**kwargs)
        self._pacer = pacer

    def paintEvent(self, event) -> None:
        began = time.perf_counter()
        super().paintEvent(event)
        self._pacer.spent(time.perf_counter() - began)


class LossPlot(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.series = LossSeries(tuple(CURVES), window=25)
        self._branched_at: set[int] = set()  # branches the data started before their RolledBack came
        self.markers: list[pg.InfiniteLine] = []
        self.ghosts: list[pg.PlotDataItem] = []  # abandoned stretches after rollbacks
        self._dirty = False  # new data to draw, when the pacer allows
        self._asked = False  # the user changed the view: drawn at the next tick
        self.pacer = FramePacer()
        self._x_end: float | None = None  # the step axis's end while following (axis_end)
        self.plot = _PacedPlotWidget(self.pacer, background="#1e1f22")
        self.plot.setObjectName("lossPlot")
        item = self.plot.getPlotItem()
        item.setLabel("bottom", "step")
        item.setLabel("left", "loss")
        item.getAxis("left").enableAutoSIPrefix(False)  # "loss (x0.001)" with values of 700 confuses
        # No pyqtgraph downsampling or clipping: the series hands over only what the pixels can show.
        cheap_grid(item)
        self.legend = item.addLegend(labelTextColor="#dddddd", brush=(30, 31, 34, 200))
        self.legend_corner = "bottom right"
        self._move_legend(self.legend_corner)
        self.raw_curves, self.smooth_curves = {}, {}
        for name, (color, title) in CURVES.items():
            raw = pg.mkColor(color)
            raw.setAlpha(90)
            self.raw_curves[name] = item.plot(pen=pg.mkPen(raw, width=1))
            self.smooth_curves[name] = item.plot(pen=pg.mkPen(color, width=2), name=f"{name}  ({title})")
        item.getViewBox().sigRangeChangedManually.connect(self._on_manual_range)
        item.getViewBox().sigXRangeChanged.connect(self._on_x_range)
        item.getViewBox().sigRangeChanged.connect(self._place_legend)
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self._build_controls()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self.controls)
        layout.addWidget(self.plot, 1)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._on_tick)
        self.timer.start(TICK_MS)

    def _build_controls(self) -> None:
        self.controls = QHBoxLayout()
        self.toggles = {}
        for name, (color, title) in CURVES.items():
            box = QCheckBox(name)
            box.setChecked(True)
            box.setToolTip(f"Show {name}: {title}")
            box.setStyleSheet(f"QCheckBox {{ color: {color}; font-weight: bold; }}")
            box.toggled.connect(self._on_toggled)
            self.toggles[name] = box
            self.controls.addWidget(box)
        self.controls.addSpacing(12)
        self.controls.addWidget(QLabel("smooth"))
        self.smooth_spin = QSpinBox(objectName="smoothSpin", minimum=1, maximum=5000, value=25)
        self.smooth_spin.setToolTip("Moving-average window of the bold curves, in steps (1 = off)")
        self.smooth_spin.valueChanged.connect(self._on_smoothing)
        self.controls.addWidget(self.smooth_spin)
        self.log_box = QCheckBox("log y", objectName="logYCheck")
        self.log_box.toggled.connect(lambda on: self.plot.getPlotItem().setLogMode(y=on))
        self.controls.addWidget(self.log_box)
        self.controls.addSpacing(8)
        self.overfitting = OverfittingLabel()
        self.controls.addWidget(self.overfitting)
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
    @property
    def steps(self) -> np.ndarray:
        return self.series.steps

    def append(self, chunk) -> None:
        """A LossChunk. Steps that go back start a branch: what they replace is greyed."""
        for steps, columns in self.series.append(chunk.steps, {name: chunk.column(name) for name in CURVES}):
            self.add_ghost(steps, columns)
            self._branched_at.add(int(steps[0]) - 1)  # its RolledBack, when it comes, has nothing left to cut
        self.overfitting.add(chunk)
        self._dirty = True

    def clear(self) -> None:
        self.series = LossSeries(tuple(CURVES), window=self.smooth_spin.value())
        self.overfitting.clear()
        self._branched_at = set()
        for item in self.markers + self.ghosts:
            self.plot.removeItem(item)
        self.markers, self.ghosts = [], []
        self._dirty, self._asked, self._x_end = True, True, None

    def add_ghost(self, steps: np.ndarray, columns: dict[str, np.ndarray]) -> None:
        """An abandoned stretch, greyed, decimated once, and left out of the auto-range: a diverged spike
        of 1e9 must not flatten the live curves."""
        stretch = LossSeries(tuple(CURVES))
        stretch.append(steps, columns)
        for name in CURVES:
            x, y, _ = stretch.view(name, GHOST_COLUMNS)
            ghost = pg.PlotDataItem(x, np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0),
                                    pen=pg.mkPen((140, 140, 140, 110), width=1))
            ghost.setZValue(-10)
            self.plot.getPlotItem().addItem(ghost, ignoreBounds=True)
            self.ghosts.append(ghost)

    def branch(self, to_step: int, text: str) -> None:
        """A rollback: the curves restart from `to_step`; the abandoned stretch stays visible, greyed.
        A followed run's rows can come before its RolledBack event: then the data has branched already."""
        if to_step in self._branched_at:
            self._branched_at.discard(to_step)
        elif (abandoned := self.series.cut_after(to_step)) is not None:
            self.add_ghost(*abandoned)
        self.add_marker(to_step, text, color="#e06c75")
        self._dirty = True

    def add_marker(self, step: int, text: str, color: str = "#c678dd") -> pg.InfiniteLine:
        """A labelled vertical line; its label sits on the side of the line with more of the view."""
        # Labels alternate between two heights so that close markers do not overprint each other.
        height = 0.96 if len(self.markers) % 2 == 0 else 0.88
        anchor = label_anchor(step, self._x_range())
        line = pg.InfiniteLine(pos=step, angle=90, pen=pg.mkPen(color, width=1, style=Qt.DashLine),
                               label=text, labelOpts={"position": height, "color": color,
                                                      "fill": (30, 31, 34, 220), "anchors": [anchor, anchor]})
        line.setToolTip(f"step {step}: {text}")
        self.plot.addItem(line)
        self.markers.append(line)
        return line

    @property
    def point_count(self) -> int:
        return len(self.series)

    # ---- drawing -----------------------------------------------------------------------------
    @Slot(int)
    def _on_smoothing(self, window: int) -> None:
        self.series.set_window(window)
        # Unsmoothed, the bold curves are the raw min-max strokes: at width 2 they cost 2.5x to paint.
        for name, (color, _) in CURVES.items():
            self.smooth_curves[name].setPen(pg.mkPen(color, width=2 if window > 1 else 1))
        self._dirty = self._asked = True

    def _x_range(self) -> tuple[float, float]:
        x0, x1 = self.plot.getPlotItem().getViewBox().viewRange()[0]
        return float(x0), float(x1)

    @Slot()
    def _on_x_range(self, *args) -> None:
        if not self.following:  # zoomed or panned: the decimation follows the view
            self._dirty = self._asked = True
        x_range = self._x_range()
        for line in self.markers:
            if (anchor := label_anchor(line.value(), x_range)) != tuple(line.label.anchors[0]):
                line.label.anchors = [anchor, anchor]
                line.label.updatePosition()

    @Slot()
    def _place_legend(self, *args) -> None:
        """The legend moves to the corner the drawn curves leave emptiest (the newest steps are often under
        the bottom right corner)."""
        curves = [c for c in (*self.raw_curves.values(), *self.smooth_curves.values()) if c.isVisible()]
        corner = legend_corner(self.plot.getPlotItem().getViewBox(), self.legend, self.legend_corner, curves,
                               self.markers)
        if corner != self.legend_corner:
            self._move_legend(corner)

    def _move_legend(self, corner: str) -> None:
        self.legend_corner = corner
        anchor, offset = CORNERS[corner]
        self.legend.anchor(itemPos=anchor, parentPos=anchor, offset=offset)

    def _columns(self) -> int:
        """Blocks to draw: one per two pixel columns. A min-max stroke two pixels wide looks the same as
        two strokes one pixel wide, and paints in two thirds of the time (measured, six curves)."""
        width = int(self.plot.getPlotItem().getViewBox().width())
        return max(width, 20) // 2

    @Slot()
    def _on_tick(self) -> None:
        if self._dirty and (self._asked or self.pacer.due()):
            self.redraw()

    def redraw(self) -> None:
        """The curves at the plot's width: the whole run when following, else the range in view."""
        if not self._dirty:
            return
        self._dirty = self._asked = False
        self.pacer.frame()
        began = time.perf_counter()
        columns = self._columns()
        x_range = None if self.following else tuple(self.plot.getPlotItem().getViewBox().viewRange()[0])
        smoothing = self.smooth_spin.value() > 1
        for name in CURVES:
            shown = self.toggles[name].isChecked()
            if shown and smoothing:
                # Decimated, the points are min-max strokes joined block to block: no gaps, one stroke a
                # pixel column at most. (A filled band costs 2x more to paint, as its area is larger.)
                x, y, _ = self.series.view(name, columns, x_range)
                self.raw_curves[name].setData(x, y)
            x, y, _ = self.series.view(name, columns, x_range, smooth=smoothing)
            self.smooth_curves[name].setData(x, y)
        self._apply_visibility()
        self._place_legend()
        if self.following and len(self.series):
            end, start = axis_end(float(self.steps[-1])), float(self.steps[0])
            if end != self._x_end:  # the y axis keeps its auto-range; the step axis moves only in steps
                self._x_end = end
                self.plot.getPlotItem().getViewBox().setXRange(start, end, padding=0.01)
        self.pacer.spent(time.perf_counter() - began)

    @Slot()
    def _on_toggled(self, *args) -> None:
        self._dirty = self._asked = True
        self._apply_visibility()

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
        self._x_end, self._dirty, self._asked = None, True, True

    @property
    def following(self) -> bool:
        return not self.follow_button.isEnabled()

    @Slot(object)
    def _on_mouse_moved(self, pos) -> None:
        steps = self.series.steps
        if not len(steps) or not self.plot.sceneBoundingRect().contains(pos):
            return
        x = self.plot.getPlotItem().getViewBox().mapSceneToView(pos).x()
        i = int(np.clip(np.searchsorted(steps, x), 0, len(steps) - 1))
        parts = "  ".join(f"{n} {self.series.values(n)[i]:.3f}" for n in CURVES)
        self.readout.setText(f"step {int(steps[i])}  {parts}")
