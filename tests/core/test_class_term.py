"""How resnet-projection learns the class quickly: the classification term on a projection D's class scores
(P2GAN: the scores are the projection's own per-class terms, D learns the classes of real images from it, and
G's loss carries it), and G's class gains and biases stored scaled, so Adam moves them faster."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from cgan_core.data import load_dataset
from cgan_core.step import losses, presets
from cgan_core.step.config import TrainConfig
from cgan_core.step.nets_resnet import CLASS_LR_MULTIPLIER, ConditionalBatchNorm, ResNetDiscriminator
from cgan_core.step.trainer import Trainer


def test_the_class_scores_are_the_projection_term_of_each_class():
    torch.manual_seed(0)
    d = ResNetDiscriminator(3, (3, 16, 16), width=8).eval()  # eval: spectral norm's power iteration holds still
    x, y = torch.randn(5, 3, 16, 16), torch.tensor([0, 1, 2, 1, 0])
    logits, scores = d(x, y, class_scores=True)
    assert scores.shape == (5, 3) and torch.allclose(logits, d(x, y))
    # Asking D about class c changes its logit by exactly that class's score: the shared w.h term is the rest.
    shared = [d(x, torch.full((5,), c)) - scores[:, c] for c in range(3)]
    assert torch.allclose(shared[0], shared[1], atol=1e-5) and torch.allclose(shared[0], shared[2], atol=1e-5)
    soft = torch.nn.functional.one_hot(y, 3).float()  # a soft condition's target, as a hard one's
    assert torch.allclose(losses.class_loss(scores, soft), losses.class_loss(scores, y))


def _red_and_blue(folder, per_class: int = 16):
    """Two classes any D can tell apart: reddish and bluish noise."""
    rng = np.random.default_rng(0)
    for name, channel in (("red", 0), ("blue", 2)):
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            image = rng.integers(0, 80, (16, 16, 3), dtype=np.uint8)
            image[..., channel] += 170
            Image.fromarray(image).save(folder / name / f"{i}.png")
    return load_dataset(str(folder))


def _d_reading_after(data, class_loss: float, monkeypatch, steps: int = 12) -> float:
    """The cross-entropy of D's class scores on the real images after `steps` steps of the preset."""
    preset = dataclasses.replace(presets.PRESETS["resnet-projection"], class_loss=class_loss, augment="none")
    monkeypatch.setitem(presets.PRESETS, "resnet-projection", preset)
    torch.manual_seed(0)
    trainer = Trainer(TrainConfig(preset="resnet-projection", batch_size=8, latent_dim=8, device="cpu", seed=1), data)
    for _ in range(steps):
        trainer.step()
    with torch.no_grad():
        _, scores = trainer.d.eval()(trainer.inputs.to_model_range(data.images), data.labels, class_scores=True)
    return losses.class_loss(scores, data.labels).item()


def test_the_class_term_teaches_d_the_classes_of_real_images(tmp_path, monkeypatch):
    data = _red_and_blue(tmp_path / "folder")
    with_term, without = (_d_reading_after(data, weight, monkeypatch) for weight in (1.0, 0.0))
    # Chance is log 2 = 0.69; the projection alone has not learnt it in these steps.
    assert with_term < 0.5 * without and with_term < 0.3, (with_term, without)


@pytest.mark.parametrize("mode_seeking", [0.0, 0.05])
def test_g_s_loss_carries_the_class_term(mode_seeking, tmp_path, monkeypatch):
    data = _red_and_blue(tmp_path / "folder")
    grads = []
    for weight in (0.0, 1.0):
        preset = dataclasses.replace(presets.PRESETS["resnet-projection"], class_loss=weight, augment="none",
                                     mode_seeking=mode_seeking)
        monkeypatch.setitem(presets.PRESETS, "resnet-projection", preset)
        torch.manual_seed(0)
        trainer = Trainer(TrainConfig(preset="resnet-projection", batch_size=8, latent_dim=8, device="cpu"), data)
        z, y = torch.randn(8, 8), torch.tensor([0, 1] * 4)  # the halves share their labels, as mode seeking needs
        trainer.learn_g(trainer.forward_g(z, y), y, z)
        grads.append(torch.cat([p.grad.flatten() for p in trainer.g.parameters() if p.grad is not None]))
    assert not torch.allclose(grads[0], grads[1])


def test_adam_moves_a_class_gain_by_the_multiplier_times_lr():
    torch.manual_seed(0)
    norm = ConditionalBatchNorm(4, 3)
    optimizer = torch.optim.Adam(norm.parameters(), lr=1e-3)
    x, c = torch.randn(6, 4, 5, 5), torch.tensor([0, 1, 2, 0, 1, 2])
    effective = [(norm.class_gain.weight * CLASS_LR_MULTIPLIER).detach().clone()]
    (norm(x, c) * torch.randn(6, 4, 5, 5)).sum().backward()
    optimizer.step()  # Adam's first step moves every stored entry by lr (the sign of its gradient)
    effective.append((norm.class_gain.weight * CLASS_LR_MULTIPLIER).detach())
    assert CLASS_LR_MULTIPLIER > 1
    assert (effective[1] - effective[0]).abs().max().item() == pytest.approx(1e-3 * CLASS_LR_MULTIPLIER, rel=1e-3)
