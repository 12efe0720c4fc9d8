"""Following a live run directory written by another process (a CLI run, a torchrun job, a run on another
machine whose directory is mounted): what has been appended since the last look, as the same events a
run yields. Reads only whole lines, so a line still being written is picked up next time."""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np

from cgan_core.errors import DataError
from cgan_core.output.quality import QUALITY_FILE, report_from_row
from cgan_core.output.timelapse import newest_grid
from cgan_core.run.events import LossChunk, from_line
from cgan_core.step.trainer import STAT_NAMES


class _Appended:
    """The whole lines appended to one file since the last read. A file that was replaced or shrank (a
    resume truncates metrics.csv and quality.csv past its checkpoint, atomically) is read again from its
    start, and `rewound` says so."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.inode, self.rewound = path, 0, None, False

    def lines(self) -> list[str]:
        try:
            with open(self.path, "rb") as f:
                info = os.fstat(f.fileno())
                self.rewound = self.inode is not None and (info.st_ino != self.inode or info.st_size < self.offset)
                if self.rewound:
                    self.offset = 0
                self.inode = info.st_ino
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
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
        if self._metrics.rewound:  # the followed run was resumed: its rows from the start, header first
            self._header = None
        if self._header is None and lines:
            self._header, lines = lines[0].split(","), lines[1:]
        rows = [r for r in csv.DictReader(io.StringIO("\n".join(lines)), fieldnames=self._header)] if lines else []
        steps, values, last = [], [], None
        for row in rows:  # a row this version cannot read is skipped, never the whole look
            try:
                parsed = [float(row[n]) for n in STAT_NAMES]
                steps.append(int(row["step"]))
            except (KeyError, TypeError, ValueError):
                continue
            values.append(parsed)
            last = row
        if last is None:
            return None
        return LossChunk(np.array(steps, dtype=np.int64), np.array(values, dtype=np.float32), STAT_NAMES,
                         _number(last.get("epoch")), 0, _number(last.get("seconds")), 0.0)



def _number(text) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return 0.0
