"""The one reader of a run folder (folder_writer.py is its one writer): a past run read back (curves, hyperparameter
changes, configuration, latest grid; replayed as the typed events a live run sends) and a live one followed
(RunTail). Every view goes through it: the studio's history and Attach, the Runs view, TensorBoard export."""
from __future__ import annotations

import csv
import io
import json
import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cgan_core import records
from cgan_core.errors import CganError, CheckpointError, DataError
from cgan_core.output.checkpoint import load_generator, read_generator_metadata
from cgan_core.output.safe_files import open_binary, open_text, read_bytes
from cgan_core.output.sampling import make_grid, to_uint8
from cgan_core.run import layout
from cgan_core.run.events import BestSaved, Forked, HParamChange, LossChunk, RolledBack, SampleGrid, from_line
from cgan_core.run.quality_file import QualityColumns
from cgan_core.run.timelapse import newest_grid
from cgan_core.step.config import written_settings
from cgan_core.step.trainer import STAT_NAMES

LOSS_NAMES = ("d1", "d2", "g")
MAX_CONFIG_BYTES = 1024 * 1024  # config.json is about 1 kB


@dataclass(frozen=True)
class RunHistory:
    run_dir: Path
    steps: np.ndarray  # the live line, after the last branch
    columns: dict[str, np.ndarray]
    changes: list[HParamChange]
    config: dict
    grid: SampleGrid | None
    abandoned: list[tuple[np.ndarray, dict[str, np.ndarray]]]  # stretches left behind by rollbacks
    rollbacks: list[RolledBack]  # as recorded in events.jsonl
    best_step: int | None = None  # the step of best.safetensors, where the run keeps one
    recorded: LossChunk | None = None  # every row as written, branches included (a step that goes back)
    events: tuple = ()  # events.jsonl, in order


def split_branches(steps: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Row indices of the live line, and of each abandoned stretch: a step that does not increase
    marks a rollback, and the rows from that step on that came before it were abandoned."""
    live: list[int] = []
    abandoned: list[np.ndarray] = []
    for i, step in enumerate(steps.tolist()):
        cut = len(live)
        while cut and steps[live[cut - 1]] >= step:
            cut -= 1
        if cut < len(live):
            abandoned.append(np.array(live[cut:]))
            del live[cut:]
        live.append(i)
    return np.array(live, dtype=np.int64), abandoned


def generator_grid(path: Path, per_class: int = 8, seed: int = 0, root: Path | None = None) -> SampleGrid:
    """A one-row-per-class grid from a generator file (inside the run folder `root`: never through a link),
    with fixed noise from `seed`."""
    g, info = load_generator(path, root)
    return draw_grid(g, info, per_class, seed)


def draw_grid(g, info: dict, per_class: int = 8, seed: int = 0) -> SampleGrid:
    """A loaded generator's one-row-per-class grid on the noise of `seed`: two generators of one latent size
    draw on the very same z."""
    z = torch.randn(per_class, g.latent_dim, generator=torch.Generator().manual_seed(seed)).repeat(g.num_classes, 1)
    labels = torch.arange(g.num_classes).repeat_interleave(per_class)
    with torch.no_grad():
        images = to_uint8(g(z, labels).float(), info["output_range"]).numpy()
    step = int(info["step"]) if str(info.get("step", "")).isdigit() else 0
    return SampleGrid(step, make_grid(images, per_class), tuple(info["class_names"]), per_class, images.shape[2] + 2)


def read_metrics(run_dir: Path, names: tuple[str, ...] = LOSS_NAMES, optional: tuple[str, ...] = ("seconds",)
                 ) -> tuple[np.ndarray, dict]:
    """(steps, {name: values}) of a metrics.csv as written, branches included: the one reader of the file
    for the history, the Runs view and exports. Each row is parsed by its schema (records.MetricsRow); a row
    that a kill or a full disk cut short (its last one, or any row with a field missing or unreadable) is
    left out; a file without the `names` columns is refused; an `optional` column an older run lacks reads
    as 0. The file is opened in its folder without following a link."""
    path = Path(run_dir) / layout.METRICS
    f = open_text(path, Path(run_dir))
    if f is None:
        raise DataError(f"{path}: no such metrics file")
    with f:
        reader = csv.DictReader(f)
        try:
            header = reader.fieldnames or []
            missing = [n for n in ("step", *names) if n not in header]
            if missing:
                raise DataError(f"{path}: malformed metrics file (no {', '.join(missing)} column)")
            wanted = (*names, *(n for n in optional if n in header))
            rows = [row for row in map(_metrics_row, reader) if row is not None]
        except csv.Error as exc:  # a field past the csv module's limit: not a file a run wrote
            raise DataError(f"{path}: malformed metrics file ({exc})") from None
    steps = [row.step for row in rows]
    values = [[getattr(row, n) for n in wanted] for row in rows]
    table = np.array(values, dtype=np.float64).reshape(len(values), len(wanted))
    columns = {n: table[:, i] for i, n in enumerate(wanted)}
    columns.update({n: np.zeros(len(steps)) for n in optional if n not in columns})
    return np.array(steps, dtype=np.int64), columns


def _metrics_row(row: dict) -> records.MetricsRow | None:
    """A row by its schema; an empty field is a figure not written (NaN), a key None: more fields than columns."""
    if None in row:
        return None
    return records.csv_row({name: text for name, text in row.items() if text != ""}, records.MetricsRow)


def load_history(run_dir: Path) -> RunHistory:
    run_dir = Path(run_dir)
    metrics = run_dir / layout.METRICS
    if not os.path.lexists(metrics):
        raise DataError(f"{run_dir}: not a run directory (no metrics.csv)")
    steps, read = read_metrics(run_dir)
    columns = {k: read[k].astype(np.float32) for k in LOSS_NAMES}
    recorded = LossChunk(steps, np.column_stack([columns[k] for k in LOSS_NAMES]).reshape(len(steps), 3),
                         LOSS_NAMES, 0.0, 0, 0.0, 0.0)
    live, stretches = split_branches(steps)
    abandoned = [(steps[idx], {k: v[idx] for k, v in columns.items()}) for idx in stretches]
    steps, columns = steps[live], {k: v[live] for k, v in columns.items()}
    events = read_events(run_dir)
    changes = changes_in_force(events)
    rollbacks = [e for e in events if isinstance(e, RolledBack)]
    best = [e.step for e in events if isinstance(e, BestSaved)]
    config = read_config(run_dir)
    for change in changes:  # the hyperparameters in force at the end, not those the run began with
        config[change.name] = change.new
    for event in rollbacks[-1:]:  # the last rollback's learning rates (with its backoff), unless changed since
        for name in ("lr_g", "lr_d"):
            if not any(c.name == name and c.step > event.to_step for c in changes):
                config[name] = getattr(event, name)
    generator = run_dir / layout.GENERATOR
    grid = generator_grid(generator, root=run_dir) if os.path.lexists(generator) else None
    return RunHistory(run_dir, steps, columns, changes, config, grid, abandoned, rollbacks,
                      best[-1] if best and (run_dir / layout.BEST).is_file() else None, recorded, tuple(events))


def replay(history: RunHistory, reports: list) -> list:
    """The events a viewer of a live run would have been shown, for an opened run: its markers and
    rollbacks first (so that they cut nothing), then every row as written (a step that goes back starts
    a branch, as it did live), its quality reports, its best generator and its grid. No advice is
    replayed: it was for the moment it came."""
    shown = (HParamChange, RolledBack, Forked)
    events = [e for e in history.events if isinstance(e, shown)]
    if history.recorded is not None and len(history.recorded.steps):
        events.append(history.recorded)
    events += reports
    best = [e for e in history.events if isinstance(e, BestSaved) and e.step == history.best_step]
    events += best[-1:]
    if history.grid is not None:
        events.append(history.grid)
    return events


def changes_in_force(events: list) -> list[HParamChange]:
    """The hyperparameter changes of the branch trained last: a rollback (or an older checkpoint resumed)
    to step S drops the changes made past S before it."""
    kept: list[HParamChange] = []
    for event in events:
        if isinstance(event, HParamChange):
            kept.append(event)
        elif isinstance(event, RolledBack):
            kept = [c for c in kept if c.step <= event.to_step]
    return kept


def read_events(run_dir: Path) -> list:
    """A run's events.jsonl as event dataclasses (each line parsed by its schema, events.from_line);
    unknown kinds and lines cut short by a crash are skipped."""
    data = read_bytes(Path(run_dir) / layout.EVENTS, Path(run_dir))  # never through a link
    if data is None:
        return []
    lines = data.decode("utf-8", errors="replace").split("\n")
    return [event for event in map(from_line, lines) if event is not None]


def generator_path(path: Path) -> Path:
    """A generator file; a run directory's generator.safetensors; RUN/best is the run's best.safetensors
    (the generator with the best quality measured, kept with live quality on)."""
    path = Path(path)
    if path.is_dir():
        return path / layout.GENERATOR
    if path.name == "best" and path.parent.is_dir() and not path.exists():
        best = path.parent / layout.BEST
        if not best.is_file():
            raise CheckpointError(f"{path}: {path.parent} has no best.safetensors (it is kept when live quality "
                                  "is on: train --quality-every N|auto)")
        return best
    return path


def generator_of(run_dir: Path) -> Path | None:
    """The run's newest healthy generator file, where it has one yet (the explorer, Attach's class names)."""
    path = Path(run_dir) / layout.GENERATOR
    return path if os.path.lexists(path) else None


def generator_class_names(run_dir: Path) -> list[str] | None:
    """The class names the run's generator file holds (by their schema); None before it has one, or when its
    header cannot be read."""
    path = generator_of(run_dir)
    try:
        meta = read_generator_metadata(path, Path(run_dir)) if path is not None else None
        return list(records.decode_json(meta["class_names"], records.ClassNames, str(path))) if meta else None
    except (CganError, KeyError):
        return None


def variant_folders(run_dir: Path, step: int) -> list[Path]:
    """The run folders of the variants a fork at `step` trained (RUN/variants/step-N/*), by name."""
    folder = Path(run_dir) / layout.VARIANTS / f"step-{step}"
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()) if folder.is_dir() else []


def started_at(run_dir: Path) -> float:
    """When the run began: its config.json's modification time (the link itself, never its target)."""
    return os.lstat(Path(run_dir) / layout.CONFIG).st_mtime


def metrics_changed_at(run_dir: Path) -> float | None:
    """When a row was last written (a live run writes one every few seconds); None without metrics.csv."""
    try:
        return os.lstat(Path(run_dir) / layout.METRICS).st_mtime
    except OSError:
        return None


def is_run(folder: Path) -> bool:
    """Whether `folder` holds a run: its config.json is a file (a link in its place is not one)."""
    try:
        return stat.S_ISREG(os.lstat(Path(folder) / layout.CONFIG).st_mode)
    except OSError:
        return False


def read_config(run_dir: Path) -> dict:
    """config.json as written when the run started, each setting parsed by its schema (written_settings:
    one that does not fit is left out); {} when it is missing or unreadable."""
    try:
        data = read_bytes(Path(run_dir) / layout.CONFIG, Path(run_dir), limit=MAX_CONFIG_BYTES)
        return written_settings(json.loads(data)) if data and len(data) <= MAX_CONFIG_BYTES else {}
    except (CganError, OSError, ValueError, RecursionError):
        return {}


def last_row(run_dir: Path) -> records.MetricsRow | None:
    """metrics.csv's last complete row (by its schema), read from the file's end: a long run's file has ~10^5
    rows, and a live run's last line may be half written. None before the first row."""
    try:
        f = open_binary(Path(run_dir) / layout.METRICS, Path(run_dir))
    except CganError:
        return None
    if f is None:
        return None
    with f:
        header = f.readline().decode(errors="replace").strip().split(",")
        f.seek(0, 2)
        f.seek(max(0, f.tell() - 4096))
        lines = f.read().decode(errors="replace").split("\n")[:-1]  # the text after the last newline is not whole
    for line in reversed(lines):
        fields = line.split(",")
        row = _metrics_row(dict(zip(header, fields))) if len(fields) == len(header) else None
        if row is not None:
            return row
    return None


def last_step(run_dir: Path) -> int:
    """The last complete row's step; 0 before the first."""
    row = last_row(run_dir)
    return row.step if row is not None else 0


# ---- following a live run ----------------------------------------------------------------------------------
# A run directory written by another process (a CLI run, a torchrun job, a run on another machine whose
# directory is mounted): what has been appended since the last look, as the same events a run yields. Only
# whole lines are read, so a line still being written is picked up next time.

class _Appended:
    """The whole lines appended to one file since the last read. A file that was replaced or shrank (a
    resume truncates metrics.csv and quality.csv past its checkpoint, atomically) is read again from its
    start, and `rewound` says so."""

    def __init__(self, path: Path, root: Path) -> None:
        self.path, self.root, self.offset, self.inode, self.rewound = path, root, 0, None, False

    def lines(self) -> list[str]:
        """The new whole lines; none while the file is missing, or is a link (never read through)."""
        try:
            f = open_binary(self.path, self.root)
        except CganError:
            return []
        if f is None:
            return []
        with f:
            info = os.fstat(f.fileno())
            self.rewound = self.inode is not None and (info.st_ino != self.inode or info.st_size < self.offset)
            if self.rewound:
                self.offset = 0
            self.inode = info.st_ino
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self.offset += end
        return data[:end].decode("utf-8", errors="replace").splitlines()


class RunTail:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        if not is_run(self.run_dir):
            raise DataError(f"{self.run_dir}: not a run directory (no config.json)")
        self.config = read_config(self.run_dir)
        self._metrics = _Appended(self.run_dir / layout.METRICS, self.run_dir)
        self._events = _Appended(self.run_dir / layout.EVENTS, self.run_dir)
        self._quality = _Appended(self.run_dir / layout.QUALITY, self.run_dir)
        self._header: list[str] | None = None
        self._quality_columns: QualityColumns | None = None
        self._grid_step = -1

    def poll(self) -> list:
        """New LossChunk, events.jsonl events, QualityReports and the newest saved grid (step, image)."""
        found: list = []
        chunk = self._new_losses()
        if chunk is not None:
            found.append(chunk)
        found += [e for e in map(from_line, self._events.lines()) if e is not None]
        found += self._new_reports()
        try:
            grid = newest_grid(self.run_dir, self._grid_step)
        except CganError:  # grids/ is a link: never read through
            grid = None
        if grid is not None:
            self._grid_step = grid[0]
            found.append(grid)
        return found

    def _new_reports(self) -> list:
        lines = self._quality.lines()
        if self._quality.rewound:
            self._quality_columns = None
        rows = list(csv.reader(io.StringIO("\n".join(lines)))) if lines else []  # a class name may hold a comma
        if self._quality_columns is None and rows:
            self._quality_columns, rows = QualityColumns(rows[0]), rows[1:]
        return [r for r in map(self._quality_columns.report, rows) if r is not None] if rows else []

    def _new_losses(self) -> LossChunk | None:
        lines = self._metrics.lines()
        if self._metrics.rewound:  # the followed run was resumed: its rows from the start, header first
            self._header = None
        if self._header is None and lines:
            self._header, lines = lines[0].split(","), lines[1:]
        try:  # a row this version cannot read is skipped, never the whole look
            rows = [r for r in map(_metrics_row, csv.DictReader(io.StringIO("\n".join(lines)), fieldnames=self._header))
                    if r is not None] if lines else []
        except csv.Error:
            rows = []
        if not rows:
            return None
        # A column an older version did not write (r_t) reads as NaN: shown as unknown, never as 0.
        values = [[getattr(row, n) for n in STAT_NAMES] for row in rows]
        last = rows[-1]
        return LossChunk(np.array([row.step for row in rows], dtype=np.int64), np.array(values, dtype=np.float32),
                         STAT_NAMES, _known(last.epoch), 0, _known(last.seconds), 0.0)


def _known(value: float) -> float:
    return value if math.isfinite(value) else 0.0
