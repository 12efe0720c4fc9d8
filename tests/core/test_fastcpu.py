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
