"""A run directory and everything written into it, with one owner: this module writes the folder (its names
are layout.py's, its reader folder_reader.py). Every file that must survive a crash is written atomically,
and every file is opened from the run folder without following a link (output/safe_files.py).
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from cgan_core import paths, records
from cgan_core.errors import CheckpointError
from cgan_core.output import checkpoint as ckpt
from cgan_core.output import safe_files as safe
from cgan_core.output.quality import QualityReport
from cgan_core.run import journal, layout, timelapse
from cgan_core.run.events import to_record
from cgan_core.run.quality_file import append_report
from cgan_core.run.run_lock import RunLock

METRIC_COLUMNS = records.MetricsRow.__struct_fields__  # its schema is what the reader parses each row by
ADDED_COLUMNS = {"r_t", "aug_p"}  # columns a run begun by an older version lacks
KEEP_CHECKPOINTS = 3
GENERATOR_FILE, BEST_FILE, VARIANTS, ABANDONED = layout.GENERATOR, layout.BEST, layout.VARIANTS, layout.ABANDONED
DIVERGED_PREFIX = "diverged-"


def new_run_dir(preset: str) -> Path:
    """A new folder in the runs folder, named by the time and preset, created here (never shared)."""
    return claim_new_dir(paths.runs_dir() / f"{datetime.now():%Y%m%d-%H%M%S}-{preset}")


# The names the writer gives checkpoints: anything else in checkpoints/ (a user's copy, "step-10.bak.pt") is
# not the run's, never read as a step and never pruned.
CHECKPOINT_NAME = re.compile(r"step-(\d{9})\.pt")


def checkpoint_files(run_dir: Path) -> list[Path]:
    """A run's checkpoints of healthy states, newest first (never temp files, diverged states or names the
    run did not write)."""
    folder = Path(run_dir) / layout.CHECKPOINTS
    listed = safe.names(folder, Path(run_dir))  # through its descriptor: a checkpoints/ that is a link is refused
    return sorted((folder / name for name in listed if CHECKPOINT_NAME.fullmatch(name)), reverse=True)


def checkpoint_step(path: Path) -> int:
    return int(path.stem.split("-")[-1])


def latest_checkpoint(path: Path, warn: Callable[[str], None] = lambda msg: None,
                      before: int | None = None) -> tuple[Path, dict]:
    """The newest checkpoint of a run directory that loads (at or before step `before`, if given);
    a damaged one is reported and skipped. A checkpoint file given directly is loaded as it is."""
    path = Path(path)
    if path.is_file():
        return path, ckpt.load_checkpoint(path)
    if not path.is_dir():
        raise CheckpointError(f"{path}: no such run directory or checkpoint")
    problems = []
    for candidate in checkpoint_files(path):
        if before is not None and checkpoint_step(candidate) > before:
            continue
        try:
            return candidate, ckpt.load_checkpoint(candidate, path)  # never through a link in the run folder
        except CheckpointError as exc:
            problems.append(str(exc))
            warn(f"{exc}; trying the previous checkpoint")
    detail = f" ({'; '.join(problems)})" if problems else ""
    raise CheckpointError(f"{path}: no loadable checkpoint in {path / 'checkpoints'}{detail}")


def _header_of(path: Path, root: Path) -> tuple[str, ...]:
    """The columns of an existing metrics.csv, when it has every column but those added since: a run
    an older version began keeps its table. Otherwise (a file that is not one) this version's columns."""
    f = safe.open_text(path, root)
    if f is None:
        return METRIC_COLUMNS
    with f:
        header = tuple(f.readline().strip().split(","))
    return header if set(METRIC_COLUMNS) - ADDED_COLUMNS <= set(header) else METRIC_COLUMNS


class CheckpointClock:
    """When the next checkpoint falls due: every `every` steps, and every `minutes` of wall time
    whatever the preset's speed (a crash or a kill -9 loses minutes, not a slow preset's 1,000 steps)."""

    def __init__(self, step: int, every: int, minutes: float, now: Callable[[], float] = time.monotonic) -> None:
        self.every, self.minutes = every, minutes
        self.now = now  # the clock itself, replaced by a test that drives the cadence step by step
        # The first one comes at once (the first stats read): a run killed in its first minutes resumes.
        self.step, self.when = step, float("-inf")

    def written(self, step: int) -> None:
        self.step, self.when = step, self.now()

    def moved_to(self, step: int) -> None:
        """A rollback: count steps from where the run now is."""
        self.step = step

    def due(self, step: int) -> bool:
        return step - self.step >= self.every or self.now() - self.when >= self.minutes * 60

    def overdue_by_time(self) -> bool:
        """The wall-time cadence has passed since the last checkpoint (not before the first one)."""
        return self.when != float("-inf") and self.now() - self.when >= self.minutes * 60


class RunFiles:
    """The one writer of a run folder. Every file is opened relative to the folder without following a
    link (safe_files: `root` is the run folder), so nothing outside it is ever written."""

    def __init__(self, run_dir: Path) -> None:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        self.run_dir = Path(run_dir).resolve()  # the folder itself may be reached through a link; nothing inside it
        self.lock = RunLock(self.run_dir)  # before anything is written or cleaned: one writer at a time
        self.checkpoints = self.run_dir / layout.CHECKPOINTS
        safe.make_folder(self.checkpoints, self.run_dir, exist_ok=True)
        ckpt.remove_stale_temps(self.run_dir, self.run_dir)
        ckpt.remove_stale_temps(self.checkpoints, self.run_dir)
        self._metrics = None
        self._branch: records.Intent | None = None  # a branch whose first row is not written yet
        self.warnings: list[str] = []  # what opening the folder found to say (a journal set aside)
        self.replayed = self._replay()  # a change a kill cut short was completed (or dropped) here
        self._board = None  # TensorBoardLog, with open_tensorboard
        self._columns = METRIC_COLUMNS  # metrics.csv's own columns once it is open (an older run keeps its own)

    # ---- config and logs ---------------------------------------------------------------------------
    def write_config(self, config: dict) -> None:
        with _writing(self.run_dir / layout.CONFIG):
            ckpt.atomic_write_text(self.run_dir / layout.CONFIG, json.dumps(config, indent=2), self.run_dir)

    def truncate_after(self, step: int | None) -> None:
        """On resume: rows past the checkpoint are trained again, so they go (None: a branch starts, and
        every row stays); a row a crash cut short goes in both cases. While a branch has no row yet, the rows
        past it are the abandoned stretch's: they stay whatever `step` is."""
        step = None if self._branch is not None else step
        if self._metrics is not None:  # the file may be replaced: the next row opens it again
            self._metrics.close()
            self._metrics = None
        for name in (layout.METRICS, layout.QUALITY):
            ckpt.truncate_csv_after(self.run_dir / name, step, self.run_dir)

    def write_metrics(self, rows: list[dict]) -> None:
        path = self.run_dir / layout.METRICS
        with _writing(path):
            if self._metrics is None:
                self._metrics = safe.open_append(path, self.run_dir)
                new = os.fstat(self._metrics.fileno()).st_size == 0
                # A run an older version began keeps its columns (r_t came later): its rows stay one table.
                self._columns = METRIC_COLUMNS if new else _header_of(path, self.run_dir)
                if new:
                    self._metrics.write(",".join(METRIC_COLUMNS) + "\n")
            for row in rows:
                self._metrics.write(",".join(_fmt(row[c]) if c in row else "" for c in self._columns) + "\n")
            self._metrics.flush()
        if rows and self._branch is not None:  # the branch's first row marks it: the journal is done
            journal.clear(self.run_dir)
            self._branch = None

    def last_metrics(self) -> dict[str, float]:
        """The last row of metrics.csv, as floats (for the run's summary)."""
        data = safe.read_bytes(self.run_dir / layout.METRICS, self.run_dir)
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8", "replace")))) if data else []
        try:
            return {k: float(v) for k, v in rows[-1].items() if k in ("d1", "d2", "g")} if rows else {}
        except (TypeError, ValueError):  # a last row cut short
            return {}

    def summary(self, steps: int, images: int, seconds: float) -> dict:
        """The one-line JSON summary of a run, with its last losses."""
        last = self.last_metrics()
        return {"run_dir": str(self.run_dir), "steps": steps, "images": images, "seconds": round(seconds, 3),
                "images_per_second": round(images / max(seconds, 1e-9), 1),
                "d1": last.get("d1"), "d2": last.get("d2"), "g": last.get("g")}

    def log(self, event) -> None:
        """One event (a dataclass of events.RECORDED) as a line of events.jsonl."""
        self._append_event(to_record(event))

    def _append_event(self, record: dict) -> None:
        with _writing(self.run_dir / layout.EVENTS), safe.open_append(self.run_dir / layout.EVENTS, self.run_dir) as f:
            f.write(json.dumps(record) + "\n")

    def append_quality(self, report: QualityReport, class_names: list[str]) -> None:
        with _writing(self.run_dir / layout.QUALITY):
            append_report(self.run_dir, report, class_names)

    # ---- checkpoints -------------------------------------------------------------------------------------
    def save_checkpoint(self, state: dict, step: int) -> Path:
        path = self.checkpoints / f"step-{step:09d}.pt"
        with _writing(path):
            ckpt.save_checkpoint(path, state, self.run_dir)
        for old in checkpoint_files(self.run_dir)[KEEP_CHECKPOINTS:]:
            safe.remove(old, self.run_dir)
        return path

    def new_variants_folder(self, step: int, results: str) -> Path:
        """RUN/variants/step-N/ for a fork's variants (each a run folder with its own writer), holding
        results.md: how each did. A second fork at the same step gets step-N-2."""
        folder = claim_new_dir(self.run_dir / VARIANTS / f"step-{step}", self.run_dir)
        ckpt.atomic_write_text(folder / "results.md", results, self.run_dir)
        return folder

    def has_checkpoint(self, step: int) -> bool:
        return (self.checkpoints / f"step-{step:09d}.pt").is_file()

    def save_diverged(self, state: dict, step: int) -> Path:
        """The state the guard gave up on, for inspection; `--resume` never picks it."""
        path = self.checkpoints / f"{DIVERGED_PREFIX}step-{step:09d}.pt"
        with _writing(path):
            ckpt.save_checkpoint(path, state, self.run_dir)
        return path

    # ---- multi-step changes, journaled (journal.py) ------------------------------------------------------
    def branch(self, step: int, event_for: Callable[[int | None], object]) -> object:
        """A run that goes back to `step` (a rollback, an older checkpoint resumed) starts a branch: the
        checkpoints and grids of the stretch past it move to abandoned/after-step-N/, kept for inspection
        and never resumed from; its metrics rows stay in metrics.csv, where a step that goes back marks the
        branch (the history greys them). Then `event_for(newest step set aside, or None)` is logged. The
        change is journaled: a kill at any point is completed by the next open, with no row dropped."""
        later = [p for p in checkpoint_files(self.run_dir) if checkpoint_step(p) > step]
        grids = timelapse.grids_after(self.run_dir, step)
        event = event_for(max((checkpoint_step(p) for p in later), default=None))
        if not later and not grids:
            self.log(event)
            return event
        folder = claim_new_dir(self.run_dir / ABANDONED / f"after-step-{step:09d}", self.run_dir)
        intent = records.Intent(kind="branch", id=journal.new_id(), step=step,
                                folder=folder.relative_to(self.run_dir).as_posix(), events=(to_record(event),))
        journal.begin(self.run_dir, intent)
        self._complete_branch(intent, 0)
        return event

    def _complete_branch(self, intent: records.Intent, logged: int) -> None:
        """The branch's moves (those a killed process did not make) and its events from the `logged`-th on."""
        folder = self.run_dir / intent.folder
        for paths_, sub in (([p for p in checkpoint_files(self.run_dir) if checkpoint_step(p) > intent.step], layout.CHECKPOINTS),
                            (timelapse.grids_after(self.run_dir, intent.step), timelapse.FOLDER)):
            if paths_:
                safe.make_folder(folder / sub, self.run_dir, exist_ok=True)
            for path in paths_:
                safe.move(path, folder / sub / path.name, self.run_dir)
        self.truncate_after(None)  # only rows a crash cut short go
        self._log_intent(intent, logged)
        self._branch = intent  # the journal stays until the branch's first row: until then no row past it goes

    @property
    def branch_pending(self) -> bool:
        """A branch was begun and no row of it is written yet: the rows past its step are history, kept."""
        return self._branch is not None

    def adopt(self, commit_step: int, events: list, write: Callable[[], object]) -> None:
        """The run goes on from another state (a variant): `write()` writes its rows and its checkpoint at
        `commit_step`, which commits the change; then `events` (its hyperparameters, the fork) are logged.
        Killed before the checkpoint, the next open drops the change; after it, it logs what is missing."""
        intent = records.Intent(kind="adopt", id=journal.new_id(), step=commit_step, commit_step=commit_step,
                                events=tuple(to_record(e) for e in events))
        self._branch = None  # a branch still without a row is done (moved, logged): this intent replaces its journal
        journal.begin(self.run_dir, intent)
        write()
        self._log_intent(intent, 0)
        journal.clear(self.run_dir)

    def _replay(self) -> bool:
        intent = journal.read(self.run_dir, self.warnings.append)
        if intent is None:
            return False
        if intent.kind == "branch":
            self._complete_branch(intent, journal.logged(self.run_dir, intent.id))
            return True
        if self.has_checkpoint(intent.commit_step):  # an adoption whose checkpoint was written: committed
            self._log_intent(intent, journal.logged(self.run_dir, intent.id))
        journal.clear(self.run_dir)
        return True

    def _log_intent(self, intent: records.Intent, logged: int) -> None:
        """The intent's events from the `logged`-th on (a replay counts those a killed process wrote)."""
        for record in intent.events[logged:]:
            self._append_event({**record, "intent": intent.id})

    def has_checkpoint_after(self, step: int) -> bool:
        return any(checkpoint_step(p) > step for p in checkpoint_files(self.run_dir))

    def newest_checkpoint_before(self, step: int, warn: Callable[[str], None]) -> dict | None:
        try:
            return latest_checkpoint(self.run_dir, warn, before=step)[1]
        except CheckpointError:
            return None

    @property
    def generator(self) -> Path:
        return self.run_dir / GENERATOR_FILE

    @property
    def best(self) -> Path:
        return self.run_dir / BEST_FILE

    # ---- TensorBoard, an option of this writer ------------------------------------------------------------
    def open_tensorboard(self, config: dict) -> None:
        """Also write the run's events as TensorBoard files in RUN/tensorboard (checked first: a missing
        package is one line before the run starts)."""
        from cgan_core.run.tensorboard_log import TensorBoardLog

        self._board = TensorBoardLog(self.run_dir, config)

    def observe(self, event) -> None:
        """Every event the run's loop yields, for the TensorBoard files when they are open."""
        if self._board is not None:
            self._board.write(event)

    def close(self) -> None:
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None
        if self._board is not None:
            board, self._board = self._board, None
            board.close()
        self.lock.release()


# ---- one writer per run folder ---------------------------------------------------------------------
@contextmanager
def _writing(path: Path):
    """An OSError that names no file (a full disk on write or flush, a failed zip write inside torch.save)
    names the file being written, so the one-line message says where."""
    try:
        yield
    except OSError as exc:
        if exc.filename:
            raise
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc


def holds_run(folder: Path) -> bool:
    """Whether a folder already holds a run's files (a fresh run must not write into it). An empty
    checkpoints folder is what a refused start leaves (RunFiles makes it first): the same --out is free."""
    folder = Path(folder)
    return (any((folder / name).exists() for name in (layout.CONFIG, layout.METRICS, layout.EVENTS))
            or any((folder / layout.CHECKPOINTS).glob("*")))


def claim_new_dir(path: Path, root: Path | None = None) -> Path:
    """Create `path`, or `path-2`, `path-3`, ... when it exists: an atomic mkdir, so two runs started in
    the same second (or two sweeps' trials of one number) never share a folder. Inside a run folder
    (`root`), no folder on the way is a link."""
    path = Path(path)
    for n in range(1, 10_000):
        candidate = path if n == 1 else path.with_name(f"{path.name}-{n}")
        try:
            safe.make_folder(candidate, root)  # its parents made where missing
            return candidate
        except FileExistsError:
            continue
    raise CheckpointError(f"{path}: no free folder name beside it")


def _fmt(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)
