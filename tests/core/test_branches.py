"""A run knows its branch: resuming an older checkpoint sets the stretch past it aside, and the next
plain --resume continues the branch trained last; live guard settings travel in the checkpoint."""
from __future__ import annotations

import numpy as np

from cgan_core.run.folder_reader import load_history
from cgan_core.run.folder_writer import ABANDONED, checkpoint_files, checkpoint_step
from cgan_core.run.loop import train
from cgan_core.run.training_run import TrainingRun
from cgan_core.step.config import TrainConfig


def config(**extra) -> TrainConfig:
    return TrainConfig(**{"preset": "mlp-label-concat", "batch_size": 8, "stats_every": 5, "sample_every": 10,
                          "checkpoint_every": 10, "steps": 30, **extra})


def test_resuming_an_older_checkpoint_starts_a_branch_that_resume_continues(tmp_path, tiny_mnist):
    folder = tmp_path / "r"
    run = TrainingRun(config(), out=folder, dataset=tiny_mnist, guard={"window": 77})
    for _ in range(22):
        run.step()
    run.set_hparams(lr_d=1e-5)  # a change in the stretch that will be abandoned
    train(run)
    run.close()
    steps = sorted(checkpoint_step(p) for p in checkpoint_files(folder))
    older = steps[0]
    assert steps[-1] == 30 and older < 22
    branch = TrainingRun(config(), resume=folder / "checkpoints" / f"step-{older:09d}.pt",
                         overrides={"steps": older + 3}, dataset=tiny_mnist)
    assert branch.guard.config.window == 77  # the live guard settings came back with the checkpoint
    train(branch)
    branch.close()
    aside = sorted(p.name for p in (folder / ABANDONED).glob("*/checkpoints/*.pt"))
    assert aside == [f"step-{s:09d}.pt" for s in steps[1:]]  # kept for inspection, out of resume's way
    again = TrainingRun(config(), resume=folder, overrides={"steps": older + 5}, dataset=tiny_mnist)
    assert again.step_count == older + 3  # the branch trained last, not the abandoned step 30
    train(again)
    again.close()
    history = load_history(folder)
    assert list(history.steps) == list(range(1, older + 6))  # the live line is the branch
    assert any(len(s) and s.max() == 30 for s, _ in history.abandoned)  # the old stretch, greyed
    assert not history.changes and history.config["lr_d"] == 2e-4  # its lr change is not in force
    assert not [p for p in (folder / "grids").glob("*.png") if int(p.stem.split("-")[1]) > older + 5]


def test_a_plain_resume_after_a_crash_trains_the_lost_rows_again_without_a_branch(tmp_path, tiny_mnist):
    folder = tmp_path / "r"
    run = TrainingRun(config(steps=27), out=folder, dataset=tiny_mnist)
    for _ in range(27):
        run.step()  # no finish: a kill after step 27 (checkpoints at 5, 15, 25 or so)
    run.flush()
    run.close()
    resumed = TrainingRun(config(), resume=folder, overrides={"steps": 30}, dataset=tiny_mnist)
    train(resumed)
    resumed.close()
    assert not (folder / ABANDONED).exists()
    history = load_history(folder)
    assert list(history.steps) == list(range(1, 31)) and not history.abandoned
    assert np.all(np.diff(history.steps) == 1)
