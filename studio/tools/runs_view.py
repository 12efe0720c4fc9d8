"""The Runs view (Tools > Runs…): every run in the runs folder and in any folder the user adds, with its
settings, length, status and quality; several selected runs overlaid and their settings compared; a
sweep folder's ranking and its quality over two hyperparameters (sweep_view.py)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cgan_core import paths
from cgan_core.compare.summary import RunSummary, curves, differences, scan
from cgan_core.errors import CganError

from ..plots.runs_plot import RunsPlot
from .compare_view import CompareImagesView
from .sweep_view import SweepView

COLUMNS = ("run", "preset", "dataset", "lr G", "lr D", "batch", "steps", "status", "last acc.", "best acc.", "Fréchet")


def _cells(run: RunSummary) -> list[str]:
    c = run.config
    pct = lambda v: f"{v:.1%}" if v is not None else "–"  # noqa: E731
    return [run.name, str(c.get("preset", "?")), str(c.get("dataset", "?")), f"{c.get('lr_g', 0) or 0:.3g}",
            f"{c.get('lr_d', 0) or 0:.3g}", str(c.get("batch_size", "?")), str(run.steps), run.status,
            pct(run.last_accuracy), pct(run.best_accuracy),
            f"{run.best_frechet:.2f}" if run.best_frechet is not None else "–"]


class RunsWindow(QWidget):
    openRequested = Signal(Path)  # the main window opens the run, as File > Open run… does

    def __init__(self, parent: QWidget | None = None, folders: list[Path] | None = None) -> None:
        super().__init__(parent, Qt.Window)
        self.setWindowTitle("cgan-studio: runs")
        self.resize(1200, 760)
        self.folders = list(folders) if folders is not None else [paths.runs_dir()]
        self.runs: list[RunSummary] = []
        self.folder_label = QLabel(objectName="runsFolders")
        add, refresh = QPushButton("Add folder…"), QPushButton("Refresh")
        self.open_button = QPushButton("Open in the main window", enabled=False)
        add.clicked.connect(self._add_folder_dialog)
        refresh.clicked.connect(self.refresh)
        self.open_button.clicked.connect(self._open_selected)
        top = QHBoxLayout()
        for widget in (self.folder_label, add, refresh, self.open_button):
            top.addWidget(widget)
        top.insertStretch(1, 1)
        self.table = self._table(COLUMNS, "runsTable")
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.table.cellDoubleClicked.connect(lambda row, _: self.openRequested.emit(self.runs[row].run_dir))
        self.plot = RunsPlot(self)
        self.diff = self._table(("setting",), "runsDiff")
        compare = QSplitter(Qt.Horizontal)
        compare.addWidget(self.plot)
        compare.addWidget(self.diff)
        compare.setSizes([800, 350])
        runs_tab = QSplitter(Qt.Vertical)
        runs_tab.addWidget(self.table)
        runs_tab.addWidget(compare)
        runs_tab.setSizes([300, 440])
        self.sweep = SweepView(self)
        self.tabs = QTabWidget(objectName="runsTabs")
        self.tabs.addTab(runs_tab, "Runs")
        self.tabs.addTab(self.sweep, "Sweep")
        self.images = CompareImagesView(self)
        self.tabs.addTab(self.images, "Compare images")
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.tabs, 1)
        self.refresh()

    @staticmethod
    def _table(headers, name: str) -> QTableWidget:
        table = QTableWidget(0, len(headers), objectName=name)
        table.setHorizontalHeaderLabels(list(headers))
        table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        table.verticalHeader().setVisible(False)
        table.horizontalHeader().setStretchLastSection(True)
        return table

    # ---- folders and the list ---------------------------------------------------------------------------
    def add_folder(self, folder: Path) -> None:
        folder = Path(folder)
        if folder not in self.folders:
            self.folders.append(folder)
        self.refresh()
        if (folder / "sweep.json").is_file():
            self.sweep.show_sweep(folder, [r for r in self.runs if r.run_dir.parent == folder])
            self.tabs.setCurrentWidget(self.sweep)

    def _add_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Add a folder of runs (or a sweep folder)")
        if path:
            self.add_folder(Path(path))

    def refresh(self) -> None:
        self.runs = [run for folder in self.folders if folder.exists() for run in scan(folder)]
        self.runs.sort(key=lambda r: r.started, reverse=True)
        self.folder_label.setText("Runs in " + ", ".join(str(f) for f in self.folders))
        self.table.setRowCount(len(self.runs))
        for row, run in enumerate(self.runs):
            for col, text in enumerate(_cells(run)):
                item = QTableWidgetItem(text)
                item.setToolTip(str(run.run_dir))
                self.table.setItem(row, col, item)
        self.table.resizeColumnsToContents()

    def select(self, names: list[str]) -> None:
        """Select the runs of these names (tests, screenshots)."""
        self.table.clearSelection()
        mode = self.table.selectionMode()
        self.table.setSelectionMode(QAbstractItemView.MultiSelection)
        for row, run in enumerate(self.runs):
            if run.name in names:
                self.table.selectRow(row)
        self.table.setSelectionMode(mode)

    # ---- the comparison -------------------------------------------------------------------------------------
    def selected(self) -> list[RunSummary]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self.runs[row] for row in rows]

    def _on_selection(self) -> None:
        chosen = self.selected()
        self.open_button.setEnabled(len(chosen) == 1)
        shown = []
        for run in chosen:
            try:
                shown.append((run.name, curves(run.run_dir)))
            except (OSError, ValueError, KeyError, CganError):
                continue  # a run with no metrics yet has nothing to draw
        self.plot.show_runs(shown)
        diff = differences(chosen) if len(chosen) > 1 else {}
        self._show_differences(chosen, diff)
        self.images.show_runs([r.run_dir for r in chosen], diff)

    def _show_differences(self, chosen: list[RunSummary], diff: dict) -> None:
        self.diff.setColumnCount(1 + len(chosen))
        self.diff.setHorizontalHeaderLabels(["setting", *(r.name for r in chosen)])
        self.diff.setRowCount(len(diff))
        for row, (name, values) in enumerate(diff.items()):
            self.diff.setItem(row, 0, QTableWidgetItem(name))
            for col, value in enumerate(values, 1):
                self.diff.setItem(row, col, QTableWidgetItem(f"{value:.3g}" if isinstance(value, float) else str(value)))
        self.diff.resizeColumnsToContents()

    def _open_selected(self) -> None:
        chosen = self.selected()
        if len(chosen) == 1:
            self.openRequested.emit(chosen[0].run_dir)
