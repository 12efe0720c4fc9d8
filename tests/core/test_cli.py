"""The CLI contract. The trained run and one bad flag go through a real process (exit codes, stdout, stderr as
a shell sees them); the rest call main() in this process (cli_here), where torch is imported already."""
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


def test_sample_npz_contract(trained_run, tmp_path, cli_here):
    out, _ = trained_run
    rc, _, err = cli_here("sample", out, "--per-class", 3, "--out", tmp_path / "s.npz")
    assert rc == 0, err
    data = np.load(tmp_path / "s.npz")
    assert data["images"].dtype == np.uint8 and data["images"].shape == (30, 28, 28)
    assert data["labels"].dtype == np.int64 and list(data["labels"]) == [c for c in range(10) for _ in range(3)]
    rc, _, err = cli_here("sample", out / "generator.safetensors", "--labels", "3,3,7", "--out", tmp_path / "s.png")
    assert rc == 0 and (tmp_path / "s.png").stat().st_size > 100, err


def test_resume_continues_to_the_total_step_count(trained_run, tmp_path, cli_here):
    import shutil

    out, _ = trained_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    rc, stdout, err = cli_here("train", "--resume", copy, "--steps", 15, "--lr-g", 1e-4)
    assert rc == 0, err
    assert json.loads(stdout.splitlines()[-1])["steps"] == 15
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


def test_bad_files_exit_1_naming_the_file(tmp_path, cli_here):
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
        rc, _, err = cli_here(*args)
        assert rc == 1, (args, err)
        assert name in err and len(err.strip().splitlines()) == 1
        assert "Traceback" not in err


def test_presets_listing(cli_here):
    rc, listing, _ = cli_here("presets")
    assert rc == 0
    assert {line.split()[0] for line in listing.splitlines()} >= {
        "studio-fast", "mlp-label-product", "mlp-label-concat", "conv-onehot-channels", "dcgan-label-channel"}
    assert "seed 004" in listing


def test_a_config_file_sets_the_run_and_a_flag_overrides_it(tmp_path, cli_here):
    config = tmp_path / "run.toml"
    config.write_text('preset = "mlp-label-concat"\nbatch_size = 8\nlr_d = 1e-4\nsteps = 3\n')
    rc, _, err = cli_here("train", "--config", config, "--lr-d", 3e-4, "--out", tmp_path / "r")
    assert rc == 0, err
    saved = json.loads((tmp_path / "r" / "config.json").read_text())
    assert (saved["preset"], saved["batch_size"], saved["steps"]) == ("mlp-label-concat", 8, 3)  # from the file
    assert saved["lr_d"] == pytest.approx(3e-4)  # the flag wins over the file
    assert steps_of(tmp_path / "r") == [1, 2, 3]


def test_old_preset_names_still_work(tmp_path, cli_here):
    _, listing, _ = cli_here("presets")
    assert "dcgan-label-channel" in listing and "(was seed004-dcgan)" in listing
    rc, _, err = cli_here("train", "--preset", "seed001-mlp", "--batch-size", 16, "--steps", 2, "--out", tmp_path / "r")
    assert rc == 0, err
    assert json.loads((tmp_path / "r" / "config.json").read_text())["preset"] == "mlp-label-product"


def steps_of(run_dir):
    with open(run_dir / "metrics.csv") as f:
        return [int(r["step"]) for r in csv.DictReader(f)]


def test_resume_with_a_time_or_epoch_budget_trains_that_budget_from_where_the_run_is(trained_run, tmp_path, cli_here):
    import shutil

    run = tmp_path / "r"
    shutil.copytree(trained_run[0], run)  # a run that was trained with --steps 12
    before = json.loads(trained_run[1].stdout.strip().splitlines()[-1])
    rc, stdout, err = cli_here("train", "--resume", run, "--max-seconds", 2)
    assert rc == 0, err
    after_time = json.loads(stdout.strip().splitlines()[-1])
    assert after_time["seconds"] - before["seconds"] >= 2  # two more seconds of training ...
    assert after_time["steps"] > 12 + 1  # ... not one silent step
    rc, stdout, err = cli_here("train", "--resume", run, "--epochs", 0.01)  # 0.01 x 60,000 images / 16 = 37.5 steps
    assert rc == 0, err
    assert json.loads(stdout.strip().splitlines()[-1])["steps"] == after_time["steps"] + 38
    assert steps_of(run) == list(range(1, after_time["steps"] + 39))


def test_resume_whose_step_limit_is_reached_says_so(trained_run, cli_here):
    out, _ = trained_run
    before = steps_of(out)
    rc, _, err = cli_here("train", "--resume", out)  # trained with --steps 12: nothing left to do
    assert rc == 2 and "already at step 12" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert cli_here("train", "--resume", out, "--steps", 10)[0] == 2
    assert steps_of(out) == before  # not a single silent step


def test_checkpoints_come_by_the_clock_too(tmp_path, tiny_mnist):
    """A slow preset still checkpoints every few minutes: here every 3 s of a clock that each step moves by
    0.25 s, with the step cadence far away. The first comes at the first stats read; each next one as soon
    as the cadence has passed (not at the next chunk's end), and never sooner."""
    from cgan_core.run.events import CheckpointSaved
    from cgan_core.run.training_run import TrainingRun
    from cgan_core.step.config import TrainConfig

    now = [0.0]
    config = TrainConfig(preset="mlp-label-product", batch_size=16, checkpoint_minutes=0.05, checkpoint_every=100_000)
    run = TrainingRun(config, out=tmp_path / "r", dataset=tiny_mnist)
    run.saves.clock.now = lambda: now[0]
    saved = []
    try:
        for _ in range(60):  # 15 s of the clock
            now[0] += 0.25
            saved += [now[0] for e in run.step() if isinstance(e, CheckpointSaved)]
    finally:
        run.close()
    gaps = [b - a for a, b in zip(saved, saved[1:])]
    assert len(saved) >= 4, saved
    assert all(3.0 <= gap <= 3.0 + 0.25 for gap in gaps), gaps  # every 3 s, late by one step at most


def test_sample_draws_many_images_in_bounded_batches_and_refuses_a_count_too_large(trained_run, tmp_path, cli_here):
    """Issue 43: `sample` drew every image asked for in one forward (8 x num_classes at the header's size)."""
    import torch

    from cgan_core.output.checkpoint import load_generator
    from cgan_core.output.sampling import to_uint8

    out, _ = trained_run
    rc, _, err = cli_here("sample", out, "--per-class", 30, "--out", tmp_path / "s.npz")  # 300 images: two batches
    assert rc == 0, err
    g, info = load_generator(out / "generator.safetensors")
    z = torch.randn(300, g.latent_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # the same images as one forward of all 300
        whole = to_uint8(g(z, torch.arange(10).repeat_interleave(30)).float(), info["output_range"]).numpy()[:, 0]
    assert np.array_equal(np.load(tmp_path / "s.npz")["images"], whole)
    rc, _, err = cli_here("sample", out, "--per-class", 10**7, "--out", tmp_path / "big.npz")
    assert rc == 2 and "GiB" in err and "Traceback" not in err and not (tmp_path / "big.npz").exists()
