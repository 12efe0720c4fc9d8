"""The CPU fast paths compute the same function as the layers they replace."""
import pytest
import torch
from torch import nn

from cgan_core.step.config import TrainConfig
from cgan_core.step.fastcpu import FoldConv2d, RandDropout, use_fast_cpu_paths
from cgan_core.step.trainer import Trainer


@pytest.mark.parametrize("out_ch,kernel,channels_last", [(1, 7, True), (3, 5, False), (2, 7, False)])
def test_fold_conv_matches_conv_in_value_and_gradients(out_ch, kernel, channels_last):
    torch.manual_seed(0)
    plain = nn.Conv2d(16, out_ch, kernel, padding=kernel // 2)
    fast = nn.Conv2d(16, out_ch, kernel, padding=kernel // 2)
    fast.load_state_dict(plain.state_dict())
    assert use_fast_cpu_paths(fast) == 1 and isinstance(fast, FoldConv2d)
    x = torch.randn(4, 16, 12, 10)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    y1, y2 = plain(x1), fast(x2)
    assert y1.shape == y2.shape and torch.allclose(y1, y2, atol=1e-5)
    y1.square().sum().backward()
    y2.square().sum().backward()
    assert torch.allclose(x1.grad, x2.grad, atol=1e-4)
    assert torch.allclose(plain.weight.grad, fast.weight.grad, rtol=1e-4, atol=1e-3)
    assert torch.allclose(plain.bias.grad, fast.bias.grad, rtol=1e-4, atol=1e-3)


def test_only_qualifying_layers_change():
    net = nn.Sequential(nn.Conv2d(16, 64, 7, padding=3), nn.Conv2d(16, 1, 3, padding=1),
                        nn.Conv2d(16, 1, 7, padding=3, stride=2), nn.Conv2d(16, 1, 7, padding=3), nn.Dropout(0.3))
    keys = list(net.state_dict())
    assert use_fast_cpu_paths(net) == 2
    assert [type(m) for m in net] == [nn.Conv2d, nn.Conv2d, nn.Conv2d, FoldConv2d, RandDropout]
    assert list(net.state_dict()) == keys  # checkpoints cannot tell the paths apart


def test_rand_dropout_keeps_1_minus_p_and_rescales():
    torch.manual_seed(0)
    layer = nn.Dropout(0.4)
    use_fast_cpu_paths(layer)
    out = layer(torch.ones(200_000))
    kept = out != 0
    assert abs(kept.float().mean().item() - 0.6) < 0.005
    assert torch.allclose(out[kept], torch.full_like(out[kept], 1 / 0.6))
    layer.eval()
    assert torch.equal(layer(torch.ones(5)), torch.ones(5))


def test_seed004_trainer_uses_the_fast_paths_and_stays_deterministic(tiny_mnist):
    config = TrainConfig(preset="dcgan-label-channel", batch_size=8, device="cpu")
    runs = []
    for _ in range(2):
        trainer = Trainer(config, tiny_mnist)
        assert any(isinstance(m, FoldConv2d) for m in trainer.g.modules())
        assert any(isinstance(m, RandDropout) for m in trainer.d.modules())
        runs.append([trainer.step().as_dict()["d2"] for _ in range(3)])
    assert runs[0] == runs[1]


def _gradients(config: TrainConfig, precision: str, state: dict, other_batch: bool = False) -> tuple[dict, dict]:
    """One step from `state`: its losses and every parameter's gradient (G's from its update, D's from its last)."""
    trainer = Trainer(TrainConfig(**{**config.to_dict(), "precision": precision}))
    trainer.load_state_dict(state)
    assert trainer.low_precision == (precision == "bf16")
    if other_batch:  # another minibatch: other real images, other noise
        trainer.inputs.batches.next(2 * config.batch_size)
        trainer.inputs.noise.manual_seed(1234)
    losses = trainer.step().as_dict()
    grads = {f"{net}.{key}": p.grad.clone() for net in ("g", "d")
             for key, p in getattr(trainer, net).named_parameters() if p.grad is not None}
    assert all(p.dtype == torch.float32 for p in trainer.g.parameters())  # master weights stay fp32
    return losses, grads


@pytest.mark.parametrize("preset", ["studio-fast", "conv-onehot-channels", "dcgan-label-channel"])
def test_bf16_changes_each_gradient_less_than_another_minibatch_does(preset):
    """The bf16 path (autocast of the forwards) against the plain one, from the same state and batch.
    The losses agree to bf16's precision (8 bits of mantissa). Every parameter's gradient moves less
    from fp32 to bf16 than from one minibatch to the next: bf16's rounding is smaller than the noise that
    stochastic gradient descent already trains through. (In G's first layers at initialisation, where
    the Keras-initialised recipes' gradients nearly cancel, bf16 keeps only cosine 0.5-0.8 with fp32; the
    next minibatch keeps about 0.01.) studio-fast's gradients agree within cosine 0.98 everywhere, the conv
    recipes' near the loss."""
    # bf16 is emulated on a CPU without avx512_bf16 or AMX (such as CI's): a conv recipe's step at batch 64
    # takes 30 s there, against 0.7 s in fp32. Its two convolutional recipes compare at batch 16 (both the
    # rounding and the other minibatch at that batch); studio-fast at its own 64.
    config = TrainConfig(preset=preset, device="cpu", batch_size=64 if preset == "studio-fast" else 16, seed=1)
    state = Trainer(config).state_dict()
    fp32_losses, fp32 = _gradients(config, "fp32", state)
    bf16_losses, bf16 = _gradients(config, "bf16", state)
    _, other = _gradients(config, "fp32", state, other_batch=True)
    for name in ("d1", "d2", "g"):
        assert bf16_losses[name] == pytest.approx(fp32_losses[name], rel=0.03, abs=0.01), name
    for key, exact in fp32.items():
        rounding = (bf16[key] - exact).norm() / exact.norm()
        sampling = (other[key] - exact).norm() / exact.norm()
        # (1%: a parameter whose gradient hardly varies between minibatches, e.g. a bias while every logit is alike)
        assert rounding < max(sampling, 0.01), f"{key}: bf16 moves it by {rounding:.4f}, another minibatch by {sampling:.4f}"
    cosine = {key: torch.nn.functional.cosine_similarity(exact.flatten(), bf16[key].flatten(), dim=0).item()
              for key, exact in fp32.items()}
    near_loss = cosine if preset == "studio-fast" else [k for k in cosine if k.startswith(("d.out.", "g.body.4."))]
    for key in near_loss:
        assert cosine[key] > (0.98 if preset == "studio-fast" else 0.9), f"{key}: cosine {cosine[key]:.3f}"
