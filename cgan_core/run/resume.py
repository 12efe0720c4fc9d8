"""Where a resume starts: the newest healthy checkpoint of a run folder (or the one named), the saved
configuration with the caller's fixed settings on top, and the folder the run goes on writing."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cgan_core.errors import CheckpointError, ConfigError, UsageError
from cgan_core.run.budget import Budget
from cgan_core.run.events import Reason, RolledBack
from cgan_core.run.folder_writer import RunFiles, holds_run, latest_checkpoint
from cgan_core.step.config import LIVE_FIELDS, BestBy, TrainConfig
from cgan_core.step.distributed import World
from cgan_core.step.trainer import Trainer

LENGTH_FIELDS = ("steps", "epochs", "max_seconds")


def resumed_config(saved: dict, overrides: dict) -> TrainConfig:
    """The saved configuration, with the caller's fixed settings on top. A length given with the resume
    replaces the saved length as a whole (a resume with --max-seconds 60 is not held to the old --steps)."""
    fixed = {k: v for k, v in overrides.items() if k not in LIVE_FIELDS}
    saved_rule = saved.get("best_by", BestBy.CLASSIFIER.value)
    if fixed.get("best_by", saved_rule) != saved_rule:
        # best.safetensors was chosen by the saved rule: a second rule would replace it by a figure it was
        # never compared on, and the user's best model would be lost.
        raise ConfigError(f"--best-by {fixed['best_by']}: this run picks its best generator by {saved_rule}, "
                          "and a resume keeps that rule (train a new run, or `branch` it, to pick by another)")
    if any(k in fixed for k in LENGTH_FIELDS):
        fixed.update({k: fixed.get(k) for k in LENGTH_FIELDS})
    return TrainConfig.from_dict({**saved, **fixed})


def resume_point(resume: Path, out: Path | None, overrides: dict, world: World | None,
                 warn: Callable[[str], None]) -> tuple[TrainConfig, Path, dict]:
    """(configuration, run folder, checkpoint state) to go on from."""
    path, state = latest_checkpoint(resume, warn)  # the newest healthy checkpoint
    config = resumed_config(state["config"], overrides)
    own = path.parent.parent  # the run the checkpoint belongs to
    if out is not None and Path(out).resolve() != own.resolve() and holds_run(out):
        # One writer, on every path: a resume written into another run's folder would rewrite that run.
        raise UsageError(f"--out {out}: that folder already holds another run; resume {resume} into a new "
                         f"folder, or --resume {out} to continue that one")
    folder = Path(out) if out else own
    saved, now = int(state.get("world_size", 1)), world.size if world is not None else 1
    if saved != now:
        batch = state["config"].get("batch_size")
        warn(f"this run was trained on {saved} process(es) and resumes on {now}: the global batch changes "
             f"from {saved} x {batch} to {now} x {batch} images")
    return config, folder, state


def load_networks(trainer: Trainer, state: dict, run_dir: Path) -> None:
    """The checkpoint's state into the freshly built trainer, or one line when its networks have other
    shapes than the preset builds now (a run saved when the preset's widths were others)."""
    try:
        trainer.load_state_dict(state)
    except CheckpointError as error:
        raise CheckpointError(f"{run_dir}: {error}") from None
    except RuntimeError as error:
        detail = [line.strip() for line in str(error).splitlines() if line.strip()]
        raise CheckpointError(f"{run_dir}: its checkpoint's networks do not fit what preset {trainer.config.preset} "
                              f"builds at {trainer.dataset.image_shape[1]} px now ({detail[-1][:160]}); "
                              "train a new run, or resume it with the version that saved it") from None


def accept_resume(budget: Budget, files: RunFiles, trainer: Trainer, seconds: float, steps: int | None) -> None:
    """A resumed run goes on only where it has training left to do (else one line naming --steps); then
    its checkpoint is where the history goes on from (start_from_checkpoint)."""
    if budget.reached(trainer.step_count, trainer.epoch_progress, seconds) == "steps":
        raise UsageError(f"--steps {steps}: {files.run_dir} is already at step {trainer.step_count}; "
                         "ask for more steps, or give --max-seconds or --epochs to train on from here")
    start_from_checkpoint(files, trainer)


def start_from_checkpoint(files: RunFiles, trainer: Trainer) -> None:
    """A resume of the newest checkpoint trains the rows past it again, so they go. A resume of an older
    one (checkpoints past it exist) starts a branch: the stretch past it is set aside, its rows stay,
    greyed in the history, and a rollback event records the branch."""
    step = trainer.step_count
    if not files.has_checkpoint_after(step):
        # A branch begun and killed before its first row: the rows past it are the abandoned stretch, kept.
        files.truncate_after(None if files.branch_pending else step)
        return
    hp = trainer.hparams
    files.branch(step, lambda newest: RolledBack(newest, step, Reason.MANUAL, hp["lr_g"], hp["lr_d"], True,
                                                 f"resumed from the checkpoint at step {step}"))
