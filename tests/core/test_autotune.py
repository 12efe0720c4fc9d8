"""--autotune: every N steps the run forks around one live hyperparameter (kept, /F, xF), trains the variants
on the same batches, and goes on from the best by live quality; the value kept wins ties, so an autotuned
run that never finds better is the plain run bit for bit."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from cgan_core.errors import ConfigError, UsageError
from cgan_core.output.quality import LiveQuality, QualityReport
from cgan_core.run.autotune import Autotune
from cgan_core.run.events import Forked, HParamChange, LossChunk, VariantsReady
from cgan_core.run.loop import RunLoop
from cgan_core.run.training_run import TrainingRun
from cgan_core.step.config import TrainConfig


def config(**extra) -> TrainConfig:
    # mlp-label-concat trains with dropout: the run's RNG stream must come back with the variant kept
    return TrainConfig(**{"preset": "mlp-label-concat", "batch_size": 8, "stats_every": 5, "sample_every": 1000,
                          "checkpoint_every": 1000, "steps": 50, "device": "cpu", **extra})


class Scores(LiveQuality):
    """Reports the accuracies given, in the order measured (the variants in their order, per decision)."""

    def __init__(self, accuracies: list[float]) -> None:
        self.accuracies, self.measured = list(accuracies), 0

    def measure(self, generate, latent_dim, output_range, step):
        self.measured += 1
        accuracy = self.accuracies.pop(0)
        return QualityReport(step, accuracy, (accuracy,) * 10, 10.0, 1.0, 1.0, 0.01)


def train(run: TrainingRun, autotune: Autotune | None) -> list:
    return list(RunLoop(run, autotune=autotune).events())


def losses(events: list) -> np.ndarray:
    return np.concatenate([e.values for e in events if isinstance(e, LossChunk)])


def test_the_best_variant_is_kept_and_the_names_take_turns(tmp_path, tiny_mnist):
    run = TrainingRun(config(), out=tmp_path / "run", dataset=tiny_mnist)
    lr_g, lr_d = run.trainer.hparams["lr_g"], run.trainer.hparams["lr_d"]
    # decision at 20 tunes lr_g (20 // 20 = 1 -> around[1]), at 40 lr_d: variants kept, /2, x2 in that order
    run.enable_quality(Scores([0.5, 0.5, 0.9, 0.5, 0.8, 0.5]), every=10**6)
    events = train(run, Autotune.parse(["every=20", "around=lr_d,lr_g", "steps=5"]))
    forks = [e for e in events if isinstance(e, Forked)]
    assert [(f.step, f.promoted) for f in forks] == [(20, "lr_g 2x"), (40, "lr_d 0.5x")]
    assert run.trainer.hparams["lr_g"] == pytest.approx(2 * lr_g) and run.trainer.hparams["lr_d"] == pytest.approx(lr_d / 2)
    changes = [(e.step, e.name) for e in events if isinstance(e, HParamChange)]
    assert changes == [(20, "lr_g"), (40, "lr_d")]
    ready = [e for e in events if isinstance(e, VariantsReady)]
    assert all(r.automatic for r in ready) and [len(r.results) for r in ready] == [3, 3]
    assert run.step_count == 50  # the run waited for no one: the decisions were taken at once
    run.close()


def test_when_no_variant_scores_better_the_run_is_the_plain_run_bit_for_bit(tmp_path, tiny_mnist):
    torch.manual_seed(0)
    plain = TrainingRun(config(), out=tmp_path / "plain", dataset=tiny_mnist)
    expected = losses(train(plain, None))
    torch.manual_seed(0)
    tuned = TrainingRun(config(), out=tmp_path / "tuned", dataset=tiny_mnist)
    tuned.enable_quality(Scores([0.7] * 9), every=10**6)  # every variant alike: the value kept wins the tie
    events = train(tuned, Autotune.parse(["every=15 around=lr_d steps=4"]))
    assert [f.promoted for f in events if isinstance(f, Forked)] == ["lr_d 1x"] * 3
    assert tuned.trainer.hparams == plain.trainer.hparams
    assert all(torch.equal(a, b) for a, b in zip(tuned.trainer.state_dict()["g"].values(),
                                                 plain.trainer.state_dict()["g"].values()))
    assert np.array_equal(losses(events)[-10:], expected[-10:])
    for run in (plain, tuned):
        run.close()


def test_a_variant_better_by_less_than_the_noise_does_not_move_the_rate(tmp_path, tiny_mnist):
    run = TrainingRun(config(steps=30), out=tmp_path / "run", dataset=tiny_mnist)
    lr_d = run.trainer.hparams["lr_d"]
    run.enable_quality(Scores([0.900, 0.906, 0.904, 0.900, 0.900, 0.912]), every=10**6)  # +0.6, then +1.2 points
    events = train(run, Autotune.parse(["every=10 around=lr_d steps=4"]))
    assert [(f.step, f.promoted) for f in events if isinstance(f, Forked)] == [(10, "lr_d 1x"), (20, "lr_d 2x")]
    assert run.trainer.hparams["lr_d"] == pytest.approx(2 * lr_d)
    run.close()


def test_a_budget_in_seconds_counts_every_variant(tmp_path, tiny_mnist):
    run = TrainingRun(config(steps=None), out=tmp_path / "run", dataset=tiny_mnist)
    run.enable_quality(Scores([0.7] * 3), every=10**6)
    at_fork = None
    for event in RunLoop(run, autotune=Autotune.parse(["every=10 around=lr_g steps=8"])).events():
        if isinstance(event, VariantsReady):
            at_fork = run.seconds  # the run's clock stands still while the variants train
        if isinstance(event, Forked):
            break
    assert event.step == 10 and run.step_count == 18
    # each variant's own seconds, as the last row of its folder says (the rows carry the run's clock at the fork
    # plus the variant's own time); comparing sums keeps the check exact however the host's load skews one variant
    spent = []
    for folder in sorted((run.run_dir / "variants" / "step-10").iterdir()):
        if folder.is_dir():
            with open(folder / "metrics.csv", newline="") as f:
                spent.append(float(list(csv.DictReader(f))[-1]["seconds"]) - at_fork)
    assert len(spent) == 3 and min(spent) > 0
    # the run's clock holds all three variants, not only the one it went on from
    assert run.seconds - at_fork == pytest.approx(sum(spent), abs=1e-3)  # rows keep 6 decimals
    run.close()


@pytest.mark.parametrize("words, named", [
    (["every=5", "around=lr_d"], "every=5"),
    (["every=100", "around=lr_x"], "around=lr_x"),
    (["every=100", "around=d_steps"], "around=d_steps"),
    (["every=100", "around=lr_d", "factor=1"], "factor=1"),
    (["every=100", "around=lr_d", "steps=100"], "steps=100"),
    (["every=100"], "around=NAME"),
    (["every=100", "around=lr_d", "every=200"], "every=200"),
    (["every=lots", "around=lr_d"], "every=lots"),
    (["sometimes"], "sometimes"),
])
def test_a_bad_setting_is_named(words, named):
    with pytest.raises(UsageError, match=named):
        Autotune.parse(words)


def test_the_cli_refuses_a_bad_autotune_and_a_distributed_one_in_one_line(cli_here, tmp_path):
    rc, _, err = cli_here("train", "--preset", "mlp-label-product", "--steps", "5", "--out", tmp_path / "a",
                          "--autotune", "every=5", "around=lr_d")
    assert rc == 2 and "every=5" in err and len(err.strip().splitlines()) == 1
    rc, _, err = cli_here("train", "--preset", "mlp-label-product", "--steps", "5", "--out", tmp_path / "b",
                          "--nproc", "2", "--autotune", "every=100", "around=lr_d")
    assert rc == 2 and "distributed" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_the_loop_refuses_autotune_on_ranks(tmp_path, tiny_mnist):
    run = TrainingRun(config(), out=tmp_path / "run", dataset=tiny_mnist)
    with pytest.raises(ConfigError, match="distributed"):
        RunLoop(run, channel=object(), autotune=Autotune(100, ("lr_d",)))
    run.close()
