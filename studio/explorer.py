"""The latent explorer: steer a copy of the generator (a snapshot of the live one, or a loaded
generator.safetensors), never the training weights.

Tabs: class-to-class interpolation (soft conditions), z walks (slerp), per-direction sliders
(raw z or the generator's principal directions), and comparisons (same z across classes, same z
across the run's checkpoints). A truncation slider applies to every z. Generators here are small:
a frame set is one batched forward pass on the CPU, a few tens of ms.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cgan_core import latent
from cgan_core.checkpoint import generator_from_tensors, load_generator
from cgan_core.errors import CganError
from cgan_core.events import SampleGrid
from cgan_core.sampling import make_grid, to_uint8
from cgan_core.timelapse import load_timelapse

from .explorer_directions import DirectionsTab
from .explorer_directions import pixmap as scaled_pixmap
from .explorer_export import ExplorerExports
from .sample_view import SampleGridView


def _spin(name: str, lo: int, hi: int, value: int) -> QSpinBox:
    spin = QSpinBox(objectName=name, minimum=lo, maximum=hi, value=value)
    spin.setKeyboardTracking(False)
    return spin


class ExplorerWindow(QWidget):
    snapshotRequested = Signal()
    failed = Signal(str)  # the main window shows it in its error dialog

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.Window)
        self.setObjectName("explorerWindow")
        self.setWindowTitle("cgan-studio: latent explorer")
        self.g, self.info, self.run_dir = None, None, None
        self.frames: np.ndarray | None = None  # (T, H, W, C) uint8: the current tab's animation
        self.play_timer = QTimer(self)
        self.play_timer.timeout.connect(self._advance)
        self.exports = ExplorerExports(self)
        self._build()
        self._set_enabled(False)

    # ---- construction ------------------------------------------------------------------------
    def _build_source_row(self) -> QHBoxLayout:
        self.source_label = QLabel("No generator: take a snapshot of the live one, or open a file.",
                                   objectName="explorerSource")
        self.snapshot_button = QPushButton("Snapshot live generator", objectName="snapshotButton")
        self.snapshot_button.clicked.connect(self.snapshotRequested.emit)
        self.open_button = QPushButton("Open generator…", objectName="openGeneratorButton")
        self.open_button.clicked.connect(self._open_dialog)
        top = QHBoxLayout()
        for w in (self.snapshot_button, self.open_button, self.source_label):
            top.addWidget(w)
        top.addStretch(1)
        return top

    def _build(self) -> None:
        top = self._build_source_row()
        self.class_combo = QComboBox(objectName="classCombo")
        self.from_combo, self.to_combo = QComboBox(objectName="fromCombo"), QComboBox(objectName="toCombo")
        self.seed_spin = _spin("seedSpin", 0, 1_000_000, 0)
        self.seed_to_spin = _spin("seedToSpin", 0, 1_000_000, 1)
        self.frames_spin = _spin("framesSpin", 2, 500, 50)
        self.truncation = QSlider(Qt.Horizontal, objectName="truncationSlider", minimum=5, maximum=100, value=100)
        self.truncation.setToolTip("Truncation psi: pull z toward the mean (1.00 = off)")
        self.truncation_label = QLabel("psi 1.00")
        form = QFormLayout()
        form.addRow("Class", self.class_combo)
        form.addRow("z seed", self.seed_spin)
        trunc = QHBoxLayout()
        trunc.addWidget(self.truncation, 1)
        trunc.addWidget(self.truncation_label)
        form.addRow("Truncation", trunc)
        self.tabs = QTabWidget(objectName="explorerTabs")
        self.tabs.addTab(self._build_classes_tab(), "Classes")
        self.tabs.addTab(self._build_walk_tab(), "z walk")
        self.directions_tab = DirectionsTab()
        self.directions_tab.changed.connect(self.refresh)
        self.tabs.addTab(self.directions_tab, "Directions")
        self.tabs.addTab(self._build_compare_tab(), "Compare")
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
        left = QVBoxLayout()
        left.addLayout(form)
        left.addWidget(self.tabs, 1)
        left.addLayout(self.exports.row)
        right = QVBoxLayout()
        right.addWidget(self.view, 1)
        right.addWidget(self.filmstrip)
        right.addLayout(scrub)
        body = QHBoxLayout()
        body.addLayout(left, 2)
        body.addLayout(right, 3)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(body, 1)
        self.class_combo.currentIndexChanged.connect(lambda _: self.directions_tab.invalidate())  # before refresh
        for signal in (self.class_combo.currentIndexChanged, self.seed_spin.valueChanged, self.truncation.valueChanged,
                       self.from_combo.currentIndexChanged, self.to_combo.currentIndexChanged,
                       self.seed_to_spin.valueChanged, self.frames_spin.valueChanged, self.tabs.currentChanged):
            signal.connect(self.refresh)
        self.resize(980, 620)

    @staticmethod
    def _form_tab(rows: list[tuple[str, QWidget]], note: str) -> QWidget:
        tab = QWidget()
        form = QFormLayout(tab)
        for label, widget in rows:
            form.addRow(label, widget)
        form.addRow(QLabel(note))
        return tab

    def _build_classes_tab(self) -> QWidget:
        return self._form_tab([("From class", self.from_combo), ("To class", self.to_combo), ("Frames", self.frames_spin)],
                              "One z; the condition slides from one class to the other\n(soft class probabilities).")

    def _build_walk_tab(self) -> QWidget:
        return self._form_tab([("To z seed", self.seed_to_spin)],
                              "The class above, z along the great circle (slerp)\nfrom the z seed to this one; "
                              "frames as on Classes.")

    def _build_compare_tab(self) -> QWidget:
        self.compare_combo = QComboBox(objectName="compareCombo")
        self.compare_combo.addItems(["same z across all classes", "same z across checkpoints"])
        self.compare_combo.currentIndexChanged.connect(self.refresh)
        self.columns_spin = _spin("columnsSpin", 1, 20, 10)
        self.columns_spin.valueChanged.connect(self.refresh)
        return self._form_tab([("View", self.compare_combo), ("z per class", self.columns_spin)],
                              "Across checkpoints: the run's fixed-noise grid over\ntraining (saved every "
                              "'Samples every' steps).")

    # ---- the generator -----------------------------------------------------------------------------
    def load_file(self, path: Path) -> bool:
        try:
            g, info = load_generator(Path(path))
        except CganError as exc:
            self.failed.emit(str(exc))
            return False
        run_dir = Path(path).parent if (Path(path).parent / "checkpoints").is_dir() else None
        step = f", step {info['step']}" if info.get("step") else ""
        self.set_generator(g, info, f"{Path(path).name}{step} ({Path(path).parent})", run_dir)
        return True

    def set_snapshot(self, snapshot) -> None:
        """A GeneratorCopy of the live run (numpy copies: nothing shared with the training thread)."""
        tensors = {k: torch.from_numpy(v) for k, v in snapshot.arrays.items()}
        try:
            g, info = generator_from_tensors(tensors, snapshot.meta, f"snapshot at step {snapshot.step}")
        except CganError as exc:
            self.failed.emit(str(exc))
            return
        self.set_generator(g, info, f"live snapshot, step {snapshot.step}", Path(snapshot.run_dir))

    def set_generator(self, g, info: dict, source: str, run_dir: Path | None) -> None:
        self.g, self.info, self.run_dir = g.eval(), info, run_dir
        self.source_label.setText(source)
        names = [str(n) for n in info["class_names"]]
        for combo, index in ((self.class_combo, 0), (self.from_combo, 0), (self.to_combo, len(names) - 1)):
            keep = combo.currentIndex()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            combo.setCurrentIndex(keep if 0 <= keep < len(names) and combo.count() == len(names) else index)
            combo.blockSignals(False)
        self.directions_tab.invalidate()
        self._set_enabled(True)
        self.refresh()

    def _set_enabled(self, enabled: bool) -> None:
        for w in (self.tabs, self.class_combo, self.seed_spin, self.truncation, self.play_button, self.frame_slider):
            w.setEnabled(enabled)
        self.exports.set_enabled(enabled)

    # ---- rendering ----------------------------------------------------------------------------------
    @property
    def psi(self) -> float:
        return self.truncation.value() / 100.0

    def z(self, seed: int | None = None) -> torch.Tensor:
        seed = self.seed_spin.value() if seed is None else seed
        return latent.truncate(latent.noise(self.g.latent_dim, seed), self.psi)[0]

    def _uint8(self, images: torch.Tensor) -> np.ndarray:
        return to_uint8(images, self.info["output_range"]).permute(0, 2, 3, 1).numpy()

    def refresh(self, *_) -> None:
        if self.g is None:
            return
        self.truncation_label.setText(f"psi {self.psi:.2f}")
        tab = self.tabs.currentIndex()
        if tab == 0:
            a, b = self.from_combo.currentIndex(), self.to_combo.currentIndex()
            self._set_frames(self._uint8(latent.class_interpolation(self.g, self.z(), a, b, self.frames_spin.value())))
        elif tab == 1:
            walk = latent.z_walk(self.g, self.class_combo.currentIndex(), self.z(), self.z(self.seed_to_spin.value()),
                                 self.frames_spin.value())
            self._set_frames(self._uint8(walk))
        elif tab == 2:
            self._render_directions()
        elif self.compare_combo.currentIndex() == 0:
            self._render_across_classes()
        else:
            self._render_timelapse()

    def _set_frames(self, frames: np.ndarray | None, labels: list[str] | None = None) -> None:
        self.frames, self.frame_labels = frames, labels
        count = 0 if frames is None else len(frames)
        self.frame_slider.blockSignals(True)
        self.frame_slider.setMaximum(max(0, count - 1))
        self.frame_slider.setValue(min(self.frame_slider.value(), max(0, count - 1)))
        self.frame_slider.blockSignals(False)
        self._show_frame(self.frame_slider.value())

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

    def across_classes_images(self) -> np.ndarray:
        """uint8 (K * n, C, H, W): n consecutive seeds from the z seed, each in every class (class-major)."""
        z = torch.stack([self.z(self.seed_spin.value() + i) for i in range(self.columns_spin.value())])
        return to_uint8(latent.across_classes(self.g, z), self.info["output_range"]).numpy()

    def _render_across_classes(self) -> None:
        images, n = self.across_classes_images(), self.columns_spin.value()
        grid = make_grid(images, n)
        names = tuple(str(n) for n in self.info["class_names"])
        self._set_frames(None)
        self.view.set_grid(SampleGrid(-1, grid, names, n, images.shape[2] + 2), caption="same z in every class")

    def _render_timelapse(self) -> None:
        frames = load_timelapse(self.run_dir) if self.run_dir is not None else []
        if not frames:
            self._set_frames(None)
            self.view.set_grid(SampleGrid(-1, np.zeros((8, 8, 1), np.uint8), (), 1, 8),
                               caption="no timelapse: it needs a run with saved grids")
            return
        self._set_frames(np.stack([f for _, f in frames]), [f"step {s}" for s, _ in frames])

    def _render_directions(self) -> None:
        label = self.class_combo.currentIndex()
        images = self.directions_tab.render(self.g, label, self.z(), self._uint8)
        self._set_frames(images, [f"class {self.info['class_names'][label]}, directions applied"])

    def _open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open generator", "", "safetensors (*.safetensors)")
        if path:
            self.load_file(Path(path))

    # ---- playback ----------------------------------------------------------------------------------
    def _toggle_play(self, playing: bool) -> None:
        self.play_button.setText("Pause" if playing else "Play")
        if playing:
            self.play_timer.start(int(1000 / max(1.0, self.exports.fps_spin.value())))
        else:
            self.play_timer.stop()

    def _advance(self) -> None:
        if self.frames is None or len(self.frames) < 2:
            return
        self.frame_slider.setValue((self.frame_slider.value() + 1) % len(self.frames))

    def closeEvent(self, event) -> None:
        self.play_button.setChecked(False)
        super().closeEvent(event)
