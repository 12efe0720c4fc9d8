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
from cgan_core.run.folder_writer import RunFiles, claim_new_dir, latest_checkpoint
from cgan_core.run.fork import Fork, Variant, VariantResult, parse_vary, state_bytes
from cgan_core.run.saving import checkpoint_record, write_generator
from cgan_core.step.config import TrainConfig

VARIANTS = "variants"  # RUN/variants/step-N/: one run folder a variant


def add_command(sub, positive_int) -> None:
    branch = sub.add_parser("branch", help="fork a run into variants of its live hyperparameters, compare them "
                                           "from the same state on the same batches, and continue from one")
    branch.add_argument("run", type=Path)
    branch.add_argument("--vary", action="append", required=True, metavar="NAME=VALUES",
                        help="e.g. lr_d=0.5x,1x,2x (Nx scales the run's value; a number sets it); repeat to combine")
    branch.add_argument("--steps", type=positive_int, required=True, help="steps each variant trains")
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
    while not fork.done:
        fork.advance()
        done = min(v.step for v in fork.variants) - step
        print(f"  {done}/{args.steps} steps", file=sys.stderr)
    results = fork.results()
    scores = [_score(quality, v) if quality is not None else None for v in fork.variants]
    print(table(results, scores))
    folder = claim_new_dir(Path(args.run) / VARIANTS / f"step-{step}")
    for index, variant in enumerate(fork.variants):
        _save_variant(folder / f"{index + 1}-{_slug(variant.spec.label)}", variant, state)
    promoted = _choose(args.promote, fork, results, scores)
    if promoted is not None:
        _promote(files, promoted, state)
    files.log(Forked(step, args.steps, tuple(s.label for s in specs), str(folder),
                     promoted.spec.label if promoted is not None else None))
    print(json.dumps({"variants": str(folder), "promoted": promoted.spec.label if promoted else None,
                      "step": promoted.step if promoted else step}))
    return 0


def table(results: list[VariantResult], scores: list) -> str:
    lines = ["| variant | steps | d1 | d2 | g | D(real) | D(fake) | img/s | quality | the guard |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r, score in zip(results, scores):
        m = r.means
        quality = "" if score is None else f"{score[1]:.1%} acc, FD {score[2]:.2f}"
        guard = f"stopped: {r.stopped_by} at step {r.diverged_at}" if r.diverged_at is not None else ""
        guard = "; ".join([guard, *(f"advice: {a}" for a in r.advice)]).strip("; ")
        lines.append(f"| {r.label} | {r.steps} | {m['d1']:.3f} | {m['d2']:.3f} | {m['g']:.3f} | {m['d_real']:.2f} | "
                     f"{m['d_fake']:.2f} | {r.images_per_second:.0f} | {quality} | {guard} |")
    return "\n".join(lines)


def _quality(config: TrainConfig, dataset):
    from cgan_core.run.prepare import prepare_quality

    print("live quality: the dataset's domain classifier (trained first when it is not cached)", file=sys.stderr)
    return prepare_quality(config, dataset)


def _score(quality, variant: Variant) -> tuple[float, float, float] | None:
    """(objective, accuracy, Frechet distance) of the variant's generator now; None when it diverged."""
    from cgan_core.compare.optuna_sweep import score

    if variant.diverged_at is not None:
        return None
    t = variant.trainer
    report = quality.measure(t.generate, t.config.latent_dim, t.g.output_range, t.step_count)
    return score(report.accuracy, report.frechet, report.floor), report.accuracy, report.frechet


def _choose(promote: str | None, fork: Fork, results: list[VariantResult], scores: list) -> Variant | None:
    if promote is None:
        return None
    if promote != "best":
        return fork.chosen(promote)
    ranked = [(s[0], i) for i, s in enumerate(scores) if s is not None]
    if not ranked:
        raise UsageError("--promote best: every variant diverged; the run stays at its checkpoint")
    return fork.variants[max(ranked)[1]]


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() or c in ".-" else "_" for c in label.replace(" ", ""))[:60] or "variant"


def _record(variant: Variant, state: dict) -> dict:
    t = variant.trainer
    return checkpoint_record(t.state_dict(), t.config.to_dict(), variant.base_seconds + variant.seconds,
                             state.get("guard", {}), 1, state.get("guard_settings", {}))


def _save_variant(folder: Path, variant: Variant, state: dict) -> None:
    """A variant as a run folder of its own: the Runs view opens it, and `train --resume` continues it."""
    files = RunFiles(claim_new_dir(folder))
    try:
        files.write_config({**variant.trainer.config.to_dict(), **variant.trainer.hparams, "world_size": 1,
                            "global_batch_size": variant.trainer.config.batch_size})
        files.write_metrics(variant.rows)
        if variant.diverged_at is None:
            files.save_checkpoint(_record(variant, state), variant.step)
            write_generator(files.generator, variant.trainer, {"variant": variant.spec.label})
    finally:
        files.close()


def _promote(files: RunFiles, variant: Variant, state: dict) -> None:
    """The run goes on from the variant: its rows, its hyperparameters and its state become the run's."""
    if variant.diverged_at is not None:
        raise UsageError(f"--promote {variant.spec.label}: that variant diverged at step {variant.diverged_at}")
    step = int(state["step"])
    files.truncate_after(step)  # rows past the checkpoint were the old branch's; the variant trained them anew
    for name, new in variant.spec.changes.items():
        files.log(HParamChange(step, name, float(state["hparams"][name]), float(new)))
    files.write_metrics(variant.rows)
    files.save_checkpoint(_record(variant, state), variant.step)
    write_generator(files.generator, variant.trainer)
