"""Own images at their own size: a folder trains as found (the size most of its images have, or the largest
size the networks take below it, said in one line), up to 128 px; the residual preset for RGB images; and
DiffAugment on D's inputs, real and generated alike."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from cgan_core.data import load_dataset
from cgan_core.data.folders import found_size
from cgan_core.errors import CheckpointError, ConfigError
from cgan_core.step.augment import (
    ADA_IMAGES,
    ADA_INTERVAL,
    Augmentation,
    AugmentPolicy,
    augment,
    augment_inputs,
    cutout,
    parse_policy,
    translation,
)
from cgan_core.step.config import TrainConfig
from cgan_core.step.nets_resnet import DownBlock, ResNetDiscriminator, ResNetGenerator, UpBlock, doublings
from cgan_core.step.trainer import Trainer


def write_images(folder, sizes, classes=("a", "b")):
    """Each class gets one image per (width, height) in `sizes`."""
    rng = np.random.default_rng(0)
    for c in classes:
        (folder / c).mkdir(parents=True, exist_ok=True)
        for i, (w, h) in enumerate(sizes):
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / c / f"{i}.png")
    return folder


def test_the_size_as_found_is_the_common_side_or_the_largest_supported_below_it():
    assert found_size([64] * 5 + [100]) == 64 and found_size([128, 128]) == 128 and found_size([28]) == 28
    assert found_size([100] * 3) == 64 and found_size([300]) == 128 and found_size([20]) == 16 and found_size([9]) == 16


def test_a_folder_trains_at_its_own_size_and_says_where_it_differs(tmp_path):
    said = []
    data = load_dataset(str(write_images(tmp_path / "own", [(64, 64)] * 3)), warn=said.append)
    assert data.images.shape[1:] == (3, 64, 64) and said == []  # as found, nothing to say
    data = load_dataset(str(write_images(tmp_path / "odd", [(100, 100)] * 3)), warn=said.append)
    assert data.images.shape[2:] == (64, 64)
    assert len(said) == 1 and "100 px" in said[0] and "trained at 64 px" in said[0] and "odd" in said[0]
    said.clear()
    mixed = write_images(tmp_path / "mixed", [(32, 32)] * 4 + [(50, 40)])
    data = load_dataset(str(mixed), warn=said.append)
    assert data.images.shape == (10, 3, 32, 32)
    assert len(said) == 1 and "2 of 10 images are not 32 px" in said[0] and "resized to 32 px" in said[0]
    assert "2 of 10 images are not square" in said[0]
    assert load_dataset(str(mixed), image_size=16).images.shape[2:] == (16, 16)  # asked for: that size


@pytest.mark.parametrize("preset", ["resnet-projection", "studio-fast"])
def test_a_128_px_folder_trains_and_samples_at_128(preset, tmp_path):
    data = load_dataset(str(write_images(tmp_path / "big", [(128, 128)] * 2)))
    trainer = Trainer(TrainConfig(preset=preset, batch_size=4, latent_dim=8, device="cpu"), data)
    for _ in range(2):
        stats = trainer.step().as_dict()
    assert all(np.isfinite([stats["d1"], stats["d2"], stats["g"]]))
    assert trainer.generate(torch.randn(3, 8), torch.tensor([0, 1, 1])).shape == (3, 3, 128, 128)


def test_a_residual_generator_file_rebuilds_from_itself_alone(tmp_path):
    from cgan_core.output.checkpoint import load_generator, save_generator

    g = ResNetGenerator(16, 3, (3, 32, 32), width=8, max_width=32).eval()
    save_generator(tmp_path / "g.safetensors", g, ["a", "b", "c"])
    again, info = load_generator(tmp_path / "g.safetensors")
    z, labels = torch.randn(2, 16), torch.tensor([0, 2])
    assert (again.width, again.max_width) == (8, 32) and torch.equal(again.eval()(z, labels), g(z, labels))


def test_a_larger_side_adds_one_resolutions_cost_not_a_multiple():
    from torch.utils.flop_counter import FlopCounterMode

    def generator_flops(side: int) -> int:
        g = ResNetGenerator(128, 10, (3, side, side))
        with FlopCounterMode(display=False) as counter:
            g(torch.randn(1, 128), torch.tensor([3]))
        return counter.get_total_flops()

    assert [ResNetGenerator(8, 2, (3, s, s)).width for s in (16, 28, 32, 64, 128)] == [16, 16, 16, 8, 8]
    at_32, at_64 = generator_flops(32), generator_flops(64)
    # 32 px has four resolutions (4-32), 64 px five: about 5/4 of the cost, where a fixed width cost 5x.
    assert 1.1 < at_64 / at_32 < 1.6


def test_the_residual_networks_take_every_supported_side_and_refuse_others():
    assert [doublings(s) for s in (16, 28, 32, 64, 128)] == [(4, 2), (7, 2), (4, 3), (4, 4), (4, 5)]
    for side in (16, 28, 64):
        g, d = ResNetGenerator(16, 3, (3, side, side), width=8), ResNetDiscriminator(3, (3, side, side), width=8)
        images = g(torch.randn(4, 16), torch.tensor([0, 1, 2, 0]))
        assert images.shape == (4, 3, side, side) and d(images, torch.tensor([0, 1, 2, 0])).shape == (4,)
        soft = torch.full((4, 3), 1 / 3)  # the explorer's mixed classes go through the conditional BatchNorm
        assert g(torch.randn(4, 16), soft).shape == (4, 3, side, side)
    with pytest.raises(ValueError, match="got 72"):
        doublings(72)  # 9 px times 8: no start side of 4-8 px


def test_augmentation_keeps_shapes_passes_gradients_and_moves_or_hides_content():
    torch.manual_seed(0)
    x = torch.zeros(8, 3, 32, 32)
    x[:, :, 12:20, 12:20] = 1.0  # a bright square in the middle
    moved = translation(x)
    assert moved.shape == x.shape and not torch.equal(moved, x)
    assert torch.allclose(moved.sum(dim=(1, 2, 3)), x.sum(dim=(1, 2, 3)))  # up to 4 px: the square stays inside
    ones = torch.ones(8, 3, 32, 32)
    hidden = 1 - cutout(ones).mean(dim=(1, 2, 3))
    assert torch.all(hidden > 0) and torch.all(hidden <= 0.25 + 1e-6)  # at most half the side each way
    source = torch.rand(4, 3, 16, 16, requires_grad=True)
    augment(source, parse_policy("color,translation,cutout")).sum().backward()
    assert source.grad is not None and source.grad.abs().sum() > 0
    assert not parse_policy("none") and parse_policy("cutout,color") == AugmentPolicy(("color", "cutout"))
    assert parse_policy("adaptive") == AugmentPolicy(("color", "translation", "cutout"), adaptive=True)
    assert parse_policy("adaptive:cutout") == AugmentPolicy(("cutout",), adaptive=True)
    for bad in ("color,flip", "adaptive:flip", "sometimes:color"):
        with pytest.raises(ValueError, match="an augmentation is none"):
            parse_policy(bad)


def test_d_sees_augmented_images_only_while_training_and_its_state_does_not_change():
    from cgan_core.step.nets_conv import ProjectionDiscriminator  # no spectral norm: deterministic in training

    d = ProjectionDiscriminator(2, (3, 16, 16), width=8)
    x, y = torch.rand(4, 3, 16, 16), torch.tensor([0, 1, 0, 1])
    plain = d(x, y)
    assert torch.equal(plain, d(x, y))  # without augmentation the same images give the same logits
    keys = set(d.state_dict())
    augment_inputs(d, Augmentation(parse_policy("translation,cutout"), torch.device("cpu")))
    assert set(d.state_dict()) == keys  # a checkpoint does not depend on the augmentation
    torch.manual_seed(1)
    first = d(x, y)
    torch.manual_seed(2)
    assert not torch.allclose(first, plain) and not torch.allclose(first, d(x, y))  # a new draw each time
    d.eval()
    assert torch.equal(d(x, y), plain)  # eval: the images as they are


def test_the_augmentation_is_a_setting_checked_before_use():
    assert TrainConfig(preset="resnet-projection").resolved().augment == "adaptive:color,translation,cutout"
    assert TrainConfig(preset="studio-fast").resolved().augment == "none"
    assert TrainConfig(preset="studio-fast", augment="translation").resolved().augment == "translation"
    with pytest.raises(ConfigError, match="--augment"):
        TrainConfig(augment="rotate").validate()


def test_colour_images_of_32_px_and_more_train_on_the_rgb_preset_unless_one_is_named(tmp_path, cli_here):
    from cgan_core.step.presets import default_preset

    assert default_preset((3, 32, 32)) == default_preset((3, 128, 128)) == "resnet-projection"
    assert default_preset((3, 16, 16)) == default_preset((1, 64, 64)) == default_preset((1, 28, 28)) == "studio-fast"
    folder = write_images(tmp_path / "rgb32", [(32, 32)] * 4)
    short = ["--dataset", folder, "--steps", 1, "--batch-size", 4, "--latent-dim", 8]
    rc, _, err = cli_here("train", *short, "--out", tmp_path / "by-data")
    assert rc == 0 and "preset resnet-projection, the default for colour images of 32 px" in err
    assert json.loads((tmp_path / "by-data" / "config.json").read_text())["preset"] == "resnet-projection"
    rc, _, err = cli_here("train", *short, "--preset", "studio-fast", "--out", tmp_path / "named")
    assert rc == 0 and "the default for colour images" not in err
    assert json.loads((tmp_path / "named" / "config.json").read_text())["preset"] == "studio-fast"
    toml = tmp_path / "run.toml"
    toml.write_text('preset = "mlp-label-product"\n')
    rc, _, _ = cli_here("train", *short, "--config", toml, "--out", tmp_path / "from-file")
    assert rc == 0 and json.loads((tmp_path / "from-file" / "config.json").read_text())["preset"] == "mlp-label-product"


def test_a_checkpoint_whose_networks_have_other_widths_is_refused_in_one_line(tmp_path, monkeypatch):
    from cgan_core.errors import CheckpointError
    from cgan_core.run.loop import train
    from cgan_core.run.training_run import TrainingRun
    from cgan_core.step import nets_resnet

    data = load_dataset(str(write_images(tmp_path / "imgs", [(32, 32)] * 4)))
    config = TrainConfig(preset="resnet-projection", batch_size=4, latent_dim=8, steps=2, checkpoint_every=2,
                         device="cpu")
    monkeypatch.setattr(nets_resnet, "WIDTH_AT_32", 8)  # as if saved by a version with thinner networks
    run = TrainingRun(config, out=tmp_path / "run", dataset=data)
    train(run)
    run.close()
    monkeypatch.undo()
    with pytest.raises(CheckpointError, match=r"run: its checkpoint's networks do not fit .*size mismatch") as error:
        TrainingRun(config, resume=tmp_path / "run", overrides={"steps": 4}, dataset=data)
    assert "\n" not in str(error.value)
    with pytest.raises(CheckpointError):  # a second try is refused the same way: the lock was released
        TrainingRun(config, resume=tmp_path / "run", overrides={"steps": 4}, dataset=data)


def test_the_residual_blocks_skips_match_the_textbook_order_at_a_quarter_of_the_cost():
    """The skips run their 1x1 conv at the smaller side; that is the same function as SNGAN's order."""
    torch.manual_seed(0)
    down = DownBlock(3, 8, first=True).eval()
    x = torch.randn(4, 3, 16, 16)
    h = down.conv2(torch.relu(down.conv1(x)))
    textbook = torch.nn.functional.avg_pool2d(h, 2) + torch.nn.functional.avg_pool2d(down.skip(x), 2)
    torch.testing.assert_close(down(x), textbook, rtol=1e-5, atol=1e-5)

    up = UpBlock(8, 4, num_classes=3)
    x, c = torch.randn(4, 8, 8, 8), torch.tensor([0, 1, 2, 0])
    torch.manual_seed(1)
    ours = up(x, c)
    torch.manual_seed(1)
    skip = up.skip(torch.nn.functional.interpolate(x, scale_factor=2.0))
    main = up.conv2(torch.relu(up.norm2(up.conv1(torch.nn.functional.interpolate(torch.relu(up.norm1(x, c)),
                                                                                   scale_factor=2.0)), c)))
    torch.testing.assert_close(ours, main + skip, rtol=1e-5, atol=1e-5)


def test_an_adaptive_augmentation_starts_off_and_follows_ds_overfitting_sign():
    """StyleGAN2-ADA: each operation applies to each image with probability p; p starts at 0, and every
    ADA_INTERVAL steps rises if the interval's mean r_t is above 0.6 and falls if below, by the images seen over
    ADA_IMAGES, within [0, 1]."""
    x = torch.rand(64, 3, 16, 16)
    adaptive = Augmentation(parse_policy("adaptive"), torch.device("cpu"))
    assert float(adaptive.p) == 0.0 and torch.equal(adaptive(x), x)  # off until D overfits
    for r_t in (1.0, 1.0, 1.0, -0.5):  # mean 0.625, above the target, though one step's sign is below it
        adaptive.adapt(torch.tensor(r_t), images=ADA_IMAGES // 16)
    assert float(adaptive.p) == pytest.approx(0.25)
    changed = (adaptive(x) != x).flatten(1).any(1).float().mean()
    assert 0.3 < changed < 0.8  # three operations at 0.25 each: 1 - 0.75**3 = 58% of the images
    for _ in range(ADA_INTERVAL):
        adaptive.adapt(torch.tensor(0.2), images=ADA_IMAGES)
    assert float(adaptive.p) == 0.0  # never below 0
    fixed = Augmentation(parse_policy("color,translation,cutout"), torch.device("cpu"))
    for _ in range(ADA_INTERVAL):
        fixed.adapt(torch.tensor(-1.0), images=ADA_IMAGES)
    assert float(fixed.p) == 1.0 and (fixed(x) != x).flatten(1).any(1).all()  # a fixed policy always applies


def test_the_trainer_reports_adapts_and_checkpoints_the_augmentation_strength(tmp_path):
    data = load_dataset(str(write_images(tmp_path / "own", [(32, 32)] * 4)))
    config = TrainConfig(preset="resnet-projection", batch_size=4, latent_dim=8, device="cpu")
    trainer = Trainer(config, data)
    trainer.augmentation.p.fill_(0.5)
    rows = [trainer.step().as_dict() for _ in range(ADA_INTERVAL)]
    assert [row["aug_p"] for row in rows] == [0.5] * ADA_INTERVAL  # the strength each step trained with
    moved = float(trainer.augmentation.p) - 0.5
    mean_r_t = sum(row["r_t"] for row in rows) / ADA_INTERVAL
    assert abs(moved) == pytest.approx(4 * ADA_INTERVAL / ADA_IMAGES, rel=1e-3) and (moved > 0) == (mean_r_t > 0.6)
    trainer.step()  # the next interval has begun: its sum is part of the state
    state = trainer.state_dict()
    resumed = Trainer(config, data)
    resumed.load_state_dict(state)
    assert float(resumed.augmentation.p) == float(trainer.augmentation.p) and resumed.augmentation.steps == 1
    assert float(resumed.augmentation.r_t_sum) == float(trainer.augmentation.r_t_sum)
    del state["augment_p"]  # a checkpoint from before the strength was kept: it starts afresh
    older = Trainer(config, data)
    older.load_state_dict(state)
    assert float(older.augmentation.p) == 0.0


@pytest.mark.parametrize("field,value", [("augment_p", torch.tensor(float("nan"))), ("augment_p", torch.tensor(2.0)),
                                         ("augment_p", torch.zeros(3)), ("augment_r_t_sum", torch.tensor(1e9)),
                                         ("augment_steps", -1), ("augment_steps", "2")])
def test_a_hostile_augmentation_strength_in_a_checkpoint_is_refused(field, value):
    adaptive = Augmentation(parse_policy("adaptive"), torch.device("cpu"))
    state = {**adaptive.state_dict(), field: value}
    with pytest.raises(CheckpointError, match="augmentation strength"):
        adaptive.load_state_dict(state)
    assert float(adaptive.p) == 0.0 and adaptive.steps == 0  # nothing of it was taken
