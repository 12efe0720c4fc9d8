"""The checkpoint timeline under the loss plot: healthy snapshots (green) and rollbacks (red), on the
loss plot's step axis. Hovering shows the reason; clicking a snapshot previews its grid, and
"Roll back here" restores it as a new branch."""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget


class Timeline(QWidget):
    previewRequested = Signal(int)
    rollbackRequested = Signal(int)

    def __init__(self, link_to: pg.PlotWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("timeline")
        self.plot = pg.PlotWidget(background="#1e1f22")
        self.plot.setFixedHeight(54)
        item = self.plot.getPlotItem()
        item.hideAxis("left")
        item.hideAxis("bottom")
        item.setMouseEnabled(x=False, y=False)
        item.setYRange(-1, 1)
        item.setXLink(link_to.getPlotItem())
        self.snapshot_points = pg.ScatterPlotItem(size=10, brush=pg.mkBrush("#5cc46a"), pen=None, hoverable=True,
                                                  tip=lambda x, y, data: f"healthy snapshot at step {int(x)}: "
                                                                         "click to preview its samples")
        self.rollback_points = pg.ScatterPlotItem(size=12, symbol="t", brush=pg.mkBrush("#e06c75"), pen=None,
                                                  hoverable=True, tip=lambda x, y, data: data)
        self.snapshot_points.sigClicked.connect(self._on_clicked)
        item.addItem(self.snapshot_points)
        item.addItem(self.rollback_points)
        self.selected: int | None = None
        self.label = QLabel("Snapshots appear here while training", objectName="timelineLabel")
        self.label.setStyleSheet("color: #aaaaaa;")
        self.label.setSizePolicy(pg.QtWidgets.QSizePolicy.Ignored, pg.QtWidgets.QSizePolicy.Preferred)
        self.rollback_button = QPushButton("Roll back here", objectName="rollbackButton")
        self.rollback_button.setToolTip("Restore the selected snapshot and continue from it as a new branch")
        self.rollback_button.setEnabled(False)
        self.rollback_button.clicked.connect(self._on_rollback)
        row = QHBoxLayout()
        row.addWidget(self.label, 1)
        row.addWidget(self.rollback_button)
        layout = pg.QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        layout.addLayout(row)

    def set_snapshots(self, steps: tuple[int, ...]) -> None:
        self.snapshot_points.setData([float(s) for s in steps], [0.0] * len(steps))
        if self.selected not in steps:
            self.select(None)

    def add_rollback(self, to_step: int, from_step: int, reason: str) -> None:
        self.rollback_points.addPoints([{"pos": (float(from_step), 0.0),
                                         "data": f"rollback from step {from_step} to {to_step}: {reason}"}])

    def clear(self) -> None:
        self.snapshot_points.clear()
        self.rollback_points.clear()
        self.select(None)

    def select(self, step: int | None) -> None:
        self.selected = step
        self.rollback_button.setEnabled(step is not None)
        self.label.setText(f"Snapshot at step {step}: its samples are shown" if step is not None
                           else "Snapshots: click one to preview it")

    @Slot(object, object)
    def _on_clicked(self, item, points, *args) -> None:
        if len(points):
            step = int(points[0].pos().x())
            self.select(step)
            self.previewRequested.emit(step)

    @Slot()
    def _on_rollback(self) -> None:
        if self.selected is not None:
            self.rollbackRequested.emit(self.selected)
