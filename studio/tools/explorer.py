"""The latent explorer: steer a copy of the generator (a snapshot of the live one, or a loaded
generator.safetensors), never the training weights.

Tabs: class-to-class interpolation (soft conditions), z walks (slerp), per-direction sliders
(raw z or the generator's principal directions), and comparisons (same z across classes, same z
across the run's checkpoints). A truncation slider applies to every z. Generators here are small:
a frame set is one batched forward pass on the CPU, a few tens of ms.
"""
from __future__ import annotations

from enum import IntEnum
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import Qt, Signal
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

from cgan_core.errors import CganError
from cgan_core.output import latent
from cgan_core.output.checkpoint import generator_from_tensors, load_generator
from cgan_core.output.sampling import make_grid, to_uint8
from cgan_core.run.events import SampleGrid
from cgan_core.run.folder_reader import is_run
from cgan_core.run.timelapse import load_timelapse

from .explorer_directions import DirectionsTab
from .explorer_export import ExplorerExports
from .explorer_player import FramePlayer


def _spin(name: str, lo: int, hi: int, value: int) -> QSpinBox:
    spin = QSpinBox(objectName=name, minimum=lo, maximum=hi, value=value)
    spin.setKeyboardTracking(False)
    return spin


class Tab(IntEnum):
    """The explorer's tabs, in the order they are added."""

    CLASSES = 0
    Z_WALK = 1
    DIRECTIONS = 2
    COMPARE = 3


class ExplorerWindow(QWidget):
    snapshotRequested = Signal()
    failed = Signal(str)  # the main window shows it in its error dialog

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.Window)
        self.setObjectName("explorerWindow")
        self.setWindowTitle("cgan-studio: latent explorer")
        self.g, self.info, self.run_dir = None, None, None
        self.exports = ExplorerExports(self)
        self.player = FramePlayer(lambda: self.exports.fps_spin.value())
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
        left = QVBoxLayout()
        left.addLayout(form)
        left.addWidget(self.tabs, 1)
        left.addLayout(self.exports.row)
        body = QHBoxLayout()
        body.addLayout(left, 2)
        body.addWidget(self.player, 3)
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
        run_dir = Path(path).parent if is_run(Path(path).parent) else None  # a run's own generator file
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
        for w in (self.tabs, self.class_combo, self.seed_spin, self.truncation):
            w.setEnabled(enabled)
        self.player.set_enabled(enabled)
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
        match Tab(self.tabs.currentIndex()):
            case Tab.CLASSES:
                a, b = self.from_combo.currentIndex(), self.to_combo.currentIndex()
                frames = latent.class_interpolation(self.g, self.z(), a, b, self.frames_spin.value())
                self.player.set_frames(self._uint8(frames))
            case Tab.Z_WALK:
                walk = latent.z_walk(self.g, self.class_combo.currentIndex(), self.z(), self.z(self.seed_to_spin.value()),
                                     self.frames_spin.value())
                self.player.set_frames(self._uint8(walk))
            case Tab.DIRECTIONS:
                self._render_directions()
            case Tab.COMPARE if self.compare_combo.currentIndex() == 0:
                self._render_across_classes()
            case Tab.COMPARE:
                self._render_timelapse()

    def across_classes_images(self) -> np.ndarray:
        """uint8 (K * n, C, H, W): n consecutive seeds from the z seed, each in every class (class-major)."""
        z = torch.stack([self.z(self.seed_spin.value() + i) for i in range(self.columns_spin.value())])
        return to_uint8(latent.across_classes(self.g, z), self.info["output_range"]).numpy()

    def _render_across_classes(self) -> None:
        images, n = self.across_classes_images(), self.columns_spin.value()
        grid = make_grid(images, n)
        names = tuple(str(n) for n in self.info["class_names"])
        self.player.show_still(SampleGrid(-1, grid, names, n, images.shape[2] + 2), "same z in every class")

    def _render_timelapse(self) -> None:
        frames = load_timelapse(self.run_dir) if self.run_dir is not None else []
        if not frames:
            self.player.show_still(SampleGrid(-1, np.zeros((8, 8, 1), np.uint8), (), 1, 8),
                                   "no timelapse: it needs a run with saved grids")
            return
        self.player.set_frames(np.stack([f for _, f in frames]), [f"step {s}" for s, _ in frames])

    def _render_directions(self) -> None:
        label = self.class_combo.currentIndex()
        images = self.directions_tab.render(self.g, label, self.z(), self._uint8)
        self.player.set_frames(images, [f"class {self.info['class_names'][label]}, directions applied"])

    def _open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open generator", "", "safetensors (*.safetensors)")
        if path:
            self.load_file(Path(path))

    @property
    def frames(self) -> np.ndarray | None:
        """The current tab's animation, (T, H, W, C) uint8, or None for a still picture."""
        return self.player.frames

    def closeEvent(self, event) -> None:
        self.player.stop()
        super().closeEvent(event)
