"""A sweep folder in the Runs view: the trials ranked, and their quality over two chosen hyperparameters."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cgan_core.compare.summary import RunSummary


def trials(folder: Path, runs: list[RunSummary]) -> list[dict]:
    """One row per trial run: its swept settings, its state (from summary.csv once the sweep has ended,
    else from the run) and its score, best first."""
    settings = json.loads((folder / "sweep.json").read_text())
    names = [p.partition("=")[0].replace("-", "_") for p in settings.get("params", [])]
    states = {}
    if (folder / "summary.csv").is_file():
        with open(folder / "summary.csv", newline="") as f:
            states = {f"trial-{int(r['trial']):03d}": r["state"] for r in csv.DictReader(f)}
    rows = []
    for run in runs:
        value = run.best_score if run.best_score is not None else float("nan")  # by the run's own --best-by
        rows.append({"trial": run.name, "state": states.get(run.name, run.status), "score": value,
                     "accuracy": run.best_accuracy, "frechet": run.best_frechet, "steps": run.steps,
                     **{n: run.config.get(n) for n in names}})
    rows.sort(key=lambda r: -r["score"] if r["score"] == r["score"] else math.inf)
    return rows


class SweepView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[dict] = []
        self.params: list[str] = []
        self.log_scale: set[str] = set()  # the parameters the sweep searched on a log scale
        self.title = QLabel("Add a sweep folder (cgan-studio sweep --out FOLDER) to see its trials ranked.")
        self.x, self.y = QComboBox(objectName="sweepX"), QComboBox(objectName="sweepY")
        self.x.currentIndexChanged.connect(self.redraw)
        self.y.currentIndexChanged.connect(self.redraw)
        self.table = QTableWidget(0, 0, objectName="sweepTable")
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.plot = pg.PlotWidget(background="#1e1f22", objectName="sweepPlot")
        self.plot.getPlotItem().showGrid(x=True, y=True, alpha=0.15)
        axes = QHBoxLayout()
        for widget in (QLabel("score over"), self.x, QLabel("and"), self.y,
                       QLabel("(colour: rank, yellow = best)")):
            axes.addWidget(widget)
        axes.addStretch(1)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addLayout(axes)
        right_layout.addWidget(self.plot, 1)
        split = QSplitter()
        split.addWidget(self.table)
        split.addWidget(right)
        split.setSizes([560, 600])
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(split, 1)

    def show_sweep(self, folder: Path, runs: list[RunSummary]) -> None:
        self.rows = trials(folder, runs)
        settings = json.loads((folder / "sweep.json").read_text())
        specs = settings.get("params", [])
        self.params = [p.partition("=")[0].replace("-", "_") for p in specs]
        self.log_scale = {name for name, spec in zip(self.params, specs) if spec.endswith(":log")}
        rule = ("minus the per-class Fréchet distance (random features) in floor multiples"
                if settings.get("best_by") == "independent" else "accuracy in points, less 0.1 per Fréchet-floor multiple")
        self.title.setText(f"Sweep {folder.name}: {len(self.rows)} trials of {settings.get('preset')}, "
                           f"{self._length(settings)} each; score = {rule}")
        headers = ["rank", "trial", "state", "score", *self.params, "accuracy", "Fréchet", "steps"]
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(self.rows))
        for i, row in enumerate(self.rows):
            cells = [str(i + 1), row["trial"], row["state"], _fmt(row["score"]), *(_fmt(row[p]) for p in self.params),
                     f"{row['accuracy']:.1%}" if row["accuracy"] is not None else "–", _fmt(row["frechet"]),
                     str(row["steps"])]
            for col, text in enumerate(cells):
                self.table.setItem(i, col, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        for combo, index in ((self.x, 0), (self.y, 1)):
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(self.params)
            combo.setCurrentIndex(min(index, len(self.params) - 1))
            combo.blockSignals(False)
        self.redraw()

    @staticmethod
    def _length(settings: dict) -> str:
        """Each trial's length as the sweep was given it: steps, or seconds."""
        steps = settings.get("steps")
        return f"{steps} steps" if steps else f"{settings.get('max_seconds')} s"

    def redraw(self, *_) -> None:
        item = self.plot.getPlotItem()
        item.clear()
        xs, ys = self.x.currentText(), self.y.currentText()
        points = [r for r in self.rows if r.get(xs) is not None and r.get(ys) is not None and r["score"] == r["score"]]
        if not points:
            return
        x = np.array([float(r[xs]) for r in points])
        y = np.array([float(r[ys]) for r in points])
        log_x, log_y = (name in self.log_scale and bool((v > 0).all()) for name, v in ((xs, x), (ys, y)))
        item.setLogMode(x=log_x, y=log_y)
        item.setLabel("bottom", xs)
        item.setLabel("left", ys)
        # Colour by rank, not by value: one hopeless trial would otherwise paint every good one the same.
        ranks = np.argsort(np.argsort([-r["score"] for r in points]))
        colours = pg.colormap.get("viridis").map(1.0 - ranks / max(len(points) - 1, 1), mode="qcolor")
        spots = [{"pos": (np.log10(a) if log_x else a, np.log10(b) if log_y else b), "brush": c, "size": 14,
                  "data": r["trial"]} for a, b, c, r in zip(x, y, colours, points)]
        item.addItem(pg.ScatterPlotItem(spots=spots, pen=pg.mkPen("#ffffff", width=1)))
        best = points[0]
        item.addItem(pg.TextItem(f"best: {best['trial']} ({best['score']:.1f})", color="#ffffff", anchor=(0, 1)))
        item.items[-1].setPos(np.log10(float(best[xs])) if log_x else float(best[xs]),
                              np.log10(float(best[ys])) if log_y else float(best[ys]))


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    return f"{value:.3g}" if isinstance(value, float) else str(value)
