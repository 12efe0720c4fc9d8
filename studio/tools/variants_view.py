"""The variants of a fork side by side, while they train and once they are ready: one fixed-noise grid
each (the run's noise, so the same cell is the same z in every variant), their losses overlaid in the
variants' colours, smoothed and decimated to the plot's width, how far each is, what its guard said and
its live quality; then the choice: continue from one, from the best, or keep the run as it was."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from cgan_core.run.events import Forked, VariantsReady, VariantTurn

from ..plots.loss_plot import cheap_grid
from ..plots.runs_plot import COLOURS
from ..plots.sample_view import SampleGridView
from ..plots.series import LossSeries

STATS = {"g": "G loss", "d1": "D loss on real", "d2": "D loss on fake"}
SMOOTH = 25


class _Column:
    """One variant: its title, grid, status line, button and curves."""

    def __init__(self, index: int, label: str, choose) -> None:
        self.colour = COLOURS[index % len(COLOURS)]
        self.title = QLabel(f"<b style='color:{self.colour}'>{label}</b>", objectName=f"variantTitle{index}")
        self.grid = SampleGridView()
        self.grid.setMinimumSize(180, 180)
        self.status = QLabel("waiting for its first turn", objectName=f"variantStatus{index}", wordWrap=True)
        # Room for what ready() writes (steps, D's outputs, quality, "best") from the start: the grids took the
        # height and left the status one line, so a screenshot showed no quality and no "best".
        self.status.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.status.setMinimumHeight(4 * self.status.fontMetrics().lineSpacing() + 4)
        self.button = QPushButton("Continue from this", objectName=f"variantChoose{index}")
        self.button.setToolTip("The run goes on from this variant's state and settings (the others stay on disk)")
        self.button.clicked.connect(lambda: choose(label))
        self.series = LossSeries(tuple(STATS), SMOOTH)
        self.steps, self.stopped = 0, ""


class VariantsWindow(QWidget):
    chooseRequested = Signal(str)  # a variant's label, "best", or "" to keep the run as it was

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.Window)
        self.setObjectName("variantsWindow")
        self.setWindowTitle("Variants")
        self.resize(1100, 760)
        self.fork_step: int | None = None
        self.columns: list[_Column] = []
        self.header = QLabel(objectName="variantsHeader", wordWrap=True)
        self.stat = QComboBox(objectName="variantsStat")
        for key, title in STATS.items():
            self.stat.addItem(title, key)
        self.stat.currentIndexChanged.connect(self.redraw)
        self.plot = pg.PlotWidget(background="#1e1f22", objectName="variantsPlot")
        cheap_grid(self.plot.getPlotItem())
        self.plot.setLabel("bottom", "step")
        self.plot.getPlotItem().getAxis("left").enableAutoSIPrefix(False)  # "G loss (x0.001)" confuses
        self.legend = self.plot.getPlotItem().addLegend(offset=(-10, 10), labelTextColor="#dddddd")
        self.curves: list[pg.PlotDataItem] = []
        self.best_button = QPushButton("Continue from the best", objectName="variantsBest", enabled=False)
        self.best_button.setToolTip("The variant with the best live quality (accuracy, then Fréchet distance)")
        self.best_button.clicked.connect(lambda: self.chooseRequested.emit("best"))
        self.keep_button = QPushButton("Keep the run as it was", objectName="variantsKeep")
        self.keep_button.clicked.connect(lambda: self.chooseRequested.emit(""))
        self.grids = QGridLayout()
        top = QHBoxLayout()
        top.addWidget(self.header, 1)
        for widget in (self.best_button, self.keep_button):
            top.addWidget(widget)
        plot_bar = QHBoxLayout()
        plot_bar.addWidget(QLabel("Show"))
        plot_bar.addWidget(self.stat)
        plot_bar.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(self.grids, 3)
        layout.addLayout(plot_bar)
        layout.addWidget(self.plot, 2)

    # ---- what the run sends ------------------------------------------------------------------------
    def add_turn(self, turn: VariantTurn) -> None:
        if turn.fork_step != self.fork_step:
            self._start(turn.fork_step, turn.horizon)
        while len(self.columns) <= turn.index:
            self._add_column(len(self.columns), turn.label)
        column = self.columns[turn.index]
        column.steps, column.stopped = turn.steps, turn.stopped
        if turn.losses is not None:
            column.series.append(turn.losses.steps, {n: turn.losses.column(n) for n in STATS})
        if turn.grid is not None:
            column.grid.set_grid(turn.grid, f"step {turn.grid.step}")
        column.status.setText(f"{turn.steps:,} / {turn.horizon:,} steps" + (f"; stopped: {turn.stopped}" if turn.stopped else ""))
        self.redraw()

    def ready(self, event: VariantsReady) -> None:
        if event.step != self.fork_step:
            self._start(event.step, event.horizon)
        for index, result in enumerate(event.results):
            while len(self.columns) <= index:
                self._add_column(len(self.columns), result.label)
            quality = event.quality[index]
            means = {k: result.means.get(k, float("nan")) for k in ("d_real", "d_fake")}
            parts = [f"{result.steps:,} steps, {result.images_per_second:,.0f} img/s",
                     f"D(real) {means['d_real']:.2f}, D(fake) {means['d_fake']:.2f}"]
            if quality is not None:
                parts.append(f"accuracy {quality[0]:.1%}, Fréchet {quality[1]:.2f}")
            if result.diverged_at is not None:
                parts.append(f"stopped at step {result.diverged_at}: {result.stopped_by}")
            parts += [f"advice: {a}" for a in result.advice]
            if result.label == event.best:
                parts.append("<b>best by live quality</b>")
            self.columns[index].status.setText("<br>".join(parts))
            self.columns[index].button.setEnabled(result.diverged_at is None)
        self.best_button.setEnabled(event.best is not None)
        self.header.setText(f"Fork at step {event.step:,}: every variant trained {event.horizon:,} steps (or "
                            f"stopped). Kept in {event.folder}. The run waits for your choice.")

    def closed(self, event: Forked) -> None:
        """The choice was made: the view stays, for reference, with its buttons off."""
        if event.step != self.fork_step:
            return
        for column in self.columns:
            column.button.setEnabled(False)
        self.best_button.setEnabled(False)
        self.keep_button.setEnabled(False)
        outcome = f"the run went on with <b>{event.promoted}</b>" if event.promoted else "the run was kept as it was"
        self.header.setText(f"Fork at step {event.step:,}: {outcome}. The variants are kept in {event.folder}.")

    # ---- drawing -----------------------------------------------------------------------------------
    def _start(self, fork_step: int, horizon: int) -> None:
        self.fork_step = fork_step
        for column in self.columns:
            for widget in (column.title, column.grid, column.status, column.button):
                widget.setParent(None)
        self.columns, self.curves = [], []
        self.plot.getPlotItem().clear()
        self.legend.clear()
        for button in (self.best_button, self.keep_button):
            button.setEnabled(button is self.keep_button)
        self.header.setText(f"Fork at step {fork_step:,}: the variants train {horizon:,} steps each, in turns, on "
                            "the same batches and noise; the run waits. Continue from one at any time.")

    def _add_column(self, index: int, label: str) -> None:
        column = _Column(index, label, self.chooseRequested.emit)
        for row, widget in enumerate((column.title, column.grid, column.status, column.button)):
            self.grids.addWidget(widget, row, index)
        self.grids.setRowStretch(1, 1)
        self.columns.append(column)
        curve = self.plot.plot(pen=pg.mkPen(column.colour, width=2), name=label)
        self.curves.append(curve)

    def redraw(self, *_) -> None:
        """Each curve smoothed and decimated to the plot's width: the cost is the pixels, not the steps."""
        key, width = self.stat.currentData(), max(100, self.plot.width())
        self.plot.setLabel("left", STATS[key])
        for column, curve in zip(self.columns, self.curves):
            if len(column.series):
                x, y, _ = column.series.view(key, width, smooth=True)
                curve.setData(np.asarray(x, np.float64), np.asarray(y, np.float64))

    @property
    def drawn(self) -> int:
        """How many variants the plot shows a curve of (tests and screenshots read it)."""
        return sum(1 for curve in self.curves if curve.getData()[0] is not None and len(curve.getData()[0]) > 0)
