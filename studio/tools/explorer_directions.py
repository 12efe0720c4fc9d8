"""The explorer's Directions tab: eight sliders along the generator's principal directions at a class
(of JᵀJ, see cgan_core.output.latent) or along raw z dimensions, each with a live preview of its own effect."""
from __future__ import annotations

import numpy as np
import torch
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QGridLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from cgan_core.output import latent

from ..plots.sample_view import to_qimage

DIRECTIONS = 8  # sliders on the Directions tab
SLIDER_RANGE = 30  # slider units; /10 -> -3..3 standard deviations


class DirectionsTab(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.directions: torch.Tensor | None = None  # computed once per generator and class
        layout = QVBoxLayout(self)
        self.basis_combo = QComboBox(objectName="basisCombo")
        self.basis_combo.addItems(["principal directions", "raw z dimensions"])
        self.basis_combo.currentIndexChanged.connect(lambda _: (self.invalidate(), self.changed.emit()))
        layout.addWidget(self.basis_combo)
        grid = QGridLayout()
        self.sliders, self.previews, self.labels = [], [], []
        for i in range(DIRECTIONS):
            slider = QSlider(Qt.Horizontal, minimum=-SLIDER_RANGE, maximum=SLIDER_RANGE, value=0)
            slider.setObjectName(f"directionSlider{i}")
            slider.valueChanged.connect(lambda _: self.changed.emit())
            label, preview = QLabel(f"{i}"), QLabel(objectName=f"directionPreview{i}")
            preview.setFixedSize(34, 34)
            grid.addWidget(label, i, 0)
            grid.addWidget(slider, i, 1)
            grid.addWidget(preview, i, 2)
            self.sliders.append(slider)
            self.previews.append(preview)
            self.labels.append(label)
        layout.addLayout(grid)
        reset = QPushButton("Reset sliders")
        reset.clicked.connect(lambda: [s.setValue(0) for s in self.sliders])
        layout.addWidget(reset)
        layout.addStretch(1)

    def invalidate(self) -> None:
        """Another generator or class: the directions are computed again when next shown."""
        self.directions = None

    def render(self, g, label: int, base: torch.Tensor, to_uint8) -> np.ndarray:
        """The image with every slider applied (1, H, W, C); each preview shows its direction alone."""
        if self.directions is None:
            if self.basis_combo.currentIndex() == 0:  # ~0.1-0.5 s for these generators: computed once per class
                self.directions, strengths = latent.principal_directions(g, label, DIRECTIONS, samples=8)
                names = [f"PC{i + 1} ({float(s):.1f})" for i, s in enumerate(strengths)]
            else:
                self.directions = torch.eye(g.latent_dim)[:DIRECTIONS]
                names = [f"z[{i}]" for i in range(len(self.directions))]
            for i, text in enumerate(names + [""] * (DIRECTIONS - len(names))):
                self.labels[i].setText(text)
        values = torch.tensor([s.value() / 10.0 for s in self.sliders[: len(self.directions)]])
        # Row 0: every slider applied; rows 1..k: each direction alone, for its preview.
        zs = torch.cat([(base + values @ self.directions).unsqueeze(0), base + values[:, None] * self.directions])
        images = to_uint8(latent.render(g, zs, torch.full((len(zs),), label, dtype=torch.int64)))
        for preview, image in zip(self.previews, images[1:]):
            preview.setPixmap(pixmap(image, 34))
        return images[:1]


def pixmap(image: np.ndarray, size: int):
    """Nearest-neighbour scaled to fit a size x size box."""
    from PySide6.QtGui import QPixmap

    return QPixmap.fromImage(to_qimage(image)).scaled(size, size, Qt.KeepAspectRatio, Qt.FastTransformation)
