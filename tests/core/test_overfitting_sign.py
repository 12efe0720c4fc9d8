"""r_t = E[sign(D(x_real))], StyleGAN2-ADA's sign of D overfitting: in every step's stats (no extra host
sync: one more value in the stacked stats), in metrics.csv (a run an older version began keeps its own
columns), and for followers of such a run (unknown, not 0). The guard's advice: test_guard.py."""
from __future__ import annotations

import csv

import numpy as np

from cgan_core.run.events import LossChunk
from cgan_core.run.folder_reader import RunTail, read_metrics
from cgan_core.run.training_run import TrainingRun
from cgan_core.step.config import TrainConfig

OLD_HEADER = "step,epoch,d1,d2,g,lr_g,lr_d,d_real,d_fake,grad_d,grad_g,seconds\n"


def config(**extra) -> TrainConfig:
    return TrainConfig(**{"preset": "mlp-label-concat", "batch_size": 16, "stats_every": 5, "device": "cpu", **extra})


def test_each_step_records_r_t_in_its_stats_and_metrics(tmp_path, tiny_mnist):
    run = TrainingRun(config(steps=10), out=tmp_path / "run", dataset=tiny_mnist)
    stats = run.trainer.step().as_dict()
    assert -1.0 <= stats["r_t"] <= 1.0
    run.close()
    run = TrainingRun(config(steps=10), out=tmp_path / "run2", dataset=tiny_mnist)
    while run.step_count < 10:
        run.step()
    run.flush()
    run.close()
    rows = list(csv.DictReader(open(tmp_path / "run2" / "metrics.csv")))
    assert len(rows) == 10 and all(-1.0 <= float(r["r_t"]) <= 1.0 for r in rows)
    # r_t moves in steps of 2/batch: the sign of each of the 16 logits
    assert all(abs(float(r["r_t"]) * 16 - round(float(r["r_t"]) * 16)) < 1e-4 for r in rows)


def test_a_run_an_older_version_began_keeps_its_columns_and_reads_back(tmp_path, tiny_mnist):
    run = TrainingRun(config(steps=10), out=tmp_path / "run", dataset=tiny_mnist)
    while run.step_count < 5:
        run.step()
    run.flush()
    run.close()
    metrics = tmp_path / "run" / "metrics.csv"
    lines = metrics.read_text().splitlines()
    columns = lines[0].split(",")
    old = [",".join(v for c, v in zip(columns, line.split(",")) if c not in ("r_t", "aug_p")) for line in lines[1:]]
    metrics.write_text(OLD_HEADER + "\n".join(old) + "\n")  # as the version before r_t (and aug_p) wrote it
    resumed = TrainingRun(config(steps=10), out=tmp_path / "run", resume=tmp_path / "run", dataset=tiny_mnist)
    while resumed.step_count < 10:
        resumed.step()
    resumed.flush()
    resumed.close()
    text = metrics.read_text().splitlines()
    assert text[0] + "\n" == OLD_HEADER and all(len(line.split(",")) == 12 for line in text[1:])
    steps, columns = read_metrics(tmp_path / "run")
    assert list(steps) == list(range(1, 11))
    [chunk] = [c for c in RunTail(tmp_path / "run").poll() if isinstance(c, LossChunk)]
    assert np.isnan(chunk.column("r_t")).all() and np.isfinite(chunk.column("d1")).all()
