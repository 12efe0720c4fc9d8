"""`cgan-studio sweep`: many runs of one preset over a hyperparameter range, on Optuna (see sweep.py)."""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import torch

from cgan_core.cli.train import preset_for_data
from cgan_core.compare import optuna_sweep as sweep
from cgan_core.errors import UsageError
from cgan_core.output.quality import objective
from cgan_core.run import commands as cmd
from cgan_core.step.config import BestBy, TrainConfig
from cgan_core.step.device import threads_each


def add_command(sub, positive_int, positive_float) -> None:
    p = sub.add_parser("sweep", help="train many runs over hyperparameter ranges (Optuna), ranked by quality")
    p.add_argument("--preset", help="the preset every trial trains (default: the data's, as train picks it)")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--param", action="append", default=[], metavar="NAME=LOW:HIGH[:log]",
                   help=f"a range to search; NAME is one of {', '.join(sweep.SWEEPABLE)}; repeat for more")
    p.add_argument("--trials", type=positive_int, default=12, help="trials in the study, all processes together")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--max-seconds", type=positive_float, default=None,
                        help="training time of each trial (default 90 when --steps is not given)")
    length.add_argument("--steps", type=positive_int, default=None,
                        help="training steps of each trial instead of seconds: the same trials on any machine")
    p.add_argument("--out", type=Path, required=True, help="the sweep folder: one run directory per trial")
    p.add_argument("--parallel", type=positive_int, default=1,
                   help="trials at once on this machine (one per GPU on CUDA; on the CPU the cores are split)")
    p.add_argument("--storage", help="where the study lives: an SQLAlchemy URL or an Optuna journal file on shared "
                                     "storage (default: OUT/study.db)")
    p.add_argument("--study", help="the study's name (default: the sweep folder's name)")
    p.add_argument("--quality-every", type=positive_int, default=None, metavar="N",
                   help="measure quality every N steps (default: auto, <= 5%% of the training time)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--best-by", choices=[b.value for b in BestBy], default=BestBy.CLASSIFIER.value,
                   help="the objective: classifier (default: accuracy, less 0.1 point per floor-multiple of Frechet "
                        "distance) or independent (minus the mean per-class Frechet distance in a seeded random "
                        "network's features as a multiple of its real floor); each trial's best generator follows it")
    p.add_argument("--prune-after", type=positive_int, default=300, metavar="STEPS",
                   help="let every trial train this many steps before the pruner may stop it (default 300)")
    p.add_argument("--baseline", action="store_true",
                   help="make the first trial the preset's own values, so the ranking shows what the sweep gained")


def cmd_sweep(args) -> int:
    if not args.param:
        raise UsageError("argument --param: give at least one range, e.g. --param lr_g=1e-5:1e-3:log")
    params = [sweep.ParamRange.parse(text) for text in args.param]
    seconds = args.max_seconds if args.max_seconds is not None or args.steps is not None else 90.0
    base = TrainConfig(dataset=args.dataset, seed=args.seed, steps=args.steps, max_seconds=seconds,
                       best_by=args.best_by)
    # No preset named: the data's default, as `train` picks it (a worker process picks the same).
    base = dataclasses.replace(base, preset=args.preset) if args.preset else preset_for_data(base)
    base.validate()
    worker = os.environ.get("CGAN_SWEEP_WORKER") == "1"
    if not worker:
        sweep.check_folder(args.out)
    name = args.study or args.out.resolve().name
    args.out.mkdir(parents=True, exist_ok=True)
    # Before anything trains: a bad storage stops here.
    study = sweep.open_study(name, args.storage, args.out, prune_after=args.prune_after)
    if not worker and args.baseline and not study.get_trials(deepcopy=False):
        resolved = base.resolved()
        study.enqueue_trial({p.name: getattr(resolved, p.name) for p in params}, user_attrs={"baseline": True})
    if not worker:
        sweep.write_marker(args.out, {"study": name, "storage": args.storage, "preset": base.preset,
                                      "params": args.param, "trials": args.trials, "max_seconds": seconds, "steps": args.steps,
                                      "best_by": base.best_by})
    torch.set_num_threads(threads_each(args.parallel))
    others = [] if worker else sweep.start_workers(args.argv, args.parallel - 1)
    try:
        _optimize(study, base, params, args)
    finally:
        for process in others:
            process.wait()
    if worker:
        return 0
    rows = sweep.ranking(study)
    print(sweep.table(rows, [p.name for p in params]))
    print(json.dumps({"summary": str(sweep.write_summary(args.out, rows)), "trials": len(rows)}))
    return 0


def _optimize(study, base: TrainConfig, params: list, args) -> None:
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    from cgan_core.data import load_dataset
    from cgan_core.run.prepare import fetch_dataset, prepare_quality

    fetch_dataset(base.dataset)
    resolved = base.resolved()
    train = load_dataset(resolved.dataset, image_size=resolved.image_size, color=resolved.color)
    live = prepare_quality(resolved, train)
    # A trial left running by a process that died is failed and queued again, on every storage (the RDB
    # storage's heartbeats catch it too; a journal file has none): before starting, and after each trial.
    quiet = 3 * sweep.HEARTBEAT_SECONDS
    sweep.reclaim_dead_trials(study, quiet)
    # Running trials count too, so that no process starts a trial past --trials.
    counted = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
    if len(study.get_trials(deepcopy=False, states=counted)) >= args.trials:
        return
    done = MaxTrialsCallback(args.trials, states=counted)
    study.optimize(lambda trial: _trial(trial, base, params, args, train, live), catch=(), gc_after_trial=True,
                   callbacks=[lambda s, t: sweep.reclaim_dead_trials(s, quiet), done])


def _trial(trial, base: TrainConfig, params: list, args, train, live) -> float:
    """One run: train for --max-seconds (or --steps), report every quality measurement, stop early when pruned."""
    import optuna

    from cgan_core.output.quality import QualityReport
    from cgan_core.run.folder_writer import claim_new_dir
    from cgan_core.run.loop import RunLoop
    from cgan_core.run.training_run import TrainingRun

    values = {p.name: p.suggest(trial) for p in params}
    config = TrainConfig.from_dict({**base.to_dict(), **values})
    # A folder of its own even where another study's trial of this number ran (the same sweep folder
    # reused with another --study): trial-003-2.
    run = TrainingRun(config, out=claim_new_dir(args.out / f"trial-{trial.number:03d}"), dataset=train)
    run.enable_quality(live, args.quality_every)
    trial.set_user_attr("run_dir", str(run.run_dir))
    sweep.beat(trial)
    state = {"best": None, "pruned": False, "stop_sent": False, "beat": time.monotonic()}

    def next_command(block: bool):
        if state["pruned"] and not state["stop_sent"]:
            state["stop_sent"] = True
            return cmd.Stop()
        return None
    try:
        for event in RunLoop(run, next_command).events():
            if time.monotonic() - state["beat"] >= sweep.HEARTBEAT_SECONDS:
                sweep.beat(trial)
                state["beat"] = time.monotonic()
            if isinstance(event, QualityReport):
                _report(trial, event, state, config.selection)
        if state["best"] is None:  # shorter than one measurement interval: measure once at the end
            for event in run.measure_quality():
                if isinstance(event, QualityReport):
                    _report(trial, event, state, config.selection, prune=False)
    finally:
        run.close()
    trial.set_user_attr("steps", run.step_count)
    outcome = "pruned" if state["pruned"] else f"score {state['best']:.2f}"
    print(f"trial {trial.number}: {values} -> {outcome} ({run.step_count} steps, {run.run_dir})", file=sys.stderr)
    if state["pruned"]:
        raise optuna.TrialPruned()
    return state["best"]


def _report(trial, report, state: dict, by: BestBy, prune: bool = True) -> None:
    value = objective(report, by)
    trial.report(value, report.step)
    if state["best"] is None or value > state["best"]:
        state["best"] = value
        for key in ("accuracy", "frechet", "floor", "kid", "intra_mean", "intra_floor"):
            trial.set_user_attr(key, float(getattr(report, key)))
    if prune and trial.should_prune():
        state["pruned"] = True
