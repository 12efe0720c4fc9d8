"""The explorer's player: one tab's frames shown one at a time, with a filmstrip of the whole animation,
a scrub slider and Play. It owns the frames; the explorer hands it a new set whenever a setting changes."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from cgan_core.run.events import SampleGrid

from ..plots.sample_view import SampleGridView
from .explorer_directions import pixmap as scaled_pixmap


class FramePlayer(QWidget):
    def __init__(self, fps, parent: QWidget | None = None) -> None:
        """fps: a callable giving the playback rate (the export row's frames per second)."""
        super().__init__(parent)
        self.fps = fps
        self.frames: np.ndarray | None = None  # (T, H, W, C) uint8: the current tab's animation
        self.frame_labels: list[str] | None = None
        self.play_timer = QTimer(self)
        self.play_timer.timeout.connect(self._advance)
        self.view = SampleGridView()
        self.view.setObjectName("explorerView")
        self.view.setToolTip("")
        self.frame_slider = QSlider(Qt.Horizontal, objectName="frameSlider", minimum=0, maximum=0)
        self.frame_slider.valueChanged.connect(self._show_frame)
        self.play_button = QPushButton("Play", objectName="playButton", checkable=True)
        self.play_button.toggled.connect(self._toggle_play)
        self.filmstrip = QLabel(objectName="filmstrip")
        self.filmstrip.setToolTip("The whole animation; the current frame is outlined")
        self.filmstrip.setMinimumHeight(40)
        scrub = QHBoxLayout()
        scrub.addWidget(self.play_button)
        scrub.addWidget(self.frame_slider, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.filmstrip)
        layout.addLayout(scrub)

    def set_frames(self, frames: np.ndarray | None, labels: list[str] | None = None) -> None:
        self.frames, self.frame_labels = frames, labels
        count = 0 if frames is None else len(frames)
        self.frame_slider.blockSignals(True)
        self.frame_slider.setMaximum(max(0, count - 1))
        self.frame_slider.setValue(min(self.frame_slider.value(), max(0, count - 1)))
        self.frame_slider.blockSignals(False)
        self._show_frame(self.frame_slider.value())

    def show_still(self, grid: SampleGrid, caption: str) -> None:
        """One picture instead of an animation (a comparison grid, or a note)."""
        self.set_frames(None)
        self.view.set_grid(grid, caption=caption)

    def set_enabled(self, enabled: bool) -> None:
        for w in (self.play_button, self.frame_slider):
            w.setEnabled(enabled)

    def stop(self) -> None:
        self.play_button.setChecked(False)

    def _show_frame(self, index: int) -> None:
        if self.frames is None or not len(self.frames):
            self.filmstrip.clear()
            return
        self._draw_filmstrip(index)
        frame = self.frames[index]
        caption = self.frame_labels[index] if self.frame_labels else f"frame {index + 1} / {len(self.frames)}"
        self.view.set_grid(SampleGrid(-1, frame, (), 1, frame.shape[0]), caption=caption)

    def _draw_filmstrip(self, current: int, slots: int = 16) -> None:
        """Up to `slots` evenly spaced frames side by side, the one nearest the current frame outlined."""
        count = len(self.frames)
        picks = np.unique(np.linspace(0, count - 1, min(slots, count)).round().astype(int))
        tiles = [np.pad(self.frames[i], ((2, 2), (2, 2), (0, 0))) for i in picks]
        nearest = int(np.abs(picks - current).argmin())
        tiles[nearest] = tiles[nearest].copy()
        tiles[nearest][[0, 1, -2, -1], :] = 255
        tiles[nearest][:, [0, 1, -2, -1]] = 255
        strip = np.concatenate(tiles, axis=1)
        width = max(100, self.filmstrip.width())
        pixmap = scaled_pixmap(strip, width)
        self.filmstrip.setPixmap(pixmap.scaledToWidth(width, Qt.FastTransformation))

    def _toggle_play(self, playing: bool) -> None:
        self.play_button.setText("Pause" if playing else "Play")
        if playing:
            self.play_timer.start(int(1000 / max(1.0, self.fps())))
        else:
            self.play_timer.stop()

    def _advance(self) -> None:
        if self.frames is None or len(self.frames) < 2:
            return
        self.frame_slider.setValue((self.frame_slider.value() + 1) % len(self.frames))
