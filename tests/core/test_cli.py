"""The CLI contract, run as a user runs it: in a subprocess."""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

TINY = ["--preset", "mlp-label-product", "--batch-size", "16"]


def cli(*args, timeout=240, env=None):
    return subprocess.run([sys.executable, "-m", "cgan_core.cli.main", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})})


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "r"
    result = cli("train", *TINY, "--steps", 12, "--out", out)
    assert result.returncode == 0, result.stderr
    return out, result


def test_train_contract(trained_run):
    out, result = trained_run
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(summary) == {"run_dir", "steps", "images", "seconds", "images_per_second", "d1", "d2", "g"}
    assert summary["steps"] == 12 and summary["images"] == 12 * 16  # real images consumed
    assert "step" in result.stderr and "img/s" in result.stderr
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:7] == ["step", "epoch", "d1", "d2", "g", "lr_g", "lr_d"]
    assert [int(r["step"]) for r in rows] == list(range(1, 13))
    assert all(np.isfinite(float(r[k])) for r in rows for k in ("d1", "d2", "g"))
    assert json.loads((out / "config.json").read_text())["preset"] == "mlp-label-product"
    assert (out / "generator.safetensors").is_file() and list((out / "checkpoints").glob("step-*.pt"))


def test_sample_npz_contract(trained_run, tmp_path):
    out, _ = trained_run
    result = cli("sample", out, "--per-class", 3, "--out", tmp_path / "s.npz")
    assert result.returncode == 0, result.stderr
    data = np.load(tmp_path / "s.npz")
    assert data["images"].dtype == np.uint8 and data["images"].shape == (30, 28, 28)
    assert data["labels"].dtype == np.int64 and list(data["labels"]) == [c for c in range(10) for _ in range(3)]
    result = cli("sample", out / "generator.safetensors", "--labels", "3,3,7", "--out", tmp_path / "s.png")
    assert result.returncode == 0 and (tmp_path / "s.png").stat().st_size > 100


def test_resume_continues_to_the_total_step_count(trained_run, tmp_path):
    import shutil

    out, _ = trained_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    result = cli("train", "--resume", copy, "--steps", 15, "--lr-g", 1e-4)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["steps"] == 15
    events = [json.loads(line) for line in (copy / "events.jsonl").read_text().splitlines()]
    assert any(e["event"] == "hparam" and e["name"] == "lr_g" and e["new"] == 1e-4 for e in events)


@pytest.mark.parametrize(
    "args, flag",
    [
        (["train", "--steps", "zero"], "--steps"),
        (["train", "--steps", "-3"], "--steps"),
        (["train", "--lr-g", "nan"], "--lr-g"),
        (["train", "--preset", "nope"], "--preset"),
        (["train", "--dataset", "nope"], "--dataset"),
        (["train", "--device", "tpu"], "--device"),
        (["train", "--bogus"], "--bogus"),
        (["sample", "x.safetensors", "--out", "x.jpg"], "--out"),
    ],
)
def test_bad_flag_exits_2_with_one_line(args, flag, cli_here):
    rc, _, err = cli_here(*args)
    assert rc == 2, err
    assert len(err.strip().splitlines()) == 1 and flag in err
    assert "Traceback" not in err


def test_a_bad_flag_from_the_shell_exits_2_with_one_line():
    result = cli("train", "--steps", "zero")
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "--steps" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_files_exit_1_naming_the_file(tmp_path):
    missing = tmp_path / "missing.safetensors"
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 64)
    toml = tmp_path / "bad.toml"
    toml.write_text("steps = [")
    for args, name in [(["sample", missing, "--out", tmp_path / "a.png"], "missing.safetensors"),
                       (["sample", junk, "--out", tmp_path / "a.png"], "junk.safetensors"),
                       (["train", "--config", toml], "bad.toml"),
                       (["train", "--resume", tmp_path / "norun"], "norun"),
                       (["evaluate", junk], "junk.safetensors")]:
        result = cli(*args)
        assert result.returncode == 1, (args, result.stderr)
        assert name in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.stderr


def test_config_file_and_presets_listing(tmp_path):
    listing = cli("presets")
    assert listing.returncode == 0
    assert {line.split()[0] for line in listing.stdout.splitlines()} >= {
        "studio-fast", "mlp-label-product", "mlp-label-concat", "conv-onehot-channels", "dcgan-label-channel"}
    assert "seed 004" in listing.stdout


def test_old_preset_names_still_work(tmp_path):
    listing = cli("presets").stdout
    assert "dcgan-label-channel" in listing and "(was seed004-dcgan)" in listing
    result = cli("train", "--preset", "seed001-mlp", "--batch-size", 16, "--steps", 2, "--out", tmp_path / "r")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "r" / "config.json").read_text())["preset"] == "mlp-label-product"


def steps_of(run_dir):
    with open(run_dir / "metrics.csv") as f:
        return [int(r["step"]) for r in csv.DictReader(f)]


def test_resume_with_a_time_or_epoch_budget_trains_that_budget_from_where_the_run_is(trained_run, tmp_path):
    import shutil

    run = tmp_path / "r"
    shutil.copytree(trained_run[0], run)  # a run that was trained with --steps 12
    before = json.loads(trained_run[1].stdout.strip().splitlines()[-1])
    timed = cli("train", "--resume", run, "--max-seconds", 3)
    assert timed.returncode == 0, timed.stderr
    after_time = json.loads(timed.stdout.strip().splitlines()[-1])
    assert after_time["seconds"] - before["seconds"] >= 3  # three more seconds of training ...
    assert after_time["steps"] > 12 + 1  # ... not one silent step
    epochs = cli("train", "--resume", run, "--epochs", 0.01)  # 0.01 x 60,000 images / 16 a batch = 37.5 steps
    assert epochs.returncode == 0, epochs.stderr
    assert json.loads(epochs.stdout.strip().splitlines()[-1])["steps"] == after_time["steps"] + 38
    assert steps_of(run) == list(range(1, after_time["steps"] + 39))


def test_resume_whose_step_limit_is_reached_says_so(trained_run):
    out, _ = trained_run
    before = steps_of(out)
    result = cli("train", "--resume", out)  # trained with --steps 12: nothing left to do
    assert result.returncode == 2 and "already at step 12" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert cli("train", "--resume", out, "--steps", 10).returncode == 2
    assert steps_of(out) == before  # not a single silent step


def test_checkpoints_come_by_time_too(tmp_path):
    """A slow preset still checkpoints every few minutes; here every 3 s with the step cadence far away."""
    config = tmp_path / "c.toml"
    config.write_text('checkpoint_minutes = 0.05\ncheckpoint_every = 100000\n')
    # One torch thread: two threads spin against the other test worker on two cores, and CI saw a whole
    # 8 s budget spent in the first dozen steps (one checkpoint). The clock is under test here, not speed.
    result = cli("train", *TINY, "--config", config, "--max-seconds", 8, "--out", tmp_path / "r",
                 env={"OMP_NUM_THREADS": "1", "CGAN_STUDIO_TORCH_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in (tmp_path / "r" / "events.jsonl").read_text().splitlines()]
    times = [e["time"] for e in events if e["event"] == "checkpoint"]
    assert 3 <= len(times) <= 5  # at the start, ~every 3 s over 8 s, and the final one: not every chunk
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert max(gaps) < 3 + 2.5 and min(gaps[:-1]) >= 2.9  # the last gap ends at the final checkpoint
