"""`cgan-studio branch RUN --vary lr_d=0.5x,1x,2x --steps 500 [--promote best|LABEL]`: fork a run's newest
checkpoint into variants, train them side by side on the same batches and noise, print how each did, keep
each as a run folder under RUN/variants/, and (with --promote) continue the run from the one chosen.

The run folder's writer lock is taken first: a live run (or a second branch) is refused before anything is
read or trained. Without --promote the run itself is left as it was, apart from its events.jsonl line.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from cgan_core.data import load_dataset
from cgan_core.errors import UsageError
from cgan_core.run.events import Forked, HParamChange
from cgan_core.run.folder_reader import is_run
from cgan_core.run.folder_writer import RunFiles, latest_checkpoint
from cgan_core.run.fork import Fork, Variant, parse_vary, state_bytes
from cgan_core.run.fork_processes import processes_for, run_in_processes
from cgan_core.run.saving import write_generator
from cgan_core.run.variant_folders import results_table, save_variants, variant_record
from cgan_core.step.config import TrainConfig


def add_command(sub, positive_int) -> None:
    branch = sub.add_parser("branch", help="fork a run into variants of its live hyperparameters, compare them "
                                           "from the same state on the same batches, and continue from one")
    branch.add_argument("run", type=Path)
    branch.add_argument("--vary", action="append", required=True, metavar="NAME=VALUES",
                        help="e.g. lr_d=0.5x,1x,2x (Nx scales the run's value; a number sets it); repeat to combine")
    branch.add_argument("--steps", type=positive_int, required=True, help="steps each variant trains")
    branch.add_argument("--processes", type=positive_int, metavar="N",
                        help="train the variants N processes at a time (default: one per variant up to the cores "
                             "on a CPU, 1.24x faster per variant on two cores; 1: in turn in this process)")
    branch.add_argument("--promote", metavar="best|LABEL",
                        help="continue the run from this variant: best scores highest on live quality (the sweep's "
                             "objective: accuracy, then Frechet distance), or a variant's label")


def cmd_branch(args) -> int:
    if not is_run(args.run):
        raise UsageError(f"argument run: {args.run} is not a run directory (no config.json)")
    warn = lambda msg: print(f"cgan-studio: warning: {msg}", file=sys.stderr)
    files = RunFiles(args.run)  # the one writer: a live run, or another branch, is refused here
    try:
        return _branch(args, files, warn)
    finally:
        files.close()


def _branch(args, files: RunFiles, warn) -> int:
    _, state = latest_checkpoint(args.run, warn)
    step = int(state["step"])
    if args.promote and files.has_checkpoint_after(step):
        raise UsageError(f"--promote: {args.run} has checkpoints after step {step} that could not be read; "
                         "resume it first (cgan-studio train --resume) or set them aside")
    config = TrainConfig.from_dict(state["config"], source=f"{args.run}: checkpoint config")
    specs = parse_vary(args.vary, state["hparams"])
    if args.promote not in (None, "best") and args.promote not in [s.label for s in specs]:
        raise UsageError(f"--promote {args.promote}: not one of the variants ({'; '.join(s.label for s in specs)})")
    print(f"forking {args.run} at step {step} into {len(specs)} variants of {args.steps} steps; they hold "
          f"{state_bytes(state) * len(specs) / 2**20:.0f} MB", file=sys.stderr)
    dataset = load_dataset(config.dataset, image_size=config.image_size, color=config.color, warn=warn)
    quality = _quality(config, dataset) if args.promote == "best" else None
    fork = Fork(config, dataset, state, specs, args.steps, float(state.get("seconds", 0.0)))
    processes = processes_for(len(specs), config.device, args.processes)
    if processes > 1:
        print(f"  {len(specs)} variants, {processes} processes side by side", file=sys.stderr)
        run_in_processes(fork, state, processes, on_done=lambda label: print(f"  {label}: done", file=sys.stderr))
    while not fork.done:
        fork.advance()
        done = min(v.step for v in fork.variants) - step
        print(f"  {done}/{args.steps} steps", file=sys.stderr)
    results = fork.results()
    scores = [v.measure(quality) if quality is not None else None for v in fork.variants]
    print(results_table(results, scores))
    folder = save_variants(files, fork, state, scores)
    promoted = _choose(args.promote, fork, scores)
    forked = Forked(step, args.steps, tuple(s.label for s in specs), str(folder),
                    promoted.spec.label if promoted is not None else None)
    if promoted is not None:
        _promote(files, promoted, state, forked)
    else:
        files.log(forked)
    print(json.dumps({"variants": str(folder), "promoted": promoted.spec.label if promoted else None,
                      "step": promoted.step if promoted else step}))
    return 0


def _quality(config: TrainConfig, dataset):
    from cgan_core.run.prepare import prepare_quality

    print("live quality: the dataset's domain classifier (trained first when it is not cached)", file=sys.stderr)
    return prepare_quality(config, dataset)


def _choose(promote: str | None, fork: Fork, scores: list) -> Variant | None:
    if promote is None:
        return None
    if promote != "best":
        return fork.chosen(promote)
    try:
        return fork.best(scores)
    except UsageError as exc:
        raise UsageError(f"--promote {exc}") from None


def _promote(files: RunFiles, variant: Variant, state: dict, forked: Forked) -> None:
    """The run goes on from the variant: its rows, its hyperparameters and its state become the run's, as
    one journaled change (RunFiles.adopt): the checkpoint commits it, then the history says so."""
    if variant.diverged_at is not None:
        raise UsageError(f"--promote {variant.spec.label}: that variant diverged at step {variant.diverged_at}")
    step = int(state["step"])
    files.truncate_after(step)  # rows past the checkpoint were the old branch's; the variant trained them anew
    changes = [HParamChange(step, name, float(state["hparams"][name]), float(new))
               for name, new in variant.spec.changes.items()]

    def write() -> None:
        files.write_metrics(variant.rows)
        files.save_checkpoint(variant_record(variant, state), variant.step)
        write_generator(files.generator, variant.trainer, root=files.run_dir)

    files.adopt(variant.step, [*changes, forked], write)
