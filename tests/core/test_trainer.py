import math

import pytest
import torch

from cgan_core.step.config import TrainConfig
from cgan_core.step.presets import PRESETS
from cgan_core.step.trainer import STAT_NAMES, Trainer


def tiny(preset: str, **kw) -> TrainConfig:
    return TrainConfig(preset=preset, batch_size=kw.pop("batch_size", 16), device="cpu", **kw)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_steps_with_finite_losses(preset, tiny_mnist):
    trainer = Trainer(tiny(preset), tiny_mnist)
    stats = trainer.step().as_dict()
    assert set(STAT_NAMES) <= set(stats)
    assert all(math.isfinite(stats[k]) for k in ("d1", "d2", "g")), stats
    assert trainer.step_count == 1 and trainer.images_seen > 0


@pytest.mark.parametrize("preset", list(PRESETS))
def test_soft_one_hot_condition_equals_hard_label(preset, tiny_mnist):
    trainer = Trainer(tiny(preset), tiny_mnist)
    labels = torch.tensor([0, 3, 7, 9])
    z = torch.randn(4, trainer.config.latent_dim)
    hard = trainer.generate(z, labels)
    soft = trainer.generate(z, torch.nn.functional.one_hot(labels, 10).float())
    assert torch.allclose(hard, soft, atol=1e-6)
    halfway = trainer.generate(z, torch.full((4, 10), 0.1))
    assert halfway.shape == hard.shape and torch.isfinite(halfway).all()


def test_live_lr_change_reaches_optimizer_and_keeps_state(tiny_mnist):
    trainer = Trainer(tiny("studio-fast"), tiny_mnist)
    trainer.step()
    moments = trainer.opt_d.state[trainer.opt_d.param_groups[0]["params"][0]]["exp_avg"].clone()
    changed = trainer.set_hparams(lr_d=1e-5, beta1=0.3)
    assert changed["lr_d"] == (4e-4, 1e-5)
    assert all(g["lr"] == 1e-5 and g["betas"][0] == 0.3 for g in trainer.opt_d.param_groups)
    kept = trainer.opt_d.state[trainer.opt_d.param_groups[0]["params"][0]]["exp_avg"]
    assert torch.equal(moments, kept)  # Adam's moments survive the change
    trainer.step()
    assert trainer.opt_d.param_groups[0]["lr"] == 1e-5


def test_bad_hparam_is_refused():
    """Refused where it enters: a command checks its values when built, so no trainer ever sees them."""
    from cgan_core.errors import ConfigError
    from cgan_core.run.commands import SetHParams

    with pytest.raises(ConfigError, match="lr_g: must be a positive number"):
        SetHParams({"lr_g": -1.0})
    with pytest.raises(ConfigError, match="beta1: must be below 1"):
        SetHParams({"beta1": 1.5})


@pytest.mark.parametrize("preset", ["studio-fast", "mlp-label-concat"])
def test_same_seed_same_losses(preset, tiny_mnist):
    runs = []
    for _ in range(2):
        trainer = Trainer(tiny(preset, seed=5), tiny_mnist)
        runs.append(torch.stack([trainer.step().values for _ in range(4)]))
    assert torch.equal(runs[0], runs[1])
    other = Trainer(tiny(preset, seed=6), tiny_mnist)
    assert not torch.equal(runs[0], torch.stack([other.step().values for _ in range(4)]))


@pytest.mark.parametrize("preset", ["studio-fast", "mlp-label-concat", "dcgan-label-channel"])
def test_exact_resume_is_bit_identical(preset, tiny_mnist, tmp_path):
    from cgan_core.output.checkpoint import load_checkpoint, save_checkpoint

    straight = Trainer(tiny(preset, seed=3, batch_size=8), tiny_mnist)
    losses_a = [straight.step().values for _ in range(6)]
    first = Trainer(tiny(preset, seed=3, batch_size=8), tiny_mnist)
    losses_b = [first.step().values for _ in range(3)]
    save_checkpoint(tmp_path / "c.pt", first.state_dict())
    second = Trainer(tiny(preset, seed=99, batch_size=8), tiny_mnist)  # a different seed: state must win
    second.load_state_dict(load_checkpoint(tmp_path / "c.pt"))
    losses_b += [second.step().values for _ in range(3)]
    assert torch.equal(torch.stack(losses_a), torch.stack(losses_b))
    for a, b in zip(straight.state_dict()["g"].values(), second.state_dict()["g"].values()):
        assert torch.equal(a, b)
    for a, b in zip(straight.d.parameters(), second.d.parameters()):
        assert torch.equal(a, b)
    sa, sb = straight.opt_g.state_dict()["state"], second.opt_g.state_dict()["state"]
    assert all(torch.equal(sa[k]["exp_avg_sq"], sb[k]["exp_avg_sq"]) for k in sa)


def test_partial_steps_update_only_their_network(tiny_mnist):
    trainer = Trainer(tiny("studio-fast"), tiny_mnist)
    trainer.step()
    g_before = [p.clone() for p in trainer.g.parameters()]
    d_before = [p.clone() for p in trainer.d.parameters()]
    stats = trainer.step_d_only().as_dict()
    assert all(torch.equal(a, b) for a, b in zip(g_before, trainer.g.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(d_before, trainer.d.parameters()))
    assert math.isfinite(stats["g"]) and stats["grad_g"] == 0.0
    d_before = [p.clone() for p in trainer.d.parameters()]
    trainer.step_g_only()
    assert all(torch.equal(a, b) for a, b in zip(d_before, trainer.d.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(g_before, trainer.g.parameters()))
    assert trainer.step_count == 3


def test_minibatch_std_groups_never_mix_real_and_fake():
    from cgan_core.step.nets_conv import MinibatchStd

    layer = MinibatchStd(group=4)
    real, fake = torch.zeros(8, 2, 3, 3), torch.randn(8, 2, 3, 3) * 5
    out = layer(torch.cat([real, fake]))
    assert out.shape == (16, 3, 3, 3)
    assert torch.allclose(out[:8, 2], torch.full((8, 3, 3), 1e-4))  # std of identical reals: only the epsilon
    assert (out[8:, 2] > 1).all()


def test_mode_seeking_pairs_share_labels_and_penalise_identical_images(tiny_mnist):
    from cgan_core.step import losses

    trainer = Trainer(tiny("studio-fast"), tiny_mnist)
    z, y = trainer.inputs.latent(16)
    assert torch.equal(y[:8], y[8:])
    same = torch.zeros(16, 1, 4, 4)
    varied = torch.randn(16, 1, 4, 4)
    assert losses.mode_seeking(same, z) > 100 * losses.mode_seeking(varied, z)


def test_regenerating_a_deterministic_generator_reuses_its_forward_exactly(tiny_mnist):
    """mlp-label-concat regenerates G's fakes for G's update. Its G has no dropout or BatchNorm, so the D step's
    forward is kept with its graph instead: forcing the second forward must give bit-identical weights."""
    def three_steps(regenerate: bool) -> tuple[Trainer, list]:
        trainer = Trainer(tiny("mlp-label-concat"), tiny_mnist)  # reseeds torch's RNG: D's dropout masks
        assert trainer.g_is_deterministic
        trainer.g_is_deterministic = not regenerate
        return trainer, [trainer.step().values for _ in range(3)]

    (kept, kept_stats), (regenerated, regenerated_stats) = three_steps(False), three_steps(True)
    assert all(torch.equal(a, b) for a, b in zip(kept_stats, regenerated_stats))
    for a, b in zip([*kept.g.parameters(), *kept.d.parameters()], [*regenerated.g.parameters(), *regenerated.d.parameters()]):
        assert torch.equal(a, b)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_more_d_steps_draw_more_real_batches(preset, tiny_mnist):
    """A live d_steps of 3: three D updates on fresh real batches, then one G update."""
    trainer = Trainer(tiny(preset), tiny_mnist)
    trainer.step()
    one = trainer.images_seen
    trainer.set_hparams(d_steps=3)
    g_before = [p.clone() for p in trainer.g.parameters()]
    trainer.step()
    assert trainer.images_seen == 4 * one
    assert not all(torch.equal(a, b) for a, b in zip(g_before, trainer.g.parameters()))


def test_both_kinds_of_run_are_what_the_loop_drives(tiny_mnist, tmp_path):
    """The loop reads a run only through DrivenRun: a TrainingRun is one, and FollowerRun has all its members."""
    from cgan_core.run.follower import FollowerRun
    from cgan_core.run.loop import DrivenRun
    from cgan_core.run.training_run import TrainingRun

    run = TrainingRun(tiny("studio-fast"), out=tmp_path / "r", dataset=tiny_mnist)
    try:
        assert isinstance(run, DrivenRun)
    finally:
        run.close()
    members = [name for name in dir(DrivenRun) if not name.startswith("_")]
    assert {"step", "apply", "finish", "step_count"} <= set(members)
    missing = [name for name in members if not hasattr(FollowerRun, name) and name not in ("seconds", "budget")]
    assert not missing, f"FollowerRun lacks {missing}"
