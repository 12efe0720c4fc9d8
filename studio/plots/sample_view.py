"""The per-class sample grid: fixed noise, one row per class, rows labelled with the class names.

Scaled with nearest-neighbour, so the generator's pixels stay crisp at any size.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

LABEL_WIDTH = 56


def to_qimage(image: np.ndarray) -> QImage:
    """uint8 (H, W, C) -> a QImage that owns its pixels (the numpy buffer may go away)."""
    image = np.ascontiguousarray(image)
    h, w, c = image.shape
    fmt = QImage.Format_Grayscale8 if c == 1 else QImage.Format_RGB888
    return QImage(image.data, w, h, w * c, fmt).copy()


class SampleGridView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sampleGrid")
        self.setMinimumSize(200, 150)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.image: QImage | None = None
        self.array: np.ndarray | None = None
        self.class_names: tuple[str, ...] = ()
        self.step = None
        self.caption: str | None = None  # replaces "step N" above the grid when set
        self.cell = 30
        self.setToolTip("Fixed noise, one row per class: the same z in every column")

    def set_grid(self, grid, caption: str | None = None) -> None:
        self.caption = caption
        self.array = grid.image
        self.image = to_qimage(grid.image)
        self.class_names, self.step, self.cell = grid.class_names, grid.step, grid.cell
        self.update()

    def is_blank(self) -> bool:
        return self.array is None or int(self.array.max()) == int(self.array.min())

    def _target(self) -> QRect:
        """The largest nearest-neighbour scaling of the grid that fits beside the row labels."""
        avail_w, avail_h = self.width() - LABEL_WIDTH - 8, self.height() - 24
        scale = max(0.25, min(avail_w / self.image.width(), avail_h / self.image.height()))
        w, h = int(self.image.width() * scale), int(self.image.height() * scale)
        return QRect(LABEL_WIDTH + max(0, (avail_w - w) // 2), 20, w, h)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#1e1f22"))
        painter.setPen(QColor("#aaaaaa"))
        if self.image is None:
            painter.drawText(self.rect(), Qt.AlignCenter, "Samples appear here once training starts")
            return
        target = self._target()
        painter.setRenderHint(QPainter.SmoothPixmapTransform, False)
        painter.drawImage(target, self.image)
        painter.drawText(QRect(LABEL_WIDTH, 0, target.width(), 18), Qt.AlignLeft | Qt.AlignVCenter,
                         self.caption if self.caption is not None else f"step {self.step}" if self.step is not None else "")
        rows = max(1, len(self.class_names))
        row_h = target.height() / rows
        for r, name in enumerate(self.class_names):
            rect = QRect(0, int(target.top() + r * row_h), LABEL_WIDTH - 6, int(row_h))
            painter.drawText(rect, Qt.AlignRight | Qt.AlignVCenter, name)
        painter.end()
