"""The File menu's actions: open a past run, attach to a live one, export the grid, save the generator
or the best one. A part of MainWindow, composed in with what it needs passed in (never the window): the
run controller, the open run's folder and grid, how to show an opened run, attach, and show an error."""
from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

from cgan_core.errors import CganError
from cgan_core.output.sampling import save_png
from cgan_core.run.commands import SaveGenerator
from cgan_core.run.folder_reader import RunHistory, load_history, replay
from cgan_core.run.folder_writer import BEST_FILE, GENERATOR_FILE
from cgan_core.run.quality_file import load_reports


class FileActions:
    def __init__(self, parent: QWidget, controller, current: Callable[[], tuple], show_run: Callable[[RunHistory, list], None],
                 attach: Callable[[Path], None], show_error: Callable[[str], None]) -> None:
        """current() -> (the open run's folder or None, the newest SampleGrid or None)."""
        self.parent, self.controller, self.current = parent, controller, current
        self.show_run, self.attach, self.show_error = show_run, attach, show_error

    def open_run(self, path: Path) -> None:
        """Show a past run's curves, markers and latest grid (read-only); Start continues it."""
        if self.controller.running:
            self.show_error("Stop the current run before opening another.")
            return
        try:
            history = load_history(Path(path))
        except CganError as exc:
            self.show_error(str(exc))
            return
        # The events a live run's viewer was shown, through the window's one table from event to view.
        self.show_run(history, replay(history, load_reports(Path(path))))

    def export_grid(self, path: Path) -> None:
        grid = self.current()[1]
        if grid is None:
            self.show_error("There is no sample grid yet: start training first.")
            return
        save_png(Path(path), grid.image, scale=4)

    def save_generator(self, path: Path) -> None:
        if self.controller.running:
            self.controller.send(SaveGenerator(Path(path)))
        else:
            self._copy_from_run(GENERATOR_FILE, path, "There is no generator yet: start training first.")

    def save_best(self, path: Path) -> None:
        """The run's best generator (kept with live quality on), as measured so far."""
        self._copy_from_run(BEST_FILE, path, "There is no best generator yet: it is kept when live quality is on.")

    def _copy_from_run(self, name: str, path: Path, missing: str) -> None:
        run_dir = self.current()[0]
        if run_dir is not None and (run_dir / name).is_file():
            shutil.copyfile(run_dir / name, path)
        else:
            self.show_error(missing)

    def open_run_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self.parent, "Open run directory")
        if path:
            self.open_run(Path(path))

    def attach_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self.parent, "Attach to a live run directory")
        if path:
            self.attach(Path(path))

    def export_grid_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.parent, "Export grid", "grid.png", "PNG images (*.png)")
        if path:
            self.export_grid(Path(path))

    def save_generator_dialog(self, best: bool = False) -> None:
        name = BEST_FILE if best else GENERATOR_FILE
        path, _ = QFileDialog.getSaveFileName(self.parent, "Save best generator" if best else "Save generator",
                                              name, "safetensors (*.safetensors)")
        if path:
            (self.save_best if best else self.save_generator)(Path(path))
