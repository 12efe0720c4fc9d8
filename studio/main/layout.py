"""The main window's layout: the configuration panel, the loss plot over the checkpoint timeline, and the
sample grid over the quality panel, in one splitter whose state the settings keep."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QScrollArea, QSpinBox, QSplitter, QVBoxLayout, QWidget


def sample_every_spin() -> QSpinBox:
    spin = QSpinBox(objectName="sampleEverySpin", minimum=1, maximum=100_000, value=100)
    spin.setKeyboardTracking(False)
    spin.setToolTip("Refresh the sample grid every N steps")
    return spin


def main_splitter(config_panel: QWidget, loss_plot: QWidget, timeline: QWidget, sample_grid: QWidget,
                  sample_every: QSpinBox, quality_view: QWidget) -> QSplitter:
    scroll = QScrollArea(widgetResizable=True)
    scroll.setWidget(config_panel)
    scroll.setMinimumWidth(250)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    grid_header = QHBoxLayout()
    grid_header.addWidget(QLabel("<b>Samples</b> every"))
    grid_header.addWidget(sample_every)
    grid_header.addWidget(QLabel("steps"))
    grid_header.addStretch(1)
    grid_box = QWidget()
    grid_layout = QVBoxLayout(grid_box)
    grid_layout.setContentsMargins(4, 0, 0, 0)
    grid_layout.addLayout(grid_header)
    grid_layout.addWidget(sample_grid, 1)
    plots = QWidget()
    plots_layout = QVBoxLayout(plots)
    plots_layout.setContentsMargins(0, 0, 0, 0)
    plots_layout.addWidget(loss_plot, 1)
    plots_layout.addWidget(timeline)
    right = QSplitter(Qt.Vertical, objectName="rightSplitter")
    right.addWidget(grid_box)
    right.addWidget(quality_view)
    right.setSizes([360, 400])
    splitter = QSplitter(Qt.Horizontal, objectName="mainSplitter")
    for widget in (scroll, plots, right):
        splitter.addWidget(widget)
    splitter.setStretchFactor(1, 3)
    splitter.setStretchFactor(2, 2)
    splitter.setSizes([292, 598, 390])  # the panel fits its fields beside a vertical scrollbar
    return splitter
