"""Following a live run directory written by another process (a CLI run, a torchrun job, a run on another
machine whose directory is mounted): what has been appended since the last look, as the same events a
run yields. Reads only whole lines, so a line still being written is picked up next time."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from .errors import DataError
from .events import LossChunk, from_line
from .quality import QUALITY_FILE, report_from_row
from .timelapse import newest_grid
from .trainer import STAT_NAMES


class _Appended:
    """The whole lines appended to one file since the last read."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset = path, 0

    def lines(self) -> list[str]:
        if not self.path.is_file():
            return []
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self.offset += end
        return data[:end].decode("utf-8", errors="replace").splitlines()


class RunTail:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        if not (self.run_dir / "config.json").is_file():
            raise DataError(f"{self.run_dir}: not a run directory (no config.json)")
        self.config = json.loads((self.run_dir / "config.json").read_text())
        self._metrics = _Appended(self.run_dir / "metrics.csv")
        self._events = _Appended(self.run_dir / "events.jsonl")
        self._quality = _Appended(self.run_dir / QUALITY_FILE)
        self._header: list[str] | None = None
        self._grid_step = -1

    def poll(self) -> list:
        """New LossChunk, events.jsonl events, QualityReports and the newest saved grid (step, image)."""
        found: list = []
        chunk = self._new_losses()
        if chunk is not None:
            found.append(chunk)
        found += [e for e in map(from_line, self._events.lines()) if e is not None]
        found += [r for r in (report_from_row(line.split(",")) for line in self._quality.lines()) if r is not None]
        grid = newest_grid(self.run_dir, self._grid_step)
        if grid is not None:
            self._grid_step = grid[0]
            found.append(grid)
        return found

    def _new_losses(self) -> LossChunk | None:
        lines = self._metrics.lines()
        if self._header is None and lines:
            self._header, lines = lines[0].split(","), lines[1:]
        rows = [r for r in csv.DictReader(io.StringIO("\n".join(lines)), fieldnames=self._header)] if lines else []
        try:
            steps = np.array([int(r["step"]) for r in rows], dtype=np.int64)
            values = np.array([[float(r[n]) for n in STAT_NAMES] for r in rows], dtype=np.float32)
        except (KeyError, TypeError, ValueError):
            return None
        if not len(steps):
            return None
        last = rows[-1]
        return LossChunk(steps, values.reshape(len(steps), len(STAT_NAMES)), STAT_NAMES, float(last["epoch"]), 0,
                         float(last["seconds"]), 0.0)

