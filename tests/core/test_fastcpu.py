"""The CPU fast paths compute the same function as the layers they replace."""
import pytest
import torch
from torch import nn

from cgan_core.config import TrainConfig
from cgan_core.fastcpu import FoldConv2d, RandDropout, use_fast_cpu_paths
from cgan_core.trainer import Trainer


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


@pytest.mark.parametrize("preset,faithful", [("studio-fast", 0.98), ("conv-onehot-channels", 0.9),
                                             ("dcgan-label-channel", 0.9)])
def test_bf16_precision_computes_what_the_fp32_step_does(preset, faithful):
    """The bf16 path (autocast of the forwards) against the plain one, from the same state and batches.
    The losses agree to bf16's precision (8 bits of mantissa). studio-fast's gradients agree everywhere
    (cosine > 0.98: bf16 is its default); the Keras-initialised conv recipes' gradients agree near the loss
    but lose their direction in G's first layers at initialisation (cosine 0.5-0.8 measured), which is why
    bf16 is only a setting for them."""
    config = TrainConfig(preset=preset, device="cpu", batch_size=64, seed=1, precision="fp32")
    plain, fast = Trainer(config), Trainer(TrainConfig(**{**config.to_dict(), "precision": "bf16"}))
    assert fast.low_precision and not plain.low_precision
    a, b = plain.step().as_dict(), fast.step().as_dict()
    for name in ("d1", "d2", "g"):
        assert b[name] == pytest.approx(a[name], rel=0.03, abs=0.01), name
    pairs = {net: [(f"{net}.{key}", p, q) for (key, p), q in zip(getattr(plain, net).named_parameters(),
                                                                  getattr(fast, net).parameters())] for net in ("g", "d")}
    near_loss = [*pairs["g"], *pairs["d"]] if preset == "studio-fast" else [pairs["g"][-1], pairs["d"][-1]]
    for key, p, q in near_loss:
        cosine = torch.nn.functional.cosine_similarity(p.grad.flatten(), q.grad.flatten(), dim=0).item()
        assert cosine > faithful, f"{key}: cosine {cosine:.3f}"
    assert all(p.dtype == torch.float32 for p in fast.g.parameters())  # master weights stay fp32
