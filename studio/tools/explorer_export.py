"""The explorer's exports: GIF of the current animation, a class grid PNG, ONNX, safetensors, and the
run's full training checkpoint. Each has a method (tests call it) and a dialog wrapper."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QCheckBox, QFileDialog, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout

from cgan_core.errors import CganError


class ExplorerExports:
    """Owns the export controls; reads the explorer's public state (generator, frames, class grid) and
    reports failures through its `failed` signal."""

    def __init__(self, explorer) -> None:
        self.explorer = explorer
        self.row = self._build_row()

    def _build_row(self) -> QVBoxLayout:
        self.fps_spin = QSpinBox(objectName="fpsSpin", minimum=1, maximum=50, value=15)
        self.scale_spin = QSpinBox(objectName="scaleSpin", minimum=1, maximum=16, value=4)
        self.labels_check = QCheckBox("class labels", objectName="labelsCheck", checked=True)
        self.columns_check = QCheckBox("classes in columns", objectName="columnsCheck", checked=True)
        gif_row = QHBoxLayout()
        for widget in (QLabel("GIF fps"), self.fps_spin, QLabel("scale"), self.scale_spin):
            gif_row.addWidget(widget)
        gif_row.addStretch(1)
        grid_row = QHBoxLayout()
        grid_row.addWidget(self.labels_check)
        grid_row.addWidget(self.columns_check)
        grid_row.addStretch(1)
        buttons = QHBoxLayout()
        self.export_buttons = []
        for name, text, (title, default, pattern), export in (
                ("exportGifButton", "GIF…", ("Export GIF", "animation.gif", "GIF (*.gif)"), self.export_gif),
                ("exportGridButton", "Grid PNG…", ("Export grid", "grid.png", "PNG (*.png)"), self.export_grid),
                ("exportOnnxButton", "ONNX…", ("Export ONNX", "generator.onnx", "ONNX (*.onnx)"), self.export_onnx),
                ("exportSafetensorsButton", "safetensors…",
                 ("Export generator", "generator.safetensors", "safetensors (*.safetensors)"), self.export_safetensors),
                ("exportCheckpointButton", "Checkpoint…",
                 ("Export checkpoint", "checkpoint.pt", "PyTorch checkpoint (*.pt)"), self.export_checkpoint)):
            button = QPushButton(text, objectName=name)
            button.clicked.connect(lambda _=False, d=(title, default, pattern), f=export: self._save_as(*d, f))
            buttons.addWidget(button)
            self.export_buttons.append(button)
        box = QVBoxLayout()
        box.addWidget(QLabel("<b>Export</b>"))
        box.addLayout(gif_row)
        box.addLayout(grid_row)
        box.addLayout(buttons)
        return box

    def set_enabled(self, enabled: bool) -> None:
        for button in self.export_buttons:
            button.setEnabled(enabled)

    def _guard(self, action) -> bool:
        try:
            action()
            return True
        except CganError as exc:
            self.explorer.failed.emit(str(exc))
        except OSError as exc:
            self.explorer.failed.emit(f"{exc.filename or ''}: {exc.strerror or exc}")
        return False

    # ---- the exports -----------------------------------------------------------------------------
    def export_gif(self, path: Path) -> bool:
        from cgan_core.output.gif import save_gif

        frames = self.explorer.frames
        if frames is None or len(frames) < 2:
            self.explorer.failed.emit("Nothing to animate here: choose Classes, z walk, or Compare > same z across checkpoints.")
            return False
        return self._guard(lambda: save_gif(Path(path), frames, fps=self.fps_spin.value(),
                                            scale=self.scale_spin.value()))

    def export_grid(self, path: Path) -> bool:
        from cgan_core.output.sampling import class_grid, save_png

        ex = self.explorer
        grid = class_grid(ex.across_classes_images(), ex.columns_spin.value(), [str(c) for c in ex.info["class_names"]],
                          classes_in_columns=self.columns_check.isChecked(), labels=self.labels_check.isChecked())
        return self._guard(lambda: save_png(Path(path), grid, scale=self.scale_spin.value()))

    def export_onnx(self, path: Path) -> bool:
        from cgan_core.output.onnx_export import export_onnx

        return self._guard(lambda: export_onnx(self.explorer.g, Path(path), self.explorer.info))

    def export_safetensors(self, path: Path) -> bool:
        from cgan_core.output.checkpoint import save_generator

        g, info = self.explorer.g, self.explorer.info
        extra = {k: v for k, v in info.items() if k in ("preset", "dataset", "step", "ema")}
        return self._guard(lambda: save_generator(Path(path), g, info["class_names"], extra))

    def export_checkpoint(self, path: Path) -> bool:
        from cgan_core.output.safe_files import atomic_write_bytes, read_bytes
        from cgan_core.run.folder_writer import latest_checkpoint

        run_dir = self.explorer.run_dir
        if run_dir is None:
            self.explorer.failed.emit("A full checkpoint comes from a run: take a snapshot of the live run, or open a "
                             "generator.safetensors inside a run directory.")
            return False

        def copy() -> None:
            source, _ = latest_checkpoint(run_dir)  # validated before it is copied
            atomic_write_bytes(Path(path), read_bytes(source, run_dir))  # never through a link in the run
        return self._guard(copy)

    # ---- dialogs ---------------------------------------------------------------------------------
    def _save_as(self, title: str, default: str, pattern: str, export) -> None:
        path, _ = QFileDialog.getSaveFileName(self.explorer, title, default, pattern)
        if path:
            export(Path(path))
