"""TensorBoard event files, read back with tensorboard's own reader."""
from __future__ import annotations

import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from cgan_core.compare.tensorboard import export_run  # noqa: E402
from cgan_core.run import commands as cmd  # noqa: E402
from cgan_core.run.loop import RunLoop  # noqa: E402
from cgan_core.run.training_run import TrainingRun  # noqa: E402
from cgan_core.step.config import TrainConfig  # noqa: E402


def _read(folder):
    board = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    board.Reload()
    return board


def _train(run_dir, steps=30):
    """A tiny run with an lr change at step 12, its events written live into TensorBoard by the run's own
    writer (an option of RunFiles: the studio and the CLI tee nothing)."""
    run = TrainingRun(TrainConfig(preset="studio-fast", steps=steps, batch_size=8, sample_every=10), out=run_dir,
                      tensorboard=True)
    sent = []

    def next_command(block):
        if run.step_count == 12 and not sent:
            sent.append(1)
            return cmd.SetHParams({"lr_g": 1e-3})
        return None
    for _ in RunLoop(run, next_command).events():
        pass
    run.close()
    return run.run_dir


def _check(board, steps):
    tags = board.Tags()
    for tag in ("loss/d1", "loss/d2", "loss/g", "lr/g", "lr/d", "d/real_prob", "grad/g"):
        assert tag in tags["scalars"], tag
        assert [e.step for e in board.Scalars(tag)] == list(range(1, steps + 1)), tag
    lr = {e.step: e.value for e in board.Scalars("lr/g")}
    assert lr[12] == pytest.approx(4e-4) and lr[13] == pytest.approx(1e-3)  # the change lands where it happened
    assert "samples" in tags["images"]
    assert {e.step for e in board.Images("samples")} >= {10, 20, 30}


def test_a_live_run_writes_losses_learning_rates_grids_and_hparams(tmp_path):
    run_dir = _train(tmp_path / "run")
    _check(_read(run_dir / "tensorboard"), 30)
    hparams = _read(run_dir / "tensorboard" / "hparams")
    assert "final/d1" in hparams.Tags()["scalars"]


def test_a_past_run_converts_to_the_same_tags(tmp_path):
    run_dir = _train(tmp_path / "run")
    for path in (run_dir / "tensorboard").rglob("events.*"):
        path.unlink()
    assert export_run(run_dir) == run_dir / "tensorboard"
    _check(_read(run_dir / "tensorboard"), 30)


def test_the_cli_flag_and_the_export_command(tmp_path, cli_here):
    run_dir = tmp_path / "cli"
    rc, _, err = cli_here("train", "--steps", "20", "--batch-size", "8", "--tensorboard", "--out", run_dir)
    assert rc == 0, err
    assert "loss/g" in _read(run_dir / "tensorboard").Tags()["scalars"]
    rc, _, err = cli_here("export-tensorboard", tmp_path)
    assert rc == 2 and "not a run directory" in err
    rc, out, err = cli_here("export-tensorboard", run_dir)
    assert rc == 0 and json.loads(out)["tensorboard"].endswith("tensorboard"), err
