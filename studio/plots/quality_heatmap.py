"""The quality panel's per-class heatmap: classes down, measurements across, one colour per cell (viridis,
yellow good). One PColorMeshItem updated in place: no graphics items are created or dropped per report."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

BACKGROUND = "#1e1f22"


def edges(steps: np.ndarray) -> np.ndarray:
    """Column edges halfway between measurements (intervals may vary in auto mode)."""
    if len(steps) == 1:
        return np.array([steps[0] - 50.0, steps[0] + 50.0])
    mids = (steps[1:] + steps[:-1]) / 2.0
    return np.concatenate([[2 * steps[0] - mids[0]], mids, [2 * steps[-1] - mids[-1]]])


class ClassHeatmap(pg.PlotWidget):
    def __init__(self, describe: Callable[[int, int], str], parent: QWidget | None = None) -> None:
        """`describe(column, row)`: the tooltip of a cell (a measurement's index, a class's index)."""
        super().__init__(parent, background=BACKGROUND)
        self.setObjectName("qualityHeatmap")
        self.describe = describe
        self.class_names: list[str] = []
        self.steps = np.zeros(0)
        self._title = ""
        item = self.getPlotItem()
        item.setLabel("left", "class")
        item.getAxis("left").setTicks([[]])  # class names arrive with the first grid
        item.invertY(True)
        item.setMouseEnabled(x=False, y=False)
        self.mesh: pg.PColorMeshItem | None = None
        self.colormap = pg.colormap.get("viridis")
        self.scene().sigMouseMoved.connect(self._on_hover)

    def set_title(self, text: str) -> None:
        if text != self._title:  # a title set again relays the plot out: only when it changes
            self._title = text
            self.getPlotItem().setTitle(text, size="8pt", color="#999")

    def set_class_names(self, names: list[str]) -> None:
        self.class_names = list(names)
        self.getPlotItem().getAxis("left").setTicks([[(i + 0.5, name) for i, name in enumerate(self.class_names)]])

    def draw(self, steps: np.ndarray, values: np.ndarray | None) -> None:
        """`values` (measurements, classes) in 0..1 at `steps`; None hides the map."""
        if values is None or not len(steps):
            self.steps = np.zeros(0)
            if self.mesh is not None:
                self.mesh.hide()
            return
        self.steps = steps
        k = values.shape[1]
        if len(self.class_names) != k:
            self.set_class_names([str(i) for i in range(k)])
        xx, yy = np.meshgrid(edges(steps), np.arange(k + 1), indexing="ij")
        if self.mesh is None:
            # Fixed levels: pyqtgraph rescales each setData to the data's min-max unless told not to, and the
            # title promises purple 0% to yellow 100% (a run at 90% everywhere read as all purple).
            self.mesh = pg.PColorMeshItem(colorMap=self.colormap, levels=(0.0, 1.0), enableAutoLevels=False)
            self.getPlotItem().addItem(self.mesh)
        self.mesh.setData(xx, yy, values)
        self.mesh.show()
        self.getPlotItem().setYRange(0, k, padding=0)

    def _on_hover(self, pos) -> None:
        if not len(self.steps):
            return
        point = self.getPlotItem().getViewBox().mapSceneToView(pos)
        column = int(np.clip(np.searchsorted(edges(self.steps), point.x()) - 1, 0, len(self.steps) - 1))
        row = int(point.y())
        if 0 <= row < len(self.class_names):
            self.setToolTip(self.describe(column, row))
