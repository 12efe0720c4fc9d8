"""Runs side by side: a folder of run directories (or a sweep) summarised for the studio's Runs view.

`scan(folder)` lists every run directory in a folder (and one level of sub-folders, so a folder of
sweeps works): its settings, how far it got, how it ended, and its last and best quality. `curves(run)`
reads one run's smoothed-ready losses, quality and markers; `differences(runs)` says which settings differ.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cgan_core.errors import CganError
from cgan_core.output.quality import objective
from cgan_core.records import FinishReason
from cgan_core.run.events import GuardGaveUp, HParamChange, RolledBack, RunFinished
from cgan_core.run.folder_reader import (
    is_run,
    last_step,
    metrics_changed_at,
    read_config,
    read_events,
    read_metrics,
    split_branches,
    started_at,
)
from cgan_core.run.quality_file import load_reports
from cgan_core.step.config import BestBy

KEY_SETTINGS = ("preset", "dataset", "batch_size", "lr_g", "lr_d", "beta1", "d_steps", "seed", "precision")
LIVE_SECONDS = 120  # a run with no end recorded that wrote metrics this recently is still running


@dataclass(frozen=True)
class RunSummary:
    run_dir: Path
    config: dict
    steps: int
    status: str  # running, finished, stopped, stopped by the guard, interrupted, unreadable: why
    last_accuracy: float | None
    best_accuracy: float | None
    best_frechet: float | None
    best_floor: float | None  # the real-data Fréchet floor of that measurement
    started: float  # config.json's modification time
    best_score: float | None = None  # the objective (quality.objective) of the best measurement, by the run's rule

    @property
    def name(self) -> str:
        return self.run_dir.name


@dataclass(frozen=True)
class RunCurves:
    steps: np.ndarray
    seconds: np.ndarray  # training time at each step
    losses: dict[str, np.ndarray]  # d1, d2, g on the live line (after the last rollback)
    quality_steps: np.ndarray
    accuracy: np.ndarray
    markers: list[tuple[int, str]] = field(default_factory=list)  # (step, "lr G 4e-4 -> 2e-4" / "rollback …")


def scan(folder: Path) -> list[RunSummary]:
    """The runs in `folder` (itself a run, its run sub-folders, and runs one level further down)."""
    folder = Path(folder)
    if is_run(folder):
        return [summarise(folder)]
    found = []
    for child in sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []:
        if is_run(child):
            found.append(summarise(child))
        else:
            found += [summarise(g) for g in sorted(p for p in child.iterdir() if p.is_dir()) if is_run(g)]
    return found


def summarise(run_dir: Path) -> RunSummary:
    """A run's row in the Runs view and `compare`; a run with a file that cannot be read (a link in its place)
    is listed with the reason as its status."""
    config = read_config(run_dir)
    steps = last_step(run_dir)
    try:
        events = read_events(run_dir)
        reports = load_reports(run_dir)
    except CganError as exc:
        return RunSummary(run_dir, config, steps, f"unreadable: {exc}", None, None, None, None,
                          started_at(run_dir), None)
    by = _rule(config)
    best = max(reports, key=lambda r: objective(r, by), default=None)
    return RunSummary(run_dir, config, steps, _status(run_dir, events), reports[-1].accuracy if reports else None,
                      best.accuracy if best else None, best.frechet if best else None, best.floor if best else None,
                      started_at(run_dir), objective(best, by) if best else None)


def _rule(config: dict) -> BestBy:
    """The run's --best-by, from its config.json (a file from outside: an unknown value reads as the default)."""
    try:
        return BestBy(config.get("best_by", BestBy.CLASSIFIER.value))
    except ValueError:
        return BestBy.CLASSIFIER


def _status(run_dir: Path, events: list) -> str:
    finished = next((e for e in reversed(events) if isinstance(e, RunFinished)), None)
    if finished is not None:
        if finished.reason is FinishReason.DIVERGED or any(isinstance(e, GuardGaveUp) for e in events):
            return "stopped by the guard"
        return "stopped" if finished.reason is FinishReason.STOPPED else "finished"
    changed = metrics_changed_at(run_dir)
    if changed is not None and time.time() - changed < LIVE_SECONDS:
        return "running"
    return "interrupted"


def curves(run_dir: Path) -> RunCurves:
    steps, columns = read_metrics(run_dir)
    live, _ = split_branches(steps)
    losses = {k: columns[k].astype(np.float32)[live] for k in ("d1", "d2", "g")}
    seconds = columns["seconds"][live]
    reports = load_reports(run_dir)
    markers = []
    for event in read_events(run_dir):
        if isinstance(event, HParamChange):
            markers.append((event.step, f"{event.name.replace('_', ' ')} {event.old:.3g} -> {event.new:.3g}"))
        elif isinstance(event, RolledBack):
            markers.append((event.from_step, f"rollback to {event.to_step}"))
    return RunCurves(steps[live], seconds, losses, np.array([r.step for r in reports], dtype=np.int64),
                     np.array([r.accuracy for r in reports], dtype=np.float32), markers)


def differences(runs: list[RunSummary]) -> dict[str, list]:
    """The settings whose values are not the same in every run: {name: [value per run]}."""
    keys = sorted({k for r in runs for k in r.config})
    return {k: [r.config.get(k) for r in runs] for k in keys
            if len({json.dumps(r.config.get(k), sort_keys=True) for r in runs}) > 1}
