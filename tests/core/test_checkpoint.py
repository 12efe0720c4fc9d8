import os

import pytest
import torch

from cgan_core.errors import CheckpointError
from cgan_core.output import checkpoint as ckpt
from cgan_core.step.config import TrainConfig
from cgan_core.step.trainer import Trainer


def test_checkpoint_round_trip_under_weights_only(tiny_mnist, tmp_path):
    trainer = Trainer(TrainConfig(batch_size=16), tiny_mnist)
    trainer.step()
    path = tmp_path / "c.pt"
    ckpt.save_checkpoint(path, {**trainer.state_dict(), "config": trainer.config.to_dict()})
    raw = torch.load(path, weights_only=True)  # plain types only: no allow-listing needed
    assert raw["step"] == 1 and raw["config"]["preset"] == "studio-fast"
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temp file left behind


def test_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    ckpt.save_checkpoint(path, {"step": 1})
    def full_disk(fd):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        ckpt.save_checkpoint(path, {"step": 2})
    monkeypatch.undo()
    assert ckpt.load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_damaged_checkpoint_names_the_file(tmp_path, damage):
    path = tmp_path / "c.pt"
    ckpt.save_checkpoint(path, {"step": 1, "w": torch.randn(100)})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"not a checkpoint" * 10)
    with pytest.raises(CheckpointError, match="c.pt"):
        ckpt.load_checkpoint(path)


def test_stale_temps_are_removed(tmp_path):
    (tmp_path / f"step-1.pt{ckpt.TMP_MARK}abcd").write_bytes(b"half")
    (tmp_path / "keep.pt").write_bytes(b"x")
    assert len(ckpt.remove_stale_temps(tmp_path, tmp_path)) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["keep.pt"]


def test_generator_file_rebuilds_from_metadata_alone(tiny_mnist, tmp_path):
    trainer = Trainer(TrainConfig(preset="dcgan-label-channel", batch_size=8), tiny_mnist)
    path = tmp_path / "generator.safetensors"
    ckpt.save_generator(path, trainer.g, tiny_mnist.class_names)
    g, info = ckpt.load_generator(path)
    z, y = torch.randn(3, 100), torch.tensor([1, 2, 3])
    for key, value in trainer.g.state_dict().items():  # the weights round-trip exactly
        assert torch.equal(g.state_dict()[key], value), key
    # The trainer runs channels_last, the rebuilt G the default layout: other kernels, last-bit differences.
    assert torch.allclose(g(z, y), trainer.generate(z, y, use_ema=False), atol=1e-5)
    assert info["class_names"] == tiny_mnist.class_names and info["output_range"] == "tanh"


def test_bad_generator_files_give_clear_errors(tiny_mnist, tmp_path):
    trainer = Trainer(TrainConfig(batch_size=8), tiny_mnist)
    good = tmp_path / "g.safetensors"
    ckpt.save_generator(good, trainer.sampler, tiny_mnist.class_names)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="truncated.safetensors"):
        ckpt.load_generator(truncated)
    state = {k: v.contiguous().clone() for k, v in trainer.sampler.state_dict().items()}
    first = next(k for k, v in state.items() if v.is_floating_point())
    state[first][...] = float("nan")
    from safetensors.torch import save_file

    meta = ckpt.generator_metadata(trainer.sampler, tiny_mnist.class_names)
    save_file(state, tmp_path / "nan.safetensors", metadata=meta)
    with pytest.raises(CheckpointError, match="NaN"):
        ckpt.load_generator(tmp_path / "nan.safetensors")
    state = {k: v.contiguous().clone() for k, v in trainer.sampler.state_dict().items()}
    state[first] = torch.zeros(3)
    save_file(state, tmp_path / "shape.safetensors", metadata=meta)
    with pytest.raises(CheckpointError, match="expected"):
        ckpt.load_generator(tmp_path / "shape.safetensors")
