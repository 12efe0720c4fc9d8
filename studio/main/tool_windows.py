"""Tools > Runs… and Tools > Latent explorer…: secondary windows, built on first use. A part of the main
window, composed in with what it needs passed in: the run controller, where the open run is, how to open
a run in the main window and how to show an error."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QWidget

from cgan_core import paths
from cgan_core.run import commands as cmd
from cgan_core.run.events import GeneratorCopy
from cgan_core.run.folder_reader import generator_of


class ToolWindows:
    def __init__(self, parent: QWidget, controller, run_dir: Callable[[], Path | None],
                 open_run: Callable[[Path], None], show_error: Callable[[str], None]) -> None:
        self.parent, self.controller = parent, controller
        self.run_dir, self.open_run, self.show_error = run_dir, open_run, show_error
        self.explorer = None
        self.runs_window = None

    def show_runs(self) -> None:
        """The Runs view: the runs folder (and the open run's folder), side by side."""
        from ..tools.runs_view import RunsWindow

        if self.runs_window is None:
            folders = [paths.runs_dir()]
            run_dir = self.run_dir()
            if run_dir is not None and run_dir.parent not in folders:
                folders.append(run_dir.parent)
            self.runs_window = RunsWindow(self.parent, folders)
            self.runs_window.openRequested.connect(self.open_run)
        else:
            self.runs_window.refresh()
        self.runs_window.show()
        self.runs_window.raise_()

    def show_explorer(self) -> None:
        """Open the latent explorer on a snapshot of the live generator, or on the open run's file."""
        from ..tools.explorer import ExplorerWindow

        if self.explorer is None:
            self.explorer = ExplorerWindow(self.parent)
            self.explorer.snapshotRequested.connect(self._explorer_snapshot)
            self.explorer.failed.connect(self.show_error)
        self.explorer.show()
        self.explorer.raise_()
        if self.explorer.g is None:
            self._explorer_snapshot()

    def _explorer_snapshot(self) -> None:
        run_dir = self.run_dir()
        if self.controller.running:
            self.controller.send(cmd.CopyGenerator())  # answered by a GeneratorCopy event
        elif run_dir is not None and generator_of(run_dir) is not None:
            self.explorer.load_file(generator_of(run_dir))
        else:
            self.explorer.source_label.setText("No live run: start training, or open a generator file.")

    def show_generator_copy(self, snapshot: GeneratorCopy) -> None:
        if self.explorer is not None:
            self.explorer.set_snapshot(snapshot)

    def close(self) -> None:
        if self.explorer is not None:
            self.explorer.close()
