"""The step stats reach their readers every stats_every steps, and, where a run asks (the studio), also
whenever report_seconds of training have passed: a slow preset's plot does not trail by 10 steps."""
from __future__ import annotations

from cgan_core.run.events import LossChunk
from cgan_core.run.training_run import TrainingRun
from cgan_core.step.config import TrainConfig


def chunk_sizes(run: TrainingRun, steps: int) -> list[int]:
    sizes = []
    for _ in range(steps):
        sizes += [len(e.steps) for e in run.step() if isinstance(e, LossChunk)]
    run.close()
    return sizes


def test_chunks_are_whole_stats_every_steps_by_default(tmp_path, tiny_mnist):
    config = TrainConfig(preset="mlp-label-concat", batch_size=8, stats_every=5, sample_every=1000)
    assert chunk_sizes(TrainingRun(config, out=tmp_path / "a", dataset=tiny_mnist), 20) == [5, 5, 5, 5]


def test_a_run_that_asks_is_read_by_time_too(tmp_path, tiny_mnist):
    config = TrainConfig(preset="mlp-label-concat", batch_size=8, stats_every=5, sample_every=1000)
    run = TrainingRun(config, out=tmp_path / "b", dataset=tiny_mnist, report_seconds=1e-9)
    sizes = chunk_sizes(run, 20)
    # From the second step on, the training time since the last read is past the bound at every step (the
    # first one's time is counted once it has run): each step is read at once.
    assert sizes == [2] + [1] * 18
    with open(tmp_path / "b" / "metrics.csv") as f:
        assert len(f.read().splitlines()) == 21  # every row written, once
