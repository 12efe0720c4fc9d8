"""Loaders check before they build: a generator file's architecture is sized on the meta device against
its own tensors, a checkpoint's archive must be a plain torch zip, and every failure is one clear error."""
from __future__ import annotations

import json
import pickle
import resource
import zipfile

import pytest
import torch
from safetensors.torch import save as st_save

from cgan_core.errors import CheckpointError, ConfigError
from cgan_core.output.checkpoint import generator_metadata, load_checkpoint, load_generator, save_checkpoint
from cgan_core.step.config import TrainConfig
from cgan_core.step.nets_conv import FastGenerator


def small_generator(tmp_path, **meta_changes):
    g = FastGenerator(16, 10, (1, 28, 28), width=8)
    meta = generator_metadata(g, [str(i) for i in range(10)])
    meta.update(meta_changes)
    path = tmp_path / "g.safetensors"
    path.write_bytes(st_save({k: v.contiguous() for k, v in g.state_dict().items()}, metadata=meta))
    return path


def rss_mb() -> float:
    """This process's resident memory now (not its high-water mark, which earlier tests already raised)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def peak_above_now_mb(load) -> tuple[int, float]:
    """Run `load()` in a forked child: (3 for a CheckpointError, 0 for none, 1 for any other error; the child's
    peak resident memory above what it held just before `load`). A child's high-water mark starts at fork,
    below this process's: only what `load` added raises it."""
    import os

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no pytest, no return
        code, before = 1, rss_mb()
        try:
            load()
            code = 0
        except CheckpointError:
            code = 3
        finally:
            added = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
            os.write(write, f"{code} {added}".encode())
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        code, added = pipe.read().split()
    os.waitpid(pid, 0)
    return int(code), float(added)


def test_a_header_that_asks_for_a_huge_model_is_refused_without_allocating_it(tmp_path):
    huge = json.dumps({"latent_dim": 16, "num_classes": 10, "image_shape": [3, 1024, 1024], "width": 1024})
    path = small_generator(tmp_path, kwargs=huge)
    with pytest.raises(CheckpointError, match="tensors do not match|is torch"):
        load_generator(path)
    code, added = peak_above_now_mb(lambda: load_generator(path))
    assert code == 3 and added < 300, (code, added)  # built for real it would be gigabytes
    code, added = peak_above_now_mb(lambda: torch.ones(400 * 2**20 // 4))  # the measure sees 400 MB when there
    assert code == 0 and added > 300, added


@pytest.mark.parametrize("kwargs, why", [
    ({"latent_dim": 10**9, "num_classes": 10, "image_shape": [1, 28, 28]}, "latent_dim: must be at most 4096"),
    ({"latent_dim": 16, "num_classes": 10, "image_shape": [7, 28, 28]}, r"image_shape\[0\]: invalid enum value 7"),
    ({"latent_dim": 16, "num_classes": 10, "image_shape": [1, 28, 28], "evil": 1},
     "kwargs: object contains unknown field `evil`"),
    ([1, 2, 3], "kwargs: must be an object, got a list"),
])
def test_architecture_arguments_are_bounded(tmp_path, kwargs, why):
    with pytest.raises(CheckpointError, match=why):
        load_generator(small_generator(tmp_path, kwargs=json.dumps(kwargs)))


def test_a_discriminator_or_a_header_array_is_one_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="not a cgan-studio generator"):
        load_generator(small_generator(tmp_path, architecture="ProjectionDiscriminator"))
    path = tmp_path / "array.safetensors"
    header = b"[1, 2]"
    path.write_bytes(len(header).to_bytes(8, "little") + header)
    with pytest.raises(CheckpointError, match="not a valid safetensors file"):
        load_generator(path)


def test_a_zip_appended_to_a_legacy_pickle_is_refused(tmp_path):
    good = tmp_path / "good.pt"
    save_checkpoint(good, {"step": 1, "payload": torch.zeros(2)})
    glued = tmp_path / "glued.pt"
    glued.write_bytes(pickle.dumps({"legacy": True}) + good.read_bytes())
    assert zipfile.is_zipfile(glued)  # what the old check accepted
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        load_checkpoint(glued)
    assert load_checkpoint(good)["step"] == 1


def rewritten(source, target, change):
    with zipfile.ZipFile(source) as a, zipfile.ZipFile(target, "w") as b:
        for item in a.infolist():
            change(b, item, a.read(item.filename))
    return target


def test_duplicate_members_and_compressed_members_are_refused(tmp_path):
    good = tmp_path / "good.pt"
    save_checkpoint(good, {"step": 1, "payload": torch.zeros(2)})

    def twice(archive, item, data):
        archive.writestr(item, data)
        if item.filename.endswith(".pkl"):
            archive.writestr(item.filename, pickle.dumps({"schema": 1, "step": 99}))

    with pytest.warns(UserWarning, match="Duplicate name"):
        dup = rewritten(good, tmp_path / "dup.pt", twice)
    with pytest.raises(CheckpointError, match="member name twice"):
        load_checkpoint(dup)

    def deflated(archive, item, data):
        archive.writestr(item.filename, data + (b"\0" * 10_000_000 if item.filename.endswith(".pkl") else b""),
                         compress_type=zipfile.ZIP_DEFLATED)

    bomb = rewritten(good, tmp_path / "bomb.pt", deflated)
    assert bomb.stat().st_size < 1_000_000
    with pytest.raises(CheckpointError, match="is compressed"):
        load_checkpoint(bomb)


def test_a_config_that_asks_for_a_huge_model_is_refused():
    with pytest.raises(ConfigError, match="--latent-dim: must be at most 4096"):
        TrainConfig(latent_dim=10**9).resolved()
    with pytest.raises(ConfigError, match="config: batch_size: must be at most 65536"):
        TrainConfig.from_dict({"batch_size": 10**8}).resolved()


def test_a_good_generator_still_loads(tmp_path):
    g, info = load_generator(small_generator(tmp_path))
    assert isinstance(g, FastGenerator) and info["class_names"] == [str(i) for i in range(10)]
