"""Forking a run into variants (issue: try before you change): a controlled experiment, bit-exact on the CPU."""
from __future__ import annotations

import copy

import pytest
import torch

from cgan_core.errors import UsageError
from cgan_core.run.fork import MAX_VARIANTS, Fork, VariantSpec, parse_vary, state_bytes
from cgan_core.step.config import TrainConfig
from cgan_core.step.trainer import Trainer

# mlp-label-concat trains with dropout: the global RNG stream matters, so the swaps are tested too.
PRESET = "mlp-label-concat"


def tiny() -> TrainConfig:
    return TrainConfig(preset=PRESET, batch_size=16, device="cpu", seed=3)


def trained(dataset, steps: int = 5) -> Trainer:
    torch.manual_seed(0)
    trainer = Trainer(tiny(), dataset)
    for _ in range(steps):
        trainer.step()
    return trainer


def same_weights(a: Trainer, b: Trainer) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict()["g"].values(), b.state_dict()["g"].values())) and \
        all(torch.equal(x, y) for x, y in zip(a.state_dict()["d"].values(), b.state_dict()["d"].values()))


def same_state(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_state(a[k], b[k]) for k in a)
    return a == b


def test_no_change_is_the_run_going_on_and_a_change_is_training_it_alone(tiny_mnist):
    run = trained(tiny_mnist)
    state = copy.deepcopy(run.state_dict())
    fork = Fork(tiny(), tiny_mnist, state, [VariantSpec("lr_d 1x"), VariantSpec("lr_d 0.5x", {"lr_d": 1e-4})], 12)
    fork.run(chunk=5)  # turns of 5, 5 and 2 steps, interleaved with the other variant's
    for _ in range(12):  # the run continuing without a fork, in the global stream as it was at the fork
        run.step()
    unchanged, halved = fork.variants
    assert unchanged.step == halved.step == run.step_count == 17
    assert same_weights(unchanged.trainer, run)
    alone = trained(tiny_mnist, 0)
    alone.load_state_dict(copy.deepcopy(state))
    alone.set_hparams(lr_d=1e-4)
    for _ in range(12):
        alone.step()
    assert same_weights(halved.trainer, alone)
    assert not same_weights(halved.trainer, run)  # the change did something


def test_variants_see_the_same_batches_and_noise(tiny_mnist):
    state = trained(tiny_mnist).state_dict()
    fork = Fork(tiny(), tiny_mnist, state, [VariantSpec("a"), VariantSpec("b", {"lr_g": 1e-3}),
                                            VariantSpec("c", {"label_smoothing": 0.2})], 7)
    fork.run(chunk=3)
    inputs = [v.trainer.inputs.state_dict() for v in fork.variants]
    for other in inputs[1:]:
        assert torch.equal(other["noise_rng"], inputs[0]["noise_rng"])
        assert other["images_seen"] == inputs[0]["images_seen"]
        assert same_state(other["batches"], inputs[0]["batches"])
    results = fork.results()
    assert [r.steps for r in results] == [7, 7, 7] and all(r.diverged_at is None for r in results)
    assert results[1].changes == {"lr_g": 1e-3} and set(results[0].means) >= {"d1", "d2", "g"}


def test_the_variants_do_not_share_optimizer_state(tiny_mnist):
    state = trained(tiny_mnist).state_dict()
    before = copy.deepcopy(state["opt_d"])
    fork = Fork(tiny(), tiny_mnist, state, [VariantSpec("a"), VariantSpec("b", {"lr_d": 1e-3})], 3)
    fork.run()
    a, b = (v.trainer.opt_d.state_dict()["state"][0]["exp_avg"] for v in fork.variants)
    assert not torch.equal(a, b)
    assert torch.equal(state["opt_d"]["state"][0]["exp_avg"], before["state"][0]["exp_avg"])  # the fork's own


def test_a_variant_that_diverges_stops_and_says_where(tiny_mnist):
    state = trained(tiny_mnist).state_dict()
    fork = Fork(tiny(), tiny_mnist, state, [VariantSpec("sane"), VariantSpec("broken", {"lr_d": 1e-3})], 30)
    fork.advance(chunk=10)
    with torch.no_grad():  # what a blown-up update leaves behind
        next(fork.variants[1].trainer.d.parameters()).fill_(float("nan"))
    results = {r.label: r for r in fork.run(chunk=10)}
    assert results["sane"].diverged_at is None and results["sane"].steps == 30
    assert results["broken"].diverged_at == 5 + 11  # the first step after the poisoning
    assert results["broken"].steps == 20  # it stopped with the turn that found it


def test_vary_makes_one_variant_per_combination():
    current = {"lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999, "d_steps": 1, "label_smoothing": 0.0}
    specs = parse_vary(["lr_d=0.5x,1x,2x"], current)
    assert [s.label for s in specs] == ["lr_d 0.5x", "lr_d 1x", "lr_d 2x"]
    assert [s.changes for s in specs] == [{"lr_d": 1e-4}, {}, {"lr_d": 4e-4}]
    both = parse_vary(["lr-d=1x,0.1x", "d_steps=1,2"], current)
    assert len(both) == 4 and both[3].changes == {"lr_d": pytest.approx(2e-5), "d_steps": 2}


@pytest.mark.parametrize("options, message", [
    (["lr_q=1x,2x"], "lr_q is not a live hyperparameter"),
    (["lr_d=fast,1x"], "lr_d=fast"),
    (["lr_d"], "write NAME=VALUE"),
    (["lr_d=1x"], "1 variant(s)"),
    (["lr_d=1x,2x,3x", "lr_g=1x,2x"], f"6 variant(s); a fork compares 2 to {MAX_VARIANTS}"),
    (["lr_d=1x,2x", "lr_d=3x,4x"], "varied twice"),
    (["lr_d=1x,-1"], "lr-d"),
])
def test_a_bad_vary_is_one_message_that_names_it(options, message):
    current = {"lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999, "d_steps": 1, "label_smoothing": 0.0}
    with pytest.raises(UsageError) as info:  # the CLI's one-line refusal, never an internal error
        parse_vary(options, current)
    assert message in str(info.value)


@pytest.mark.parametrize("horizon", [0, -5, 2.5, True])
def test_a_horizon_that_is_not_a_positive_whole_number_starts_nothing(tiny_mnist, horizon):
    state = trained(tiny_mnist, 1).state_dict()
    with pytest.raises(UsageError, match="horizon"):
        Fork(tiny(), tiny_mnist, state, [VariantSpec("a"), VariantSpec("b")], horizon)


def test_what_a_fork_costs_is_known_before_it_starts(tiny_mnist):
    trainer = trained(tiny_mnist, 1)
    weights = sum(p.numel() * 4 for p in [*trainer.g.parameters(), *trainer.d.parameters()])
    assert 3 * weights <= state_bytes(trainer.state_dict()) <= 6 * weights  # weights, two Adam moments, data streams


def test_each_variant_has_its_own_guard(tiny_mnist):
    from cgan_core.run.events import Reason

    state = trained(tiny_mnist).state_dict()
    # g above a ceiling of -1 holds at every step: a sustained condition after 3 steps. The run never had a
    # healthy state (no warm-up passed), so the guard advises instead of stopping the variant.
    bounds = {"warmup": 0, "window": 3, "g_ceiling": -1.0}
    fork = Fork(tiny(), tiny_mnist, state, [VariantSpec("a"), VariantSpec("b", {"lr_g": 1e-3})], 6, guard=bounds)
    for result in fork.run(chunk=6):
        assert result.advice == (Reason.G_EXPLODES.label,) and result.diverged_at is None and result.steps == 6
    quiet = Fork(tiny(), tiny_mnist, state, [VariantSpec("a"), VariantSpec("b", {"lr_g": 1e-3})], 6)
    assert all(r.advice == () for r in quiet.run(chunk=6))
