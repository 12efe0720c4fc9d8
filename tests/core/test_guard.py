"""Fault injection: the guard detects divergence, rolls back, and never loses the run."""
from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
import torch

from cgan_core.errors import ConfigError
from cgan_core.run import grids
from cgan_core.run.events import GuardGaveUp, Reason, RolledBack
from cgan_core.run.guard import Action, GuardConfig
from cgan_core.run.loop import train
from cgan_core.run.training_run import TrainingRun
from cgan_core.step.config import TrainConfig
from tests.runs import straight_and_resumed

FAST_GUARD = dict(window=10, snapshot_every=10, ring_size=3, warmup=10)


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
    logged = [json.loads(line) for line in (run.run_dir / "events.jsonl").read_text().splitlines()]
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
    # The streams moved on: the data position and the noise state are those reached before the rollback,
    # not the snapshot's (replaying them would feed the same batches that led to the trouble).
    snapshot = run.guard.ring.at(rollback.to_step)
    assert run.trainer.inputs.batches.position != snapshot["batches"]["position"]
    assert not torch.equal(run.trainer.inputs.noise.get_state(), snapshot["noise_rng"])


def poison_until_give_up(run, module):
    """NaN in `module()`'s first weight after every rollback, until the guard gives up (or 5 tries)."""
    run_until(run, lambda e: False, 20)
    for _ in range(5):
        with torch.no_grad():
            next(module().parameters()).view(-1)[0] = float("nan")
        events = run_until(run, lambda e: any(isinstance(x, RolledBack) for x in e), 20)
        gave_up = next((e for e in events if isinstance(e, GuardGaveUp)), None)
        if gave_up:
            return gave_up
    return None


def test_guard_gives_up_instead_of_looping(tmp_path, tiny_mnist):
    run = tiny_run(tmp_path, tiny_mnist, max_rollbacks=2, backoff=1.0)
    gave_up = poison_until_give_up(run, lambda: run.trainer.d)
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

    from cgan_core.run.folder_reader import split_branches

    steps = np.array([1, 2, 3, 4, 5, 6, 3, 4, 5, 6, 7])  # rolled back from 6 to 2
    live, abandoned = split_branches(steps)
    assert steps[live].tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert [steps[a].tolist() for a in abandoned] == [[3, 4, 5, 6]]


def test_collapse_is_diversity_lost_after_it_was_reached():
    import numpy as np

    from cgan_core.run.guard import CollapseMonitor

    monitor = CollapseMonitor(np.array([0.3, 0.3]), fraction=0.5)
    assert monitor.check(np.array([0.01, 0.01])) is None  # not learnt yet: not a collapse
    for _ in range(3):  # class 0 holds healthy diversity for three checks in a row: learnt
        assert monitor.check(np.array([0.25, 0.05])) is None
    assert monitor.check(np.array([0.02, 0.05]), 400) is None  # one low reading is not yet a collapse ...
    assert monitor.pending()
    assert monitor.check(np.array([0.02, 0.05]), 500) == (0, 400)  # ... two in a row are; it began at 400


def test_one_noisy_reading_is_not_learnt():
    from cgan_core.run.guard import CollapseMonitor

    monitor = CollapseMonitor(np.array([0.3]), fraction=0.5)
    for reading in (0.25, 0.01, 0.25, 0.25, 0.01, 0.25, 0.01, 0.01):  # never three healthy checks in a row
        assert monitor.check(np.array([reading])) is None


def test_run_measures_per_class_diversity(tmp_path, tiny_mnist):
    run = tiny_run(tmp_path, tiny_mnist)
    run_until(run, lambda e: False, 45)  # studio-fast's EMA starts near-constant and spreads out
    real, fake = run.guard.diversity.real, grids.sample_diversity(run.trainer)
    assert real.shape == fake.shape == (10,) and (real > 0.1).all()  # thin 1s: ~0.14; the rest ~0.3
    assert (fake > 0.5 * real).all()  # distinct noise draws distinct images in every class
    with torch.no_grad():  # class 3's embedding blown up: its images saturate, whatever the noise
        run.trainer.sampler.label_embedding.weight[3] = 1e4
    collapsed = grids.sample_diversity(run.trainer)
    assert collapsed[3] < 0.2 * fake[3] and (np.delete(collapsed, 3) > 0.05).all()


def test_a_collapsed_class_rolls_back_naming_it(tmp_path, tiny_mnist):
    run = tiny_run(tmp_path, tiny_mnist, snapshot_every=5, ring_size=10)
    run_until(run, lambda e: False, 55)  # diversity spreads out by ~35; then three healthy checks in a row
    assert run.guard.diversity.reached.all()
    assert run.trainer.sampler is not run.trainer.g  # studio-fast samples from the EMA of G
    with torch.no_grad():  # the samples of class 3 (EMA) collapse; G itself trains on undisturbed
        run.trainer.sampler.label_embedding.weight[3] = 1e4
    events = run_until(run, lambda e: any(isinstance(x, RolledBack) for x in e), 12)
    rollback = next(e for e in events if isinstance(e, RolledBack))
    assert rollback.reason == "class_collapse" and rollback.detail == "class 3"
    assert 50 <= rollback.to_step <= 55 and rollback.from_step <= 65


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
    config = TrainConfig(preset="mlp-label-product", batch_size=8)
    run = TrainingRun(config, out=tmp_path / "a", dataset=tiny_mnist, guard={"window": 7})
    bounds = run.guard.config
    assert bounds.d_loss_floor == 0.36 and bounds.window == 7 and bounds.g_ceiling == 6.0
    run.close()
    hinge = GuardConfig.for_loss("hinge")
    assert hinge.g_ceiling == 10.0 and GuardConfig.for_loss("bce").g_ceiling == 6.0


def test_run_level_resume_is_exact(tmp_path, tiny_mnist):
    """What the CLI does: 20 steps straight, or 10 + finish + resume + 10: the same losses and weights."""
    import csv

    def config(steps):
        return TrainConfig(preset="dcgan-label-channel", batch_size=8, steps=steps, seed=4, stats_every=5)

    def losses(run_dir):
        with open(run_dir / "metrics.csv") as f:
            return [(r["step"], r["d1"], r["d2"], r["g"]) for r in csv.DictReader(f)]

    straight, rest = straight_and_resumed(config, tmp_path, tiny_mnist)
    assert losses(tmp_path / "a") == losses(tmp_path / "b")
    for a, b in zip(straight.trainer.d.parameters(), rest.trainer.d.parameters()):
        assert torch.equal(a, b)
    for a, b in zip(straight.trainer.g.parameters(), rest.trainer.g.parameters()):
        assert torch.equal(a, b)


# ---- issue: the guard helps and never hurts --------------------------------------------------------------

def lr_times_1000(run):
    hp = run.trainer.hparams
    return run.set_hparams(lr_g=hp["lr_g"] * 1000, lr_d=hp["lr_d"] * 1000)


def test_lr_times_1000_before_any_periodic_snapshot_goes_back_to_the_start(tmp_path, tiny_mnist):
    run = tiny_run(tmp_path, tiny_mnist, snapshot_every=1000)
    run_until(run, lambda e: False, 5)
    healthy = dict(run.trainer.hparams)
    assert run.guard.ring.steps == [0]  # the run's first snapshot: its starting state
    lr_times_1000(run)
    events = run_until(run, lambda e: any(isinstance(x, (RolledBack, GuardGaveUp)) for x in e), 200)
    rollback = next(e for e in events if isinstance(e, RolledBack))
    assert rollback.to_step == 0 and run.trainer.hparams["lr_g"] == pytest.approx(healthy["lr_g"] * 0.5)
    later = run_until(run, lambda e: False, 30)
    assert all(np.isfinite(c.values).all() for c in later if type(c).__name__ == "LossChunk")


def test_lr_times_1000_right_after_a_resume_goes_back_to_the_resumed_state(tmp_path, tiny_mnist):
    config = TrainConfig(preset="studio-fast", batch_size=16, device="cpu", stats_every=5, steps=40,
                         sample_every=10_000)
    first = TrainingRun(config, out=tmp_path / "run", dataset=tiny_mnist, guard=FAST_GUARD)
    train(first)
    first.close()
    healthy = dict(first.trainer.hparams)
    wild = {"lr_g": healthy["lr_g"] * 1000, "lr_d": healthy["lr_d"] * 1000, "steps": 400}
    run = TrainingRun(config, resume=tmp_path / "run", dataset=tiny_mnist, overrides=wild,
                      guard={**FAST_GUARD, "snapshot_every": 1000})
    assert run.trainer.hparams["lr_g"] == wild["lr_g"]
    events = run_until(run, lambda e: any(isinstance(x, RolledBack) for x in e), 200)
    rollback = next(e for e in events if isinstance(e, RolledBack))
    assert rollback.to_step == 40  # the resumed state, with its own learning rates backed off
    assert run.trainer.hparams["lr_d"] == pytest.approx(healthy["lr_d"] * 0.5)
    later = run_until(run, lambda e: False, 30)
    assert not any(isinstance(e, RolledBack) for e in later)
    assert all(np.isfinite(c.values).all() for c in later if type(c).__name__ == "LossChunk")
    run.close()


def test_no_snapshot_left_in_memory_falls_back_to_the_newest_healthy_checkpoint(tmp_path, tiny_mnist):
    run = tiny_run(tmp_path, tiny_mnist)
    run_until(run, lambda e: False, 20)
    saved = run.save_checkpoint()
    run_until(run, lambda e: False, 5)
    run.guard.ring.snapshots.clear()  # as after a long stretch with every snapshot used up
    with torch.no_grad():
        next(run.trainer.d.parameters()).view(-1)[0] = float("nan")
    events = run_until(run, lambda e: any(isinstance(x, (RolledBack, GuardGaveUp)) for x in e), 10)
    rollback = next(e for e in events if isinstance(e, RolledBack))
    assert rollback.to_step == saved.step == 20
    assert all(torch.isfinite(p).all() for p in run.trainer.d.parameters())
    run.close()


def test_giving_up_keeps_the_last_healthy_generator_and_resume_starts_there(tmp_path, tiny_mnist):
    from cgan_core.output.checkpoint import load_generator

    run = tiny_run(tmp_path, tiny_mnist, max_rollbacks=2, backoff=1.0)
    gave_up = poison_until_give_up(run, lambda: run.trainer.g)
    assert gave_up is not None and "diverged-step-" in gave_up.diverged_path
    assert os.path.isfile(gave_up.diverged_path)  # kept for inspection, never picked by --resume
    healthy = {k: v.clone() for k, v in run.trainer.sampler.state_dict().items()}
    finished = run.finish("diverged")[-1]
    run.close()
    g, _ = load_generator(run.run_dir / "generator.safetensors")
    for key, value in g.state_dict().items():
        assert torch.equal(value, healthy[key]), key  # the last healthy generator, never the diverged one
    assert all(torch.isfinite(v).all() for v in g.state_dict().values() if v.is_floating_point())
    resumed = TrainingRun(TrainConfig(), resume=run.run_dir, dataset=tiny_mnist)
    assert resumed.step_count == finished.step  # the newest healthy checkpoint, not the diverged state
    assert all(torch.isfinite(p).all() for p in resumed.trainer.g.parameters())
    resumed.close()


def chunk_of(rows, start):
    from cgan_core.run.events import LossChunk
    from cgan_core.step.trainer import STAT_NAMES

    values = np.array([[row.get(n, 0.0) for n in STAT_NAMES] for row in rows], dtype=np.float32)
    return LossChunk(np.arange(start, start + len(rows)), values, STAT_NAMES, 0.0, 0, 0.0, 0.0)


BALANCED = dict(d1=0.6, d2=0.6, g=0.9, d_real=0.6, d_fake=0.4, grad_d=1.0, grad_g=1.0)
DOMINATED = dict(d1=0.001, d2=0.002, g=9.0, d_real=0.999, d_fake=0.001, grad_d=0.1, grad_g=0.1)


def guard_for(**bounds):
    from cgan_core.run.guard import DivergenceGuard

    return DivergenceGuard(GuardConfig().replace(**{"warmup": 20, "window": 10, **bounds}), np.ones(10), 10)


def test_dominance_from_the_start_is_advice_not_a_rollback():
    guard = guard_for()
    assert guard.check_chunk(chunk_of([BALANCED] * 10, 1)) == []
    assert guard.check_chunk(chunk_of([DOMINATED] * 10, 11)) == []  # warm-up: the recipe's own start
    decisions = guard.check_chunk(chunk_of([DOMINATED] * 20, 21))
    assert [(d.action, d.finding.reason) for d in decisions] == [(Action.ADVISE, Reason.D_DOMINANCE)]  # one episode, once
    assert "lr D" in decisions[0].message
    assert guard.healthy_now()  # the recipe's own dynamics: its states are still checkpointed
    assert guard.check_chunk(chunk_of([DOMINATED] * 100, 41)) == []  # said once, not every chunk


def test_the_advice_on_dominance_reads_r_t():
    guard = guard_for()
    guard.check_chunk(chunk_of([dict(DOMINATED, r_t=1.0)] * 10, 11))
    [advice] = guard.check_chunk(chunk_of([dict(DOMINATED, r_t=1.0)] * 20, 21))
    assert advice.action is Action.ADVISE and "r_t" in advice.message and "is 1.00" in advice.message
    assert "overfits" in advice.message


def test_dominance_after_a_healthy_stretch_rolls_back():
    guard = guard_for()
    assert guard.check_chunk(chunk_of([BALANCED] * 40, 1)) == []  # balanced for a window after warm-up
    assert guard.check_chunk(chunk_of([DOMINATED] * 5, 41)) == []
    assert not guard.healthy_now()  # building up: not a state to keep as healthy
    [decision] = guard.check_chunk(chunk_of([DOMINATED] * 10, 46))
    assert decision.action is Action.ROLLBACK and decision.finding.since == 41


def recorded_chunk(name: str, replay_pass: str | None = None):
    """Per-step stats a real run wrote (metrics.csv's columns), as one LossChunk; `replay_pass` picks the
    first pass ("0") or the replay after a rollback ("1") where the file holds both."""
    import csv
    from pathlib import Path

    with open(Path(__file__).parent / "data" / name) as f:
        rows = [row for row in csv.DictReader(f) if replay_pass is None or row.pop("pass") == replay_pass]
    return chunk_of([{k: float(v) for k, v in row.items()} for row in rows], int(rows[0]["step"]))


def test_conv_onehot_channels_own_dominance_episode_is_not_a_divergence():
    """conv-onehot-channels, 20 epochs, guard off: steps 1,773-1,843 have D winning outright, then the recipe
    recovers by itself. The preset's bounds let it; the default 50-step window would roll back."""
    from cgan_core.run.guard import DivergenceGuard
    from cgan_core.step.presets import get_preset

    episode = recorded_chunk("conv-onehot-channels-steps-1500-1999.csv")
    preset = GuardConfig.for_loss("bce", **get_preset("conv-onehot-channels").guard)
    assert DivergenceGuard(preset, np.ones(10), 10).check_chunk(episode) == []
    [decision] = DivergenceGuard(GuardConfig.for_loss("bce"), np.ones(10), 10).check_chunk(episode)
    assert decision.action is Action.ROLLBACK and decision.finding.reason == "d_dominance"


def test_a_replay_that_meets_the_same_condition_again_is_advice():
    """Rolling back a condition that is the recipe's own phase replays it: the second time is advice, not a
    second and third rollback and a paused run (conv-onehot-channels in the studio, near step 2,000)."""
    guard = guard_for()
    guard.check_chunk(chunk_of([BALANCED] * 40, 1))
    [first] = guard.check_chunk(chunk_of([DOMINATED] * 12, 41))
    assert first.action is Action.ROLLBACK
    assert guard.rolled_back(52, 40, manual=False, reason="d_dominance") == 0
    decisions = guard.check_chunk(chunk_of([DOMINATED] * 12, 41))
    assert [(d.action, d.finding.reason) for d in decisions] == [(Action.ADVISE, Reason.D_DOMINANCE)]
    # Once the run has been clear for a window, the same condition is news again and rolls back.
    guard.check_chunk(chunk_of([BALANCED] * 12, 53))
    [again] = guard.check_chunk(chunk_of([DOMINATED] * 12, 65))
    assert again.action is Action.ROLLBACK


def test_a_replay_after_a_user_change_still_rolls_back():
    guard = guard_for()
    guard.check_chunk(chunk_of([BALANCED] * 40, 1))
    guard.check_chunk(chunk_of([DOMINATED] * 12, 41))
    guard.rolled_back(52, 40, manual=False, reason="d_dominance")
    guard.settings_changed(41)
    [decision] = guard.check_chunk(chunk_of([DOMINATED] * 12, 42))
    assert decision.action is Action.ROLLBACK


def test_the_studio_run_that_paused_on_its_own_phase_now_goes_on():
    """conv-onehot-channels in the studio (one thread, session 6): D won from step 1,808 for 219 steps, the
    guard rolled back to step 1,800, and the replay at half the rates met D winning again. That replay is
    advice now; before, it was a second and a third rollback and the run paused."""
    from cgan_core.run.guard import DivergenceGuard
    from cgan_core.step.presets import get_preset

    name = "conv-onehot-channels-studio-steps-1500-2026-and-replay.csv"
    guard = DivergenceGuard(GuardConfig.for_loss("bce", **get_preset("conv-onehot-channels").guard), np.ones(10), 10)
    [first] = guard.check_chunk(recorded_chunk(name, "0"))
    assert first.action is Action.ROLLBACK and first.finding.reason == "d_dominance" and first.finding.since == 1808
    guard.rolled_back(2026, 1800, manual=False, reason="d_dominance")
    replay = guard.check_chunk(recorded_chunk(name, "1"))
    assert [(d.action, d.finding.reason) for d in replay] == [(Action.ADVISE, Reason.D_DOMINANCE)]


def test_dominance_after_a_user_change_rolls_back():
    guard = guard_for()
    guard.check_chunk(chunk_of([DOMINATED] * 30, 1))  # advised: never healthy
    guard.check_chunk(chunk_of([BALANCED] * 5, 31))
    guard.settings_changed(35)
    [decision] = guard.check_chunk(chunk_of([DOMINATED] * 12, 36))
    assert decision.action is Action.ROLLBACK and decision.finding.since == 36


def test_rules_with_a_baseline_wait_for_the_warm_up_but_non_finite_does_not():
    guard = guard_for(warmup=100)
    spiky = [dict(BALANCED, grad_d=1.0)] * 30 + [dict(BALANCED, grad_d=500.0)] * 3
    assert guard.check_chunk(chunk_of(spiky, 1)) == []
    [decision] = guard.check_chunk(chunk_of([dict(BALANCED, g=float("nan"))], 40))
    assert decision.action is Action.ROLLBACK and decision.finding.reason == "non_finite"
    late = guard_for(warmup=100)
    [decision] = late.check_chunk(chunk_of(spiky, 101))
    assert decision.action is Action.ROLLBACK and decision.finding.reason == "grad_spike" and decision.finding.since == 131


def test_vanishing_gradients_that_jump_are_not_a_spike():
    guard = guard_for()
    faint = [dict(DOMINATED, grad_d=1e-4, grad_g=1e-5)] * 30 + [dict(DOMINATED, grad_d=1e-3, grad_g=1e-5)] * 5
    assert all(d.finding.reason != "grad_spike" for d in guard.check_chunk(chunk_of(faint, 21)))


def test_a_one_step_gradient_jump_is_not_a_spike():
    guard = guard_for()
    blips = ([dict(BALANCED, grad_d=1.0)] * 30 + [dict(BALANCED, grad_d=40.0)] * 2) * 5
    assert guard.check_chunk(chunk_of(blips, 21)) == []


def test_an_allowed_remedy_is_applied_with_the_advice(tmp_path, tiny_mnist):
    from cgan_core.run.events import GuardAdvice, HParamChange

    run = tiny_run(tmp_path, tiny_mnist, remedy="lower_lr_d", d_loss_floor=10.0, d_real_ceiling=0.0,
                   d_fake_floor=1.0)  # bounds every state meets: "D dominates" from the first step
    lr_d = run.trainer.hparams["lr_d"]
    events = run_until(run, lambda e: any(isinstance(x, GuardAdvice) for x in e), 40)
    advice = next(e for e in events if isinstance(e, GuardAdvice))
    assert advice.reason == "d_dominance" and advice.applied == "lr D 4e-4 -> 2e-4"
    assert run.trainer.hparams["lr_d"] == pytest.approx(lr_d / 2)
    assert any(isinstance(e, HParamChange) and e.name == "lr_d" for e in events)
    assert not any(isinstance(e, RolledBack) for e in events)
    run.close()
