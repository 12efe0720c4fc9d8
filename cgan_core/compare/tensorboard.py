"""A past run as TensorBoard event files (`cgan-studio export-tensorboard RUN`): its files read back through
the run folder's reader and written by the same TensorBoardLog a live run writes with."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from cgan_core.run.events import GuardAdvice, HParamChange, LossChunk, RolledBack, RunFinished
from cgan_core.run.quality_file import load_reports
from cgan_core.run.tensorboard_log import TensorBoardLog
from cgan_core.run.timelapse import load_timelapse


def export_run(run_dir: Path) -> Path:
    """A past run's files (metrics.csv, quality.csv, grids/, events.jsonl) as TensorBoard event files."""
    from cgan_core.run.folder_reader import RunTail, read_events

    tail = RunTail(run_dir)  # refuses a folder that is not a run directory
    log = TensorBoardLog(run_dir, tail.config)  # config.json, read once by the tail
    try:
        events = read_events(run_dir)
        chunk = next((e for e in tail.poll() if isinstance(e, LossChunk)), None)
        finished = next((e for e in reversed(events) if isinstance(e, RunFinished)), None)
        marks = sorted((e for e in events if isinstance(e, (HParamChange, RolledBack, GuardAdvice))),
                       key=lambda e: getattr(e, "step", getattr(e, "from_step", 0)))
        _write_in_order(log, chunk, marks)
        for step, image in load_timelapse(run_dir):
            log._image(step, image)
        for report in load_reports(run_dir):
            log.write(report)
        if finished is not None:
            log.write(finished)
    finally:
        log.close()
    return log.folder


def _write_in_order(log: TensorBoardLog, chunk: LossChunk | None, marks: list) -> None:
    """The losses stretch by stretch, each learning-rate change applied where it happened."""
    if chunk is None:
        for mark in marks:
            log.write(mark)
        return
    start = 0
    for mark in marks:
        at = getattr(mark, "from_step", None) or mark.step
        end = int(np.searchsorted(chunk.steps, at, side="right"))
        if end > start:
            log.write(_part(chunk, start, end))
            start = end
        log.write(mark)
    if start < len(chunk.steps):
        log.write(_part(chunk, start, len(chunk.steps)))


def _part(chunk: LossChunk, start: int, end: int) -> LossChunk:
    return LossChunk(chunk.steps[start:end], chunk.values[start:end], chunk.names, chunk.epoch, chunk.images_seen,
                     chunk.seconds, chunk.images_per_second)
