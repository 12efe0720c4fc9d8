"""A fork's variants kept as run folders, RUN/variants/step-N/<i>-<label>/, each with its configuration,
its metrics since the fork, a resumable checkpoint and its generator: the Runs view opens and compares
them, and `train --resume` continues one. Written through RunFiles, the one writer of a run folder."""
from __future__ import annotations

from pathlib import Path

from cgan_core.run.folder_writer import RunFiles, claim_new_dir
from cgan_core.run.fork import Fork, Variant, VariantResult
from cgan_core.run.saving import checkpoint_record, write_generator


def slug(label: str) -> str:
    """A label as a folder name: "lr_d 0.3x, lr_g 2x" -> "lr_d0.3x_lr_g2x"."""
    return "".join(c if c.isalnum() or c in ".-" else "_" for c in label.replace(" ", ""))[:60] or "variant"


def variant_record(variant: Variant, state: dict) -> dict:
    """The variant as a checkpoint: its state (its own RNG streams) and the fork's guard and settings."""
    t = variant.trainer
    return checkpoint_record(variant.state_dict(), t.config.to_dict(), variant.base_seconds + variant.seconds,
                             variant.guard.state_dict(), 1, state.get("guard_settings", {}))


def save_variants(files: RunFiles, fork: Fork, state: dict, scores: list) -> Path:
    """Every variant of `fork` (from `state`, the fork's checkpoint record) under the run's
    variants/step-N/, with results.md: how each did (scores: Variant.measure's, or None each)."""
    table = results_table(fork.results(), scores)
    folder = files.new_variants_folder(fork.start_step, f"# Fork at step {fork.start_step}, "
                                                        f"{fork.horizon} steps each\n\n{table}\n")
    for index, variant in enumerate(fork.variants):
        _save_variant(folder / f"{index + 1}-{slug(variant.spec.label)}", variant, state)
    return folder


def results_table(results: list[VariantResult], scores: list) -> str:
    """How each variant did, as a markdown table (scores as Variant.measure gives them, or None each)."""
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


def _save_variant(folder: Path, variant: Variant, state: dict) -> None:
    files = RunFiles(claim_new_dir(folder))
    try:
        t = variant.trainer
        files.write_config({**t.config.to_dict(), **t.hparams, "world_size": 1,
                            "global_batch_size": t.config.batch_size})
        files.write_metrics(variant.rows)
        if variant.diverged_at is None:
            files.save_checkpoint(variant_record(variant, state), variant.step)
            write_generator(files.generator, t, {"variant": variant.spec.label}, files.run_dir)
    finally:
        files.close()
