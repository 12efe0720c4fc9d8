"""The File menu's actions: open a past run, export the grid, save the generator."""
from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from cgan_core.errors import CganError
from cgan_core.sampling import save_png


class FileActions:
    """Mixed into MainWindow: uses its loss plot, grid, panel, worker and error dialog."""

    def open_run(self, path: Path) -> None:
        """Show a past run's curves, markers and latest grid (read-only); Start continues it."""
        from cgan_core.history import load_history
        from cgan_core.quality import load_reports

        if self.running:
            self.show_error("Stop the current run before opening another.")
            return
        try:
            history = load_history(Path(path))
        except CganError as exc:
            self.show_error(str(exc))
            return
        self.loss_plot.set_history(history.steps, history.columns)
        for change in history.changes:
            self.loss_plot.add_marker(change.step, change.label)
        for steps, columns in history.abandoned:
            self.loss_plot.add_ghost(steps, columns)
        for event in history.rollbacks:
            self.loss_plot.add_marker(event.to_step, event.label, "#e06c75", left=True)
            self.timeline.add_rollback(event.to_step, event.from_step, event.label)
        if history.grid is not None:
            self._on_grid(history.grid)
        self.quality_view.set_reports(load_reports(Path(path)))
        self.config_panel.load(history.config)
        self.run_dir = self.resume_dir = history.run_dir
        self.run_dir_label.setText(str(history.run_dir))
        last = int(history.steps[-1]) if len(history.steps) else 0
        self.status_label.setText(f"Opened run at step {last} (read-only). Start (F5) continues it.")

    def export_grid(self, path: Path) -> None:
        if self.last_grid is None:
            self.show_error("There is no sample grid yet: start training first.")
            return
        save_png(Path(path), self.last_grid.image, scale=4)

    def save_generator(self, path: Path) -> None:
        if self.worker is not None:
            self.worker.send("save_generator", str(path))
        elif self.run_dir is not None and (self.run_dir / "generator.safetensors").is_file():
            shutil.copyfile(self.run_dir / "generator.safetensors", path)
        else:
            self.show_error("There is no generator yet: start training first.")

    def _open_run_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open run directory")
        if path:
            self.open_run(Path(path))

    def _export_grid_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export grid", "grid.png", "PNG images (*.png)")
        if path:
            self.export_grid(Path(path))

    def _save_generator_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save generator", "generator.safetensors",
                                              "safetensors (*.safetensors)")
        if path:
            self.save_generator(Path(path))
