"""What a run will cost, said before it starts: the models' size and a step's memory counted on the meta
device (the same graph as the real step, nothing allocated), the step's time measured, and a run that
cannot fit refused in one line before any step."""
from __future__ import annotations

import pytest
import torch

from cgan_core.data.registry import planned_images
from cgan_core.errors import ConfigError
from cgan_core.run.folder_writer import holds_run
from cgan_core.run.run_lock import writer_alive
from cgan_core.run.training_run import TrainingRun
from cgan_core.step.config import TrainConfig
from cgan_core.step.footprint import _saved_bytes, estimate, measure_step_seconds
from cgan_core.step.presets import PRESETS, get_preset
from tests.core.test_own_size import write_images


@pytest.mark.parametrize("preset", list(PRESETS))
def test_the_parameters_are_the_built_models_and_memory_grows_with_the_pixels(preset):
    config = TrainConfig(preset=preset, batch_size=16)
    torch.manual_seed(0)
    g, d = get_preset(preset).build(10, (3, 32, 32), config.resolved().latent_dim)
    state = torch.get_rng_state()
    small, large = estimate(config, (3, 32, 32), 10), estimate(config, (3, 64, 64), 10)
    assert torch.equal(state, torch.get_rng_state())  # a run's random streams are not touched
    assert (small.g_parameters, small.d_parameters) == tuple(sum(p.numel() for p in n.parameters()) for n in (g, d))
    # Four times the pixels: activations grow with them, at least twice over where the channels at the full
    # size halve as the side doubles (resnet-projection's schedule, nets_resnet.full_size_width).
    assert large.step_mb > (2.0 if preset == "resnet-projection" else 2.5) * small.step_mb
    assert "parameters" in small.describe() and "MB to train" in small.describe()


def test_the_meta_count_equals_what_the_real_step_saves():
    """The same D step on real CPU tensors and on the meta device saves the same bytes for backward."""
    config = TrainConfig(preset="studio-fast", batch_size=8)
    latent = config.resolved().latent_dim
    torch.manual_seed(0)
    g, d = get_preset("studio-fast").build(10, (1, 28, 28), latent)
    z, c, real = torch.randn(8, latent), torch.arange(8) % 10, torch.rand(8, 1, 28, 28)
    real_bytes = _saved_bytes(lambda: d(real, c).sum() + d(g(z, c).detach(), c).sum())
    with torch.device("meta"):
        gm, dm = get_preset("studio-fast").build(10, (1, 28, 28), latent)
        zm, cm, realm = torch.randn(8, latent), torch.arange(8) % 10, torch.rand(8, 1, 28, 28)
        meta_bytes = _saved_bytes(lambda: dm(realm, cm).sum() + dm(gm(zm, cm).detach(), cm).sum())
    assert real_bytes > 0 and meta_bytes == pytest.approx(real_bytes, rel=0.05)


def test_a_run_that_cannot_fit_is_refused_before_any_step(tmp_path):
    data_dir = write_images(tmp_path / "big", [(128, 128)] * 2)
    from cgan_core.data import load_dataset

    data = load_dataset(str(data_dir))
    config = TrainConfig(preset="resnet-projection", batch_size=65_536, device="cpu", steps=1)
    assert estimate(config, data.image_shape, 2).needs_mb > 10**6  # more than any machine this runs on
    with pytest.raises(ConfigError) as refused:
        TrainingRun(config, out=tmp_path / "run", dataset=data)
    message = str(refused.value)
    assert "--batch-size 65536" in message and "128x128 px" in message and "MB free" in message
    assert "\n" not in message
    assert not (tmp_path / "run" / "metrics.csv").exists()  # nothing trained, nothing written
    # The folder was left to the next writer: no run's files in it, and its lock released (what a start checks).
    assert not holds_run(tmp_path / "run") and not writer_alive(tmp_path / "run")


def test_the_cli_refuses_in_one_line(cli_here, tmp_path):
    data_dir = write_images(tmp_path / "big", [(128, 128)] * 2)
    rc, out, err = cli_here("train", "--dataset", data_dir, "--preset", "resnet-projection", "--batch-size", 65_536,
                            "--steps", 1, "--out", tmp_path / "run", "--device", "cpu")
    assert rc == 2 and "--batch-size 65536" in err and "Traceback" not in err


def test_a_step_is_timed_and_the_timing_stops_when_asked():
    config = TrainConfig(preset="studio-fast", batch_size=8, device="cpu")
    seconds = measure_step_seconds(config, (1, 28, 28), 10, seconds=0.2)
    assert seconds is not None and 0 < seconds < 5
    assert measure_step_seconds(config, (1, 28, 28), 10, stop=lambda: True) is None


def test_the_planned_images_are_read_without_loading(tmp_path):
    assert planned_images("mnist") == ((1, 28, 28), 10)
    assert planned_images("mnist", 64, "rgb") == ((3, 64, 64), 10)
    folder = write_images(tmp_path / "own", [(64, 64)] * 2, classes=("a", "b", "c"))
    assert planned_images(str(folder)) == ((3, 64, 64), 3)
    assert planned_images(str(folder), 32, "grey") == ((1, 32, 32), 3)
