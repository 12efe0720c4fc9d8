"""Every rank but rank 0 of a distributed run: it trains in lock-step and applies what rank 0 shares.

Rank 0's TrainingRun owns the run directory, the guard, the grids and quality; a FollowerRun only steps.
It is driven by the same RunLoop, whose channel gives it rank 0's commands at every turn, so it pauses,
steps, changes a learning rate, takes rank 0's state after a rollback and stops at the same step.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from cgan_core.data import ImageDataset
from cgan_core.records import FinishReason
from cgan_core.run import commands as cmd
from cgan_core.run.budget import Budget
from cgan_core.run.events import RunFinished
from cgan_core.run.prepare import fetch_dataset
from cgan_core.step.config import TrainConfig
from cgan_core.step.distributed import World
from cgan_core.step.trainer import Trainer


class FollowerRun:
    def __init__(self, world: World, dataset: ImageDataset | None = None,
                 warn: Callable[[str], None] = lambda msg: None) -> None:
        self.world = world
        config = TrainConfig.from_dict(world.share(None))  # rank 0's configuration, resolved
        if dataset is None:  # on another node the dataset may not be in this machine's cache yet
            fetch_dataset(config.dataset)
        self.trainer = Trainer(config, dataset, warn, world)
        self.seconds = 0.0
        self.budget = Budget(None, None, None)  # rank 0 decides when the run ends

    # ---- what RunLoop reads ------------------------------------------------------------------------------
    @property
    def step_count(self) -> int:
        return self.trainer.step_count

    @property
    def epoch(self) -> float:
        return self.trainer.epoch_progress

    images_per_second = 0.0

    def progress(self) -> None:
        return None

    def limit_reached(self) -> None:
        return None

    def due_commands(self) -> list:
        return []

    # ---- what RunLoop does ---------------------------------------------------------------------------------
    def step(self, part: cmd.StepPart = cmd.StepPart.BOTH) -> list:
        start = time.perf_counter()
        part.run_on(self.trainer)  # its stats are averaged into rank 0's
        self.seconds += time.perf_counter() - start
        return []

    def apply(self, command) -> list:
        if isinstance(command, cmd.SetHParams):
            self.trainer.set_hparams(**command.values)
        elif isinstance(command, cmd.ShareState):
            self.trainer.load_state_dict(self.world.share(None))
        return []

    def flush(self) -> None:
        return None

    def sample_grid(self) -> None:
        return None

    def log(self, event) -> None:
        return None

    def observe(self, event) -> None:
        return None  # rank 0 writes the run folder

    def finish(self, reason: FinishReason) -> list:
        self.world.barrier()  # rank 0 has written the run directory
        return [RunFinished(self.step_count, reason, {})]
