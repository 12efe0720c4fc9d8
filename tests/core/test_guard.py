"""Fault injection: the guard detects divergence, rolls back, and never loses the run."""
from __future__ import annotations

import json
import math

import pytest
import torch

from cgan_core.config import TrainConfig
from cgan_core.errors import ConfigError
from cgan_core.events import GuardGaveUp, RolledBack
from cgan_core.guard import GuardConfig
from cgan_core.run import TrainingRun

FAST_GUARD = dict(window=10, snapshot_every=10, ring_size=3)


def tiny_run(tmp_path, tiny_mnist, **guard) -> TrainingRun:
    config = TrainConfig(preset="studio-fast", batch_size=16, device="cpu", stats_every=5, sample_every=10_000,
                         checkpoint_every=10_000)
    return TrainingRun(config, out=tmp_path / "run", dataset=tiny_mnist, guard={**FAST_GUARD, **guard})


def run_until(run, predicate, limit):
    seen = []
    for _ in range(limit):
        seen += run.step()
        if predicate(seen):
            break
    return seen


def test_lr_times_1000_is_rolled_back_and_training_recovers(tmp_path, tiny_mnist):
    run = tiny_run(tmp_path, tiny_mnist)
    run_until(run, lambda e: False, 30)
    healthy = dict(run.trainer.hparams)
    run.set_hparams(lr_g=healthy["lr_g"] * 1000, lr_d=healthy["lr_d"] * 1000)
    events = run_until(run, lambda e: any(isinstance(x, RolledBack) for x in e), 200)
    rollback = next(e for e in events if isinstance(e, RolledBack))
    assert rollback.to_step <= 30 and rollback.reason in ("non_finite", "grad_spike", "g_explodes", "d_dominance")
    assert run.trainer.hparams["lr_g"] == pytest.approx(healthy["lr_g"] * 0.5)  # the healthy lrs, backed off
    assert run.trainer.opt_d.param_groups[0]["lr"] == pytest.approx(healthy["lr_d"] * 0.5)
    later = run_until(run, lambda e: False, 40)
    chunks = [e for e in later if type(e).__name__ == "LossChunk"]
    assert chunks and all(math.isfinite(v) for c in chunks for v in c.values[:, :3].ravel())
    logged = [json.loads(l) for l in (run.run_dir / "events.jsonl").read_text().splitlines()]
    assert any(e["event"] == "rollback" and e["to_step"] == rollback.to_step for e in logged)


def test_nan_in_a_d_weight_rolls_back_within_k_steps(tmp_path, tiny_mnist):
    run = tiny_run(tmp_path, tiny_mnist)
    run_until(run, lambda e: False, 20)
    with torch.no_grad():
        next(run.trainer.d.parameters()).view(-1)[0] = float("nan")
    poisoned_at = run.step_count
    events = run_until(run, lambda e: any(isinstance(x, RolledBack) for x in e), run.config.stats_every + 1)
    rollback = next(e for e in events if isinstance(e, RolledBack))
    assert rollback.reason == "non_finite" and rollback.from_step - poisoned_at <= run.config.stats_every
    assert all(torch.isfinite(p).all() for p in run.trainer.d.parameters())
    # the stream moved on: the next batch is not the one that followed the snapshot the first time
    assert run.trainer.batches.position != 0 or run.trainer.batches.epoch > 0


def test_guard_gives_up_instead_of_looping(tmp_path, tiny_mnist):
    run = tiny_run(tmp_path, tiny_mnist, max_rollbacks=2, backoff=1.0)
    run_until(run, lambda e: False, 20)
    gave_up = None
    for _ in range(5):  # poison again after every rollback
        with torch.no_grad():
            next(run.trainer.d.parameters()).view(-1)[0] = float("nan")
        events = run_until(run, lambda e: any(isinstance(x, RolledBack) for x in e), 20)
        gave_up = next((e for e in events if isinstance(e, GuardGaveUp)), None)
        if gave_up:
            break
    assert gave_up is not None and gave_up.rollbacks == 2


def test_guard_off_never_rolls_back(tmp_path, tiny_mnist):
    run = tiny_run(tmp_path, tiny_mnist, enabled=False)
    run_until(run, lambda e: False, 10)
    with torch.no_grad():
        next(run.trainer.d.parameters()).view(-1)[0] = float("nan")
    events = run_until(run, lambda e: False, 12)
    assert not any(isinstance(e, RolledBack) for e in events)


def test_bad_guard_settings_are_named(tmp_path):
    with pytest.raises(ConfigError, match="backoff"):
        GuardConfig().replace(backoff=0)
    bad = tmp_path / "guard.toml"
    bad.write_text("windw = 3\n")
    with pytest.raises(ConfigError, match="guard.toml.*windw"):
        GuardConfig.read_overrides(bad)


def test_history_splits_the_abandoned_stretch():
    import numpy as np

    from cgan_core.history import split_branches

    steps = np.array([1, 2, 3, 4, 5, 6, 3, 4, 5, 6, 7])  # rolled back from 6 to 2
    live, abandoned = split_branches(steps)
    assert steps[live].tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert [steps[a].tolist() for a in abandoned] == [[3, 4, 5, 6]]


def test_collapse_is_diversity_lost_after_it_was_reached():
    import numpy as np

    from cgan_core.guard import CollapseMonitor

    monitor = CollapseMonitor(np.array([0.3, 0.3]), fraction=0.5)
    assert monitor.check(np.array([0.01, 0.01])) is None  # not learnt yet: not a collapse
    assert monitor.check(np.array([0.25, 0.05])) is None  # class 0 reaches healthy diversity
    assert monitor.check(np.array([0.02, 0.05])) == 0  # ... and loses it


def test_run_measures_per_class_diversity(tmp_path, tiny_mnist):
    run = tiny_run(tmp_path, tiny_mnist)
    real, fake = run.collapse.real, run.sample_diversity()
    assert real.shape == fake.shape == (10,) and (real > 0.1).all()  # thin 1s: ~0.14; the rest ~0.3


def test_damaged_newest_checkpoint_falls_back_to_the_previous(tmp_path, tiny_mnist):
    run = tiny_run(tmp_path, tiny_mnist)
    run.step()
    run.save_checkpoint()
    run.step()
    newest = run.save_checkpoint()
    run.close()
    data = open(newest.path, "rb").read()
    open(newest.path, "wb").write(data[: len(data) // 3])
    warnings = []
    resumed = TrainingRun(TrainConfig(), resume=run.run_dir, dataset=tiny_mnist, warn=warnings.append)
    assert resumed.step_count == 1
    assert warnings and "step-000000002.pt" in warnings[0]
    resumed.close()


def test_bounds_come_from_loss_then_preset_then_user(tmp_path, tiny_mnist):
    config = TrainConfig(preset="seed001-mlp", batch_size=8)
    run = TrainingRun(config, out=tmp_path / "a", dataset=tiny_mnist, guard={"window": 7})
    assert run.guard.d_loss_floor == 0.36 and run.guard.window == 7 and run.guard.g_ceiling == 6.0
    run.close()
    hinge = GuardConfig.for_loss("hinge")
    assert hinge.g_ceiling == 10.0 and GuardConfig.for_loss("bce").g_ceiling == 6.0


def test_run_level_resume_is_exact(tmp_path, tiny_mnist):
    """What the CLI does: 20 steps straight, or 10 + finish + resume + 10: the same losses and weights."""
    import csv

    def config(steps):
        return TrainConfig(preset="seed004-dcgan", batch_size=8, steps=steps, seed=4, stats_every=5)

    def losses(run_dir):
        with open(run_dir / "metrics.csv") as f:
            return [(r["step"], r["d1"], r["d2"], r["g"]) for r in csv.DictReader(f)]

    straight = TrainingRun(config(20), out=tmp_path / "a", dataset=tiny_mnist)
    list(straight.events())
    straight.close()
    half = TrainingRun(config(10), out=tmp_path / "b", dataset=tiny_mnist)
    list(half.events())
    half.close()
    rest = TrainingRun(config(20), resume=tmp_path / "b", dataset=tiny_mnist, overrides={"steps": 20})
    list(rest.events())
    rest.close()
    assert losses(tmp_path / "a") == losses(tmp_path / "b")
    for a, b in zip(straight.trainer.d.parameters(), rest.trainer.d.parameters()):
        assert torch.equal(a, b)
    for a, b in zip(straight.trainer.g.parameters(), rest.trainer.g.parameters()):
        assert torch.equal(a, b)
