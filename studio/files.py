"""The File menu's actions: open a past run, export the grid, save the generator or the best one.
A part of MainWindow, composed in: it reads the window's public views and its run controller."""
from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from cgan_core.commands import SaveGenerator
from cgan_core.errors import CganError
from cgan_core.history import load_history, replay
from cgan_core.quality import load_reports
from cgan_core.run_files import BEST_FILE, GENERATOR_FILE
from cgan_core.sampling import save_png


class FileActions:
    def __init__(self, window) -> None:
        self.window = window

    def open_run(self, path: Path) -> None:
        """Show a past run's curves, markers and latest grid (read-only); Start continues it."""
        w = self.window
        if w.running:
            w.show_error("Stop the current run before opening another.")
            return
        try:
            history = load_history(Path(path))
        except CganError as exc:
            w.show_error(str(exc))
            return
        for view in (w.loss_plot, w.quality_view, w.timeline):
            view.clear()
        # The same path as a live run's events: one table in the window from event type to view.
        w.deliver(replay(history, load_reports(Path(path))))
        w.loss_plot.redraw()
        w.config_panel.load(history.config)
        w.run_dir = w.resume_dir = history.run_dir
        w.status.set_run(str(history.run_dir))
        last = int(history.steps[-1]) if len(history.steps) else 0
        w.status.set_message(f"Opened run at step {last} (read-only). Start (F5) continues it.")

    def export_grid(self, path: Path) -> None:
        if self.window.last_grid is None:
            self.window.show_error("There is no sample grid yet: start training first.")
            return
        save_png(Path(path), self.window.last_grid.image, scale=4)

    def save_generator(self, path: Path) -> None:
        w = self.window
        if w.running:
            w.controller.send(SaveGenerator(Path(path)))
        else:
            self._copy_from_run(GENERATOR_FILE, path, "There is no generator yet: start training first.")

    def save_best(self, path: Path) -> None:
        """The run's best generator (kept with live quality on), as measured so far."""
        self._copy_from_run(BEST_FILE, path, "There is no best generator yet: it is kept when live quality is on.")

    def _copy_from_run(self, name: str, path: Path, missing: str) -> None:
        run_dir = self.window.run_dir
        if run_dir is not None and (run_dir / name).is_file():
            shutil.copyfile(run_dir / name, path)
        else:
            self.window.show_error(missing)

    def open_run_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self.window, "Open run directory")
        if path:
            self.open_run(Path(path))

    def attach_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self.window, "Attach to a live run directory")
        if path:
            self.window.attach(Path(path))

    def export_grid_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.window, "Export grid", "grid.png", "PNG images (*.png)")
        if path:
            self.export_grid(Path(path))

    def save_generator_dialog(self, best: bool = False) -> None:
        name = BEST_FILE if best else GENERATOR_FILE
        path, _ = QFileDialog.getSaveFileName(self.window, "Save best generator" if best else "Save generator",
                                              name, "safetensors (*.safetensors)")
        if path:
            (self.save_best if best else self.save_generator)(Path(path))
