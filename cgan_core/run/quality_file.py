"""quality.csv: a row per live measurement, its columns named by the header the file was started with.

A run folder written before the independent figures existed has no kid columns: its rows read with those
as NaN, and a resume of it goes on writing rows of its own layout, so one file never mixes two.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

from cgan_core import records
from cgan_core.output.quality import QualityReport
from cgan_core.output.safe_files import open_append, open_text
from cgan_core.run import layout

QUALITY_FILE = layout.QUALITY
CLASSIFIER_COLUMNS = ("step", "accuracy", "frechet", "floor", "diversity", "seconds")
INDEPENDENT_COLUMNS = ("kid", "kid_spread", "intra_floor")


def quality_header(class_names: list[str], independent: bool = True) -> list[str]:
    """The fixed columns, then each class's accuracy (acc_NAME) and, with the independent figures, each
    class's Fréchet distance in the random network's features (ifd_NAME)."""
    accuracy = [f"acc_{n}" for n in class_names]
    if not independent:
        return [*CLASSIFIER_COLUMNS, *accuracy]
    return [*CLASSIFIER_COLUMNS, *INDEPENDENT_COLUMNS, *accuracy, *(f"ifd_{n}" for n in class_names)]


class QualityColumns:
    """Reads rows by a file's header: which layout, and how many classes."""

    def __init__(self, header: list[str]) -> None:
        fixed = len(CLASSIFIER_COLUMNS)
        self.independent = tuple(header[fixed:fixed + len(INDEPENDENT_COLUMNS)]) == INDEPENDENT_COLUMNS
        rest = len(header) - fixed - (len(INDEPENDENT_COLUMNS) if self.independent else 0)
        self.classes = rest // 2 if self.independent else rest
        self.width = len(header)

    def report(self, r: list[str]) -> QualityReport | None:
        """One row as a report (its step and figures parsed by their schema), or None for a row cut short by
        a crash or otherwise unreadable."""
        if len(r) != self.width or self.width < len(CLASSIFIER_COLUMNS):
            return None
        step, numbers = records.csv_row(r[0], records.StepNumber), records.csv_row(r[1:], records.QualityFigures)
        if step is None or numbers is None:
            return None
        accuracy, frechet, floor, diversity, seconds = numbers[:5]
        if not self.independent:
            return QualityReport(step, accuracy, tuple(numbers[5:]), frechet, floor, diversity, seconds)
        kid, kid_spread, intra_floor = numbers[5:8]
        k = self.classes
        return QualityReport(step, accuracy, tuple(numbers[8:8 + k]), frechet, floor, diversity, seconds,
                             kid, kid_spread, tuple(numbers[8 + k:8 + 2 * k]), intra_floor)

    def row(self, report: QualityReport) -> list[str]:
        """The report in this file's layout (an older file's: without the independent figures)."""
        fixed = [str(report.step), f"{report.accuracy:.4f}", f"{report.frechet:.4f}", f"{report.floor:.4f}",
                 f"{report.diversity:.4f}", f"{report.seconds:.4f}"]
        accuracy = [f"{a:.4f}" for a in report.per_class]
        if not self.independent:
            return fixed + accuracy
        intra = list(report.intra_frechet) or [math.nan] * len(report.per_class)
        return (fixed + [f"{report.kid:.6g}", f"{report.kid_spread:.6g}", f"{report.intra_floor:.4f}"] + accuracy
                + [f"{d:.4f}" for d in intra])


def _header_of(path: Path, root: Path | None) -> list[str] | None:
    """The file's first CSV record (quoted newlines and all), read without the rows after it."""
    f = open_text(path, root)
    if f is None:
        return None
    with f:
        try:
            return next(csv.reader(f), None)
        except csv.Error:
            return None


def append_report(run_dir: Path, report: QualityReport, class_names: list[str]) -> None:
    """One row, in the file's own layout; a new file's header names the classes, CSV-quoted (a class folder
    may be called "cats, big") and in UTF-8 whatever bytes the folder's name had (undecodable ones become
    U+FFFD)."""
    path = Path(run_dir) / QUALITY_FILE
    header = _header_of(path, Path(run_dir))  # opened from the run folder, never through a link
    with open_append(path, Path(run_dir)) as f:
        writer = csv.writer(f, lineterminator="\n")
        if not header:
            # A folder's name that was not UTF-8 reaches Python as surrogate escapes: its bytes, decoded
            # with U+FFFD for what UTF-8 cannot read.
            readable = [n.encode("utf-8", "surrogateescape").decode("utf-8", "replace") for n in class_names]
            header = quality_header(readable)
            writer.writerow(header)
        writer.writerow(QualityColumns(header).row(report))


def load_reports(run_dir: Path) -> list[QualityReport]:
    """A run's quality.csv as reports; [] when it has none. Rows a rollback abandoned stay in."""
    path = Path(run_dir) / QUALITY_FILE
    f = open_text(path, Path(run_dir))  # never through a link inside the run folder
    if f is None:
        return []
    with f:
        try:
            rows = list(csv.reader(f))
        except csv.Error:  # a field past the csv module's limit: not a file this version wrote
            return []
    if not rows:
        return []
    columns = QualityColumns(rows[0])
    return [report for report in map(columns.report, rows[1:]) if report is not None]
