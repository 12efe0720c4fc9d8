"""Steering and exporting a generator: interpolation endpoints, GIFs, ONNX against onnxruntime, and
hostile files refused on every loading path of the CLI."""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from cgan_core.errors import CheckpointError
from cgan_core.output import latent
from cgan_core.output.checkpoint import load_checkpoint, save_generator
from cgan_core.output.safe_pickle import pickle_globals
from cgan_core.step.config import TrainConfig
from cgan_core.step.presets import PRESETS, get_preset
from cgan_core.step.trainer import Trainer
from tests.hostile import hostile_checkpoint, hostile_pickle_file


@pytest.fixture(scope="module")
def generator_file(tmp_path_factory, tiny_mnist):
    trainer = Trainer(TrainConfig(preset="studio-fast", batch_size=8, latent_dim=16, device="cpu"), tiny_mnist)
    trainer.step()
    path = tmp_path_factory.mktemp("gen") / "generator.safetensors"
    save_generator(path, trainer.sampler, tiny_mnist.class_names, {"preset": "studio-fast", "dataset": "mnist"})
    return path


@pytest.mark.parametrize("preset", list(PRESETS))
def test_class_interpolation_endpoints_equal_hard_labels(preset):
    torch.manual_seed(0)
    g, _ = get_preset(preset).build(10, (1, 28, 28), 32)
    g.eval()
    z = latent.noise(32, seed=5)[0]
    frames = latent.class_interpolation(g, z, 6, 1, frames=7)
    with torch.no_grad():
        hard = g(z.view(1, -1).repeat(2, 1), torch.tensor([6, 1])).float()
    assert frames.shape == (7, 1, 28, 28)
    assert torch.allclose(frames[0], hard[0], atol=1e-5) and torch.allclose(frames[-1], hard[1], atol=1e-5)
    span = (hard[1] - hard[0]).norm()
    assert span > 0  # untrained, but the class changes the output
    # The middle is a mix, not either end.
    assert (frames[3] - hard[0]).norm() > 0.1 * span and (frames[3] - hard[1]).norm() > 0.1 * span


def test_slerp_truncation_and_principal_directions():
    z0, z1 = latent.noise(16, 1)[0], latent.noise(16, 2)[0]
    path = latent.slerp(z0, z1, torch.linspace(0, 1, 9))
    assert torch.allclose(path[0], z0, atol=1e-5) and torch.allclose(path[-1], z1, atol=1e-5)
    assert path.norm(dim=1).min() > 0.8 * min(z0.norm(), z1.norm())  # no dip through the middle
    assert torch.allclose(latent.truncate(z0, 0.5), z0 * 0.5)
    torch.manual_seed(0)
    g, _ = get_preset("mlp-label-concat").build(10, (1, 28, 28), 16)
    directions, strengths = latent.principal_directions(g.eval(), 3, k=4, samples=4)
    assert directions.shape == (4, 16)
    assert torch.allclose(directions @ directions.T, torch.eye(4), atol=1e-4)
    assert bool((strengths[:-1] >= strengths[1:]).all()) and strengths[0] > 0


def test_interpolate_cli_writes_the_requested_gif(generator_file, tmp_path, cli_here):
    out = tmp_path / "anim.gif"
    rc, _, err = cli_here("interpolate", generator_file, "--from", 6, "--to", 1, "--frames", 12, "--scale", 3, "--out", out)
    assert rc == 0, err
    with Image.open(out) as gif:
        assert gif.n_frames == 12 and gif.size == (84, 84)
    walk = tmp_path / "walk.gif"
    rc, _, err = cli_here("interpolate", generator_file, "--class", 3, "--seed", 0, "--seed-to", 4, "--frames", 5,
                          "--out", walk)
    assert rc == 0, err
    with Image.open(walk) as gif:
        assert gif.n_frames == 5 and gif.size == (112, 112)
    rc, _, err = cli_here("interpolate", generator_file, "--from", 6, "--to", 12, "--out", tmp_path / "x.gif")
    assert rc == 2 and "--to" in err and "Traceback" not in err


def test_gif_keeps_identical_frames():
    from cgan_core.output.gif import encode_gif

    frames = np.zeros((6, 8, 8, 1), np.uint8)  # six identical frames: Pillow would merge them into one
    import io

    with Image.open(io.BytesIO(encode_gif(frames, fps=10, scale=2))) as gif:
        assert gif.n_frames == 6 and gif.size == (16, 16)


@pytest.mark.parametrize("preset", ["studio-fast", "mlp-label-concat", "dcgan-label-channel"])
def test_onnx_matches_torch_in_onnxruntime_without_project_code(preset, tmp_path, tiny_mnist, cli_here):
    trainer = Trainer(TrainConfig(preset=preset, batch_size=8, latent_dim=16, device="cpu"), tiny_mnist)
    gen = tmp_path / "g.safetensors"
    save_generator(gen, trainer.sampler, tiny_mnist.class_names)
    out = tmp_path / "g.onnx"
    rc, stdout, err = cli_here("export", gen, "--format", "onnx", "--out", out)
    assert rc == 0, err
    assert json.loads(stdout)["max_abs_error_vs_torch"] <= 1e-4
    z = latent.noise(16, 3, n=5)
    probs = torch.softmax(torch.randn(5, 10, generator=torch.Generator().manual_seed(1)), 1)
    with torch.no_grad():
        expected = trainer.generate(z, probs).numpy()
    np.save(tmp_path / "z.npy", z.numpy())
    np.save(tmp_path / "c.npy", probs.numpy())
    script = (  # the project's packages are made unimportable: the file must stand alone
        "import sys; sys.modules['cgan_core'] = None; sys.modules['studio'] = None\n"
        "import numpy as np, onnxruntime as ort\n"
        f"s = ort.InferenceSession({str(out)!r}, providers=['CPUExecutionProvider'])\n"
        f"y = s.run(['images'], {{'z': np.load({str(tmp_path / 'z.npy')!r}), "
        f"'class_probs': np.load({str(tmp_path / 'c.npy')!r})}})[0]\n"
        f"np.save({str(tmp_path / 'y.npy')!r}, y)\n"
        "meta = s.get_modelmeta().custom_metadata_map\n"
        "print(meta['output_range'], 'cgan_core' in sys.modules and sys.modules['cgan_core'] is not None)\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == [trainer.g.output_range, "False"]
    assert np.abs(np.load(tmp_path / "y.npy") - expected).max() <= 1e-4


def test_export_safetensors_and_checkpoint(generator_file, tmp_path, cli_here):
    copy = tmp_path / "copy.safetensors"
    assert cli_here("export", generator_file, "--format", "safetensors", "--out", copy)[0] == 0
    rc, _, err = cli_here("sample", copy, "--per-class", 2, "--out", tmp_path / "s.npz")
    assert rc == 0, err
    assert np.load(tmp_path / "s.npz")["images"].shape[0] == 2 * 10
    rc, _, err = cli_here("export", tmp_path, "--format", "checkpoint", "--out", tmp_path / "c.pt")
    assert rc == 1 and str(tmp_path) in err


@pytest.mark.parametrize("protocol", [2, 4])
def test_hostile_checkpoint_is_refused_before_unpickling(tmp_path, protocol):
    marker = tmp_path / "MARKER"
    path = hostile_checkpoint(tmp_path / "step-000000003.pt", marker, protocol)
    names = pickle_globals(zipfile.ZipFile(path).read("archive/data.pkl"))
    assert names in (["__builtin__.exec"], ["builtins.exec"])  # STACK_GLOBAL resolved through the memo too
    with pytest.raises(CheckpointError, match=r"refused.*builtins?_*\.exec"):
        load_checkpoint(path)
    assert not marker.exists()


def test_every_cli_loading_path_refuses_hostile_files(tmp_path, cli_here):
    marker = tmp_path / "MARKER"
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    hostile_checkpoint(run_dir / "checkpoints" / "step-000000003.pt", marker, protocol=4)
    hostile_pickle_file(run_dir / "generator.safetensors", marker)
    pickled = hostile_pickle_file(tmp_path / "model.pt", marker)
    attempts = [
        ("train", "--resume", run_dir, "--steps", 5),
        ("sample", run_dir, "--out", tmp_path / "s.png"),
        ("sample", pickled, "--out", tmp_path / "s.png"),
        ("evaluate", run_dir),
        ("interpolate", pickled, "--from", 1, "--to", 2, "--out", tmp_path / "a.gif"),
        ("export", run_dir, "--format", "onnx", "--out", tmp_path / "g.onnx"),
        ("export", run_dir, "--format", "checkpoint", "--out", tmp_path / "c.pt"),
    ]
    for args in attempts:
        rc, _, err = cli_here(*args)
        assert rc == 1, (args, err)
        assert "Traceback" not in err and len(err.strip().splitlines()) <= 2, err
        assert not marker.exists(), args
    assert not (tmp_path / "c.pt").exists()


def test_hostile_classifier_cache_is_rebuilt_not_loaded(tmp_path, small_sets, monkeypatch):
    from cgan_core.data import ImageDataset
    from cgan_core.output.classifier import cache_path, load_or_train_on

    marker = tmp_path / "MARKER"
    train, test = small_sets
    train = ImageDataset("mnist-3000", train.images[:3000], train.labels[:3000], train.class_names)  # trains in ~3 s
    shared = cache_path(train)
    monkeypatch.setenv("CGAN_STUDIO_CACHE", str(tmp_path / "cache"))  # a private cache: the other worker's stays
    path = cache_path(train)
    assert path != shared
    hostile_checkpoint(path, marker)
    model, accuracy = load_or_train_on(train, test, epochs=1)
    assert not marker.exists() and accuracy > 0.7  # a classifier trained here (about 0.8), not a file loaded
    assert path.is_file() and path.read_bytes() != b""  # rebuilt in its place
