"""Hyperparameter sweeps on Optuna: each trial is an ordinary run directory under the sweep folder.

    cgan-studio sweep --preset studio-fast --param lr_g=1e-5:1e-3:log --param lr_d=1e-5:1e-3:log \\
        --trials 12 --max-seconds 90 --out SWEEP [--parallel 2] [--storage URL] [--study NAME]

The objective is the trial's best live-quality measurement: its conditional accuracy (the domain
classifier's verdict that each sample shows the class it was asked for: what a conditional GAN must get
right first), less 0.1 point per multiple of the real floor in Fréchet distance, so that between two
trials of equal accuracy the one whose samples look more like the data set (more varied, less collapsed)
ranks first. With --best-by independent the objective is instead minus the mean per-class Fréchet distance
in a seeded random network's features, as a multiple of its real floor: a ranking that the domain classifier
never shaped (quality.objective). It is reported at every measurement, so Optuna's median pruner stops a trial whose quality
trails the others' at the same step. Storage: an SQLite file in the sweep folder by default; any
SQLAlchemy URL (postgresql://…) or an Optuna journal file (a path ending .journal / .log) on shared storage
lets processes on many machines join one study: run the same command with --study NAME --storage URL on
each. Trials that were running when a sweep was interrupted are marked failed and tried again once: on a
database after a minute without a heartbeat, on a journal file once their run folder has no live writer
and has been quiet for a minute (reclaim_dead_trials).
"""
from __future__ import annotations

import csv
import functools
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from cgan_core import records
from cgan_core.errors import CganError, ConfigError, UsageError
from cgan_core.processes import end_with
from cgan_core.run.run_lock import writer_alive
from cgan_core.step.config import LIVE_FIELDS, TrainConfig

INT_PARAMS = ("d_steps", "batch_size", "latent_dim")
SWEEPABLE = (*LIVE_FIELDS, "batch_size", "latent_dim")
MARKER = "sweep.json"
# A running trial's heartbeat; one silent for three beats was left by a process that died. (Tests shorten it.)
HEARTBEAT_SECONDS = int(os.environ.get("CGAN_SWEEP_HEARTBEAT", "20"))
HEARTBEAT = "heartbeat"  # the user attribute a running trial refreshes every HEARTBEAT_SECONDS


@dataclass(frozen=True)
class ParamRange:
    name: str
    low: float
    high: float
    log: bool

    @classmethod
    def parse(cls, text: str) -> ParamRange:
        """NAME=LOW:HIGH[:log] (ints for d_steps, batch_size, latent_dim)."""
        name, _, spec = text.partition("=")
        name = name.strip().replace("-", "_")
        if name not in SWEEPABLE:
            raise UsageError(f"argument --param: unknown hyperparameter {name!r} in {text!r} "
                             f"(one of {', '.join(SWEEPABLE)})")
        parts = spec.split(":")
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "log"):
            raise UsageError(f"argument --param: {text!r} is not NAME=LOW:HIGH or NAME=LOW:HIGH:log")
        try:
            low, high = float(parts[0]), float(parts[1])
        except ValueError:
            raise UsageError(f"argument --param: {text!r}: LOW and HIGH must be numbers") from None
        log = len(parts) == 3
        if not (math.isfinite(low) and math.isfinite(high) and low < high) or (log and low <= 0):
            raise UsageError(f"argument --param: {text!r}: needs LOW < HIGH{' and LOW > 0 on a log scale' if log else ''}")
        probe = TrainConfig(**{name: int(low) if name in INT_PARAMS else low})
        try:
            probe.validate()
            TrainConfig(**{name: int(high) if name in INT_PARAMS else high}).validate()
        except ConfigError as exc:
            raise UsageError(f"argument --param: {text!r}: {exc}") from None
        return cls(name, low, high, log)

    def suggest(self, trial) -> float | int:
        if self.name in INT_PARAMS:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)


def open_study(name: str, storage: str | None, folder: Path, create: bool = True, prune_after: int = 300):
    """The study, created if missing. An unreachable storage is one message that names it."""
    try:
        import optuna
    except ImportError:
        raise UsageError("sweeps need optuna: pip install 'cgan-studio[sweep]' (or pip install optuna)") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = storage or f"sqlite:///{(folder / 'study.db').resolve()}"
    try:
        if url.endswith((".journal", ".log")) and "://" not in url:
            from optuna.storages import JournalStorage
            from optuna.storages.journal import JournalFileBackend

            backend = JournalStorage(JournalFileBackend(url))
        else:
            backend = _rdb(url)
        # No verdict before `prune_after` steps: a GAN's first measurements are mostly noise (a first sweep
        # pruned, at step 100, a trial whose rates were next to those of its best trial).
        pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=prune_after)
        if create:
            return optuna.create_study(study_name=name, storage=backend, direction="maximize", pruner=pruner,
                                       load_if_exists=True)
        return optuna.load_study(study_name=name, storage=backend, pruner=pruner)
    except Exception as exc:  # sqlalchemy's errors: a bad URL, a missing driver, a database that does not answer
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise CganError(f"--storage {url}: cannot open the study there ({first})") from None


def _rdb(url: str):
    """An RDB storage whose trials send heartbeats: one left running by a process that died is marked failed
    and queued again (once) when the study next hands out a trial."""
    import warnings

    import optuna.storages as storages
    from optuna.exceptions import ExperimentalWarning

    with warnings.catch_warnings():  # the heartbeat API is marked experimental; it is what Optuna documents
        warnings.simplefilter("ignore", ExperimentalWarning)
        if hasattr(storages, "RetryHeartbeatStaleTrialCallback"):  # optuna >= 4.9
            retry = {"heartbeat_stale_trial_callback": storages.RetryHeartbeatStaleTrialCallback(max_retry=1)}
        else:
            retry = {"failed_trial_callback": storages.RetryFailedTrialCallback(max_retry=1)}
        return storages.RDBStorage(url, heartbeat_interval=HEARTBEAT_SECONDS, grace_period=3 * HEARTBEAT_SECONDS,
                                   **retry)


def beat(trial) -> None:
    """A running trial's heartbeat in the study's own storage, which every machine of the sweep sees."""
    trial.set_user_attr(HEARTBEAT, time.time())


def _folder_here(run_dir: str | None) -> Path | None:
    """A trial's run folder when it is on this machine (another machine's path, or no path: None)."""
    try:
        return Path(run_dir) if run_dir is not None and Path(run_dir).is_dir() else None
    except OSError:  # a name no file system here takes
        return None


def reclaim_dead_trials(study, quiet_seconds: float) -> list[int]:
    """Trials left running by a process that died, on a storage without heartbeats of its own (a journal
    file): no heartbeat in the storage for `quiet_seconds` (a trial of another machine sharing the storage
    beats, so it is never taken for dead here), its run folder has no live writer (the kernel drops a dead
    process's lock, even after kill -9) and nothing in it moved. Each is marked failed and queued again
    with its settings, once."""
    from optuna.trial import TrialState

    reclaimed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        try:  # the storage is shared: what it holds is parsed like any record from outside
            attrs = records.convert({k: trial.user_attrs.get(k) for k in (HEARTBEAT, "run_dir")},
                                    records.TrialAttributes, f"trial {trial.number}")
        except ConfigError:
            attrs = records.TrialAttributes()  # no heartbeat, no folder: judged by its start alone
        if attrs.heartbeat is not None and time.time() - attrs.heartbeat < quiet_seconds:
            continue
        here = _folder_here(attrs.run_dir)
        if here is not None and writer_alive(here):
            continue
        moved = [p.stat().st_mtime for p in (here.glob("*") if here is not None else []) if p.is_file()]
        started = trial.datetime_start.timestamp() if trial.datetime_start else time.time()
        if time.time() - max([started, *moved]) < quiet_seconds:
            continue  # a trial that is still starting, or a writer that closed its run a moment ago
        try:
            study.tell(trial.number, state=TrialState.FAIL)
        except (RuntimeError, ValueError):  # another process of the sweep reclaimed it, or it just ended
            continue
        if "retry_of" not in trial.user_attrs:
            study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
        reclaimed.append(trial.number)
    return reclaimed


def check_folder(folder: Path) -> None:
    """A sweep folder is new, empty, or a sweep's (it has sweep.json); anything else is refused."""
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"argument --out: {folder} is a file, not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / MARKER).is_file():
        raise UsageError(f"argument --out: {folder} holds something else (no {MARKER}); give a new or empty folder")


def write_marker(folder: Path, settings: dict) -> None:
    from cgan_core.output.checkpoint import atomic_write_text

    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / MARKER, json.dumps(settings, indent=2))


def start_workers(argv: list[str], count: int) -> list[subprocess.Popen]:
    """count more processes of the same sweep (--parallel K): each joins the study and takes trials. On
    CUDA with enough GPUs, worker i gets GPU i + 1 (this process keeps GPU 0)."""
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    workers = []
    for i in range(count):
        env = {**os.environ, "CGAN_SWEEP_WORKER": "1"}
        if gpus > count:
            env["CUDA_VISIBLE_DEVICES"] = str(i + 1)
        workers.append(subprocess.Popen([sys.executable, "-m", "cgan_core", *argv], env=env,
                                        preexec_fn=functools.partial(end_with, os.getpid())))
    return workers


def ranking(study) -> list[dict]:
    """Every finished trial, best first: number, state, value, its settings and its run's best quality."""
    import optuna

    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.state not in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED):
            continue
        value = t.value if t.value is not None else max(t.intermediate_values.values(), default=float("nan"))
        state = t.state.name.lower() + (" (preset's own)" if t.user_attrs.get("baseline") else "")
        rows.append({"trial": t.number, "state": state, "score": value, **t.params,
                     **{k: t.user_attrs.get(k) for k in ("accuracy", "frechet", "floor", "steps", "run_dir")}})
    return sorted(rows, key=lambda r: -r["score"] if r["score"] == r["score"] else math.inf)


def write_summary(folder: Path, rows: list[dict]) -> Path:
    path = folder / "summary.csv"
    names = sorted({k for r in rows for k in r}, key=lambda k: (k not in ("trial", "state", "score"), k))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=names)
        writer.writeheader()
        writer.writerows(rows)
    return path


def table(rows: list[dict], params: list[str]) -> str:
    head = ["rank", "trial", "state", "score", *params, "accuracy", "Frechet", "steps"]
    lines = [" | ".join(head)]
    for i, r in enumerate(rows, 1):
        cells = [str(i), str(r["trial"]), r["state"], f"{r['score']:.2f}",
                 *(f"{r[p]:.3g}" if isinstance(r.get(p), float) else str(r.get(p)) for p in params),
                 f"{r['accuracy']:.1%}" if r.get("accuracy") is not None else "-",
                 f"{r['frechet']:.2f}" if r.get("frechet") is not None else "-", str(r.get("steps"))]
        lines.append(" | ".join(cells))
    return "\n".join(lines)
