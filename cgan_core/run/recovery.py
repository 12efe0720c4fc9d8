"""The guard's rollback carried out: back to the newest healthy snapshot (or checkpoint on disk) with the
learning rates backed off, or, with nowhere healthy to go, giving up with the diverged state kept aside.
It owns whether the live state diverged: once it has, nothing more is saved as healthy."""
from __future__ import annotations

from collections.abc import Callable

from cgan_core.errors import CheckpointError
from cgan_core.run.events import GuardGaveUp, RolledBack
from cgan_core.run.folder_writer import RunFiles
from cgan_core.run.guard import DivergenceGuard
from cgan_core.run.saving import RunSaves
from cgan_core.step.trainer import Trainer

# What a rollback keeps of the live state: the data and noise streams go on, so the batches that led to the
# trouble are not replayed.
STREAM_KEYS = ("batches", "noise_rng", "torch_rng", "cuda_rng", "images_seen")


class Recovery:
    def __init__(self, trainer: Trainer, guard: DivergenceGuard, files: RunFiles, saves: RunSaves,
                 warn: Callable[[str], None]) -> None:
        self.trainer, self.guard, self.files, self.saves, self.warn = trainer, guard, files, saves, warn
        self.diverged = False  # gave up with no healthy state to restore

    def rollback(self, reason: str, bad_step: int, seconds: float, to_step: int | None = None, manual: bool = False,
                 detail: str = "") -> list:
        """Restore the newest healthy snapshot from before `bad_step` (or the one at `to_step`), falling
        back to the newest healthy checkpoint on disk, with its learning rates times the backoff."""
        trainer = self.trainer
        from_step, current = trainer.step_count, trainer.state_dict()
        target = self.guard.target(bad_step, to_step)
        if target is None and manual:
            raise CheckpointError(f"no snapshot at or before step {to_step} (kept: {list(self.guard.ring.steps)})")
        if target is None:
            target = self.files.newest_checkpoint_before(bad_step - 1, self.warn)
        if target is None:
            return [self.give_up(reason, current, 0, seconds, "nowhere healthy to go back to")]
        trainer.load_state_dict({**target, **{k: current[k] for k in STREAM_KEYS if k in current}})
        backoff = 1.0 if manual else self.guard.config.backoff
        hp = trainer.hparams
        trainer.set_hparams(lr_g=hp["lr_g"] * backoff, lr_d=hp["lr_d"] * backoff)
        gave_up = self.guard.rolled_back(from_step, trainer.step_count, manual, reason)
        # The stretch past it is kept aside, never deleted, and the rollback recorded: one journaled change.
        event = self.files.branch(trainer.step_count, lambda _: RolledBack(from_step, trainer.step_count, reason,
                                                                         hp["lr_g"], hp["lr_d"], manual, detail))
        self.saves.clock.moved_to(trainer.step_count)
        return [event, self.give_up(reason, current, gave_up, seconds)] if gave_up else [event]

    def give_up(self, reason: str, diverged: dict, rollbacks: int, seconds: float, why: str = "") -> GuardGaveUp:
        """Keep the diverged state for inspection (never as a resumable checkpoint) and say so."""
        path = self.saves.diverged(diverged, seconds)
        self.diverged = not rollbacks  # with no rollback, the live state is the diverged one
        event = GuardGaveUp(self.trainer.step_count, f"{reason}: {why}" if why else reason, rollbacks, str(path))
        self.files.log(event)
        return event
