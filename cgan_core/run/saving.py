"""What a run keeps of its state, and when: resumable checkpoints (of a healthy state only) on a step and a
wall-time cadence, the newest healthy generator, the best one by live quality, a rescue checkpoint after a
failure mid-step, and a diverged state kept for inspection. Every file goes through the one writer (RunFiles)."""
from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

from cgan_core.output.checkpoint import save_generator
from cgan_core.output.quality import QualityReport
from cgan_core.run.events import BestSaved, CheckpointSaved
from cgan_core.run.folder_writer import CheckpointClock, RunFiles, checkpoint_files, checkpoint_step
from cgan_core.run.guard import DivergenceGuard
from cgan_core.step.trainer import Trainer


def checkpoint_record(trainer_state: dict, config: dict, seconds: float, guard_state: dict, ranks: int,
                      guard_settings: dict) -> dict:
    """What a checkpoint holds: the trainer's state and what the run needs to go on from it."""
    return {**trainer_state, "config": config, "seconds": seconds, "guard": guard_state, "world_size": ranks,
            "guard_settings": json.loads(json.dumps(guard_settings))}  # plain types only


def write_generator(path: Path, trainer: Trainer, extra: dict | None = None, root: Path | None = None) -> Path:
    """The generator to sample from (the EMA where there is one), with what it is, as safetensors (inside the
    run folder `root`, never through a link)."""
    config = trainer.config
    info = {"preset": config.preset, "dataset": config.dataset, "step": trainer.step_count,
            "ema": trainer.ema is not None, **(extra or {})}
    save_generator(Path(path), trainer.sampler, trainer.dataset.class_names, info, root)
    return Path(path)


class RunSaves:
    def __init__(self, files: RunFiles, trainer: Trainer, guard: DivergenceGuard, ranks: int) -> None:
        self.files, self.trainer, self.guard, self.ranks = files, trainer, guard, ranks
        config = trainer.config
        self.clock = CheckpointClock(trainer.step_count, config.checkpoint_every, config.checkpoint_minutes)
        self.seconds_writing = 0.0  # checkpoints and best generators written, inside the run's training seconds

    def record(self, trainer_state: dict, seconds: float) -> dict:
        """A checkpoint record of `trainer_state`: the live state, a snapshot, or a fork's starting point."""
        return checkpoint_record(trainer_state, self.trainer.config.to_dict(), seconds, self.guard.state_dict(),
                                 self.ranks, asdict(self.guard.config))

    def checkpoint(self, seconds: float) -> CheckpointSaved:
        """The live state as a resumable checkpoint, and the generator beside it while the run is healthy."""
        start, step = time.perf_counter(), self.trainer.step_count
        path = self.files.save_checkpoint(self.record(self.trainer.state_dict(), seconds), step)
        if self.guard.healthy_now():  # generator.safetensors holds the newest healthy generator only
            self.generator()
        self.clock.written(step)
        event = CheckpointSaved(step, str(path), time.time())
        self.files.log(event)
        self.seconds_writing += time.perf_counter() - start
        return event

    def rescue(self, seconds: float) -> Path | None:
        """After a failure mid-step (another rank died): the live state may be half a step, so the newest
        healthy snapshot becomes a checkpoint when it is newer than the newest on disk. Returns the newest."""
        on_disk = checkpoint_files(self.files.run_dir)
        newest = checkpoint_step(on_disk[0]) if on_disk else -1
        snapshot = self.guard.ring.newest_before(self.trainer.step_count)
        if snapshot is None or int(snapshot["step"]) <= newest:
            return on_disk[0] if on_disk else None
        return self.files.save_checkpoint(self.record(snapshot, seconds), int(snapshot["step"]))

    def generator(self, path: Path | None = None, extra: dict | None = None) -> Path:
        """The newest healthy generator (generator.safetensors), or `path`."""
        if path is None:  # the run's own: written as every file of the run is
            return write_generator(self.files.generator, self.trainer, extra, self.files.run_dir)
        return write_generator(Path(path), self.trainer, extra)

    def best(self, report: QualityReport) -> BestSaved:
        """The generator that scored best so far, as best.safetensors."""
        extra = {"accuracy": f"{report.accuracy:.4f}", "frechet": f"{report.frechet:.4f}",
                 "intra_frechet": f"{report.intra_mean:.4f}", "kid": f"{report.kid:.6g}",
                 "best_by": self.trainer.config.best_by}
        start = time.perf_counter()
        write_generator(self.files.best, self.trainer, extra, self.files.run_dir)
        self.seconds_writing += time.perf_counter() - start
        event = BestSaved(report.step, report.accuracy, report.frechet, str(self.files.best))
        self.files.log(event)
        return event

    def diverged(self, state: dict, seconds: float) -> Path:
        """A diverged state, for inspection only: never where a resume starts."""
        return self.files.save_diverged({**state, "config": self.trainer.config.to_dict(), "seconds": seconds},
                                        int(state["step"]))
