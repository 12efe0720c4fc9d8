"""Runs the tests build the same way in several files."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def straight_and_resumed(config: Callable[[int], object], folder: Path, dataset, total: int = 20, half: int = 10):
    """`total` steps straight (folder/a), and `half` steps then a resume to `total` (folder/b): (straight, resumed)
    TrainingRuns, closed. config(steps) gives each run's TrainConfig."""
    from cgan_core.run.loop import train
    from cgan_core.run.training_run import TrainingRun

    straight = TrainingRun(config(total), out=folder / "a", dataset=dataset)
    train(straight)
    straight.close()
    first = TrainingRun(config(half), out=folder / "b", dataset=dataset)
    train(first)
    first.close()
    rest = TrainingRun(config(total), resume=folder / "b", dataset=dataset, overrides={"steps": total})
    train(rest)
    rest.close()
    return straight, rest
