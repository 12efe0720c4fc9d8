"""Nothing is lost: kill -9 during checkpoint writes, and a full disk."""
from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from cgan_core.output import checkpoint as ckpt
from cgan_core.run.folder_writer import checkpoint_files, latest_checkpoint
from cgan_core.run.folder_writer import checkpoint_step as ckpt_step


def train_cmd(out, *extra):
    return [sys.executable, "-m", "cgan_core.cli.main", "train", "--out", str(out), *map(str, extra)]


def _newest_checkpoint_step(run) -> int:
    files = checkpoint_files(run)
    return ckpt_step(files[0]) if files else -1


def test_kill_9_during_checkpoint_writes_always_resumes(tmp_path):
    config = tmp_path / "every-step.toml"
    config.write_text('preset = "mlp-label-concat"\nbatch_size = 8\ncheckpoint_every = 1\nstats_every = 1\n')
    run = tmp_path / "run"
    first = subprocess.run(train_cmd(run, "--config", config, "--steps", 3), capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    rng = random.Random(7)
    resumed_steps = []
    for _ in range(6):  # benchmarks/bench_faults.py kills 50 times
        before = _newest_checkpoint_step(run)
        proc = subprocess.Popen(train_cmd(run, "--resume", run, "--steps", 100_000), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while _newest_checkpoint_step(run) <= before:  # the resumed run is writing a checkpoint every step now
            assert proc.poll() is None and time.monotonic() < deadline, "the resumed run wrote no checkpoint"
            time.sleep(0.02)
        time.sleep(rng.random() * 0.5)  # the kill lands at a random point of the next few checkpoint writes
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        path, state = latest_checkpoint(run)  # always a valid checkpoint ...
        assert ckpt.TMP_MARK not in path.name  # ... and never a temp file
        resumed_steps.append(state["step"])
    assert resumed_steps[-1] > 3  # the runs made progress between kills
    final = subprocess.run(train_cmd(run, "--resume", run, "--steps", resumed_steps[-1] + 2), capture_output=True,
                           text=True, timeout=120)
    assert final.returncode == 0, final.stderr
    assert not [p for p in (run / "checkpoints").iterdir() if ckpt.TMP_MARK in p.name]  # stale temps cleaned


def test_full_disk_gives_clear_error_and_keeps_previous_checkpoint(tmp_path, tiny_mnist, monkeypatch):
    from cgan_core.run.training_run import TrainingRun
    from cgan_core.step.config import TrainConfig

    run = TrainingRun(TrainConfig(batch_size=8), out=tmp_path / "run", dataset=tiny_mnist)
    run.step()
    good = run.save_checkpoint()
    run.step()

    def full_disk(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))
    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        run.save_checkpoint()
    monkeypatch.undo()
    files = checkpoint_files(run.run_dir)
    assert [p.name for p in files] == [os.path.basename(good.path)]
    assert latest_checkpoint(run.run_dir)[1]["step"] == 1
    assert not [p for p in (run.run_dir / "checkpoints").iterdir() if ckpt.TMP_MARK in p.name]
    run.close()


def test_cli_reports_a_full_disk_in_one_line(tmp_path, monkeypatch, capsys):
    from cgan_core.cli import main as cli

    def full_disk(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))
    monkeypatch.setattr(os, "replace", full_disk)
    rc = cli.main(["train", "--preset", "mlp-label-concat", "--batch-size", "8", "--steps", "2", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and "No space left on device" in err[-1] and "Traceback" not in "\n".join(err)


def test_kill_9_loses_no_more_than_the_time_cadence(tmp_path):
    """Whatever the preset's speed, a kill -9 resumes from a checkpoint at most one cadence old."""
    import json

    run = tmp_path / "run"
    config = tmp_path / "c.toml"
    config.write_text("checkpoint_minutes = 0.05\n")  # every 3 s; the step cadence (1,000) never comes
    proc = subprocess.Popen(train_cmd(run, "--preset", "dcgan-label-channel", "--config", config,
                                      "--max-seconds", 1000), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    def written() -> list[float]:
        events = run / "events.jsonl"
        lines = events.read_text().splitlines() if events.is_file() else []
        return [json.loads(line)["time"] for line in lines if '"checkpoint"' in line and line.endswith("}")]

    deadline = time.monotonic() + 180
    while len(written()) < 3:  # the cadence is under way: the first at the first stats, then every 3 s
        assert proc.poll() is None and time.monotonic() < deadline, "no checkpoints by the clock"
        time.sleep(0.05)
    time.sleep(2.5)  # the kill lands most of a cadence after the last checkpoint
    proc.send_signal(signal.SIGKILL)
    killed_at = time.time()
    proc.wait(timeout=30)
    written = written()
    assert written and killed_at - written[-1] <= 3.0 + 3.0  # one cadence, plus a slow step or two
    path, state = latest_checkpoint(run)
    assert state["step"] > 0
    resumed = subprocess.run(train_cmd(run, "--resume", run, "--steps", state["step"] + 2), capture_output=True,
                             text=True, timeout=180)
    assert resumed.returncode == 0, resumed.stderr


def test_a_write_the_system_refuses_stops_the_run_in_one_line_naming_the_file(tmp_path):
    """A write refused in the middle of a file (here a file-size limit, EFBIG: an OSError without a file name,
    as a full disk's ENOSPC is) stops the run with one line that names the file; the run then resumes."""
    import resource

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))  # 1 MiB: a checkpoint is larger
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead of killing the process

    run = tmp_path / "run"
    first = subprocess.run(train_cmd(run, "--preset", "studio-fast", "--batch-size", 8, "--steps", 12),
                           capture_output=True, text=True, timeout=180)
    assert first.returncode == 0, first.stderr
    stopped = subprocess.run(train_cmd(run, "--resume", run, "--steps", 30), preexec_fn=small_files,
                             capture_output=True, text=True, timeout=180)
    last = stopped.stderr.strip().splitlines()[-1]
    assert stopped.returncode == 1 and "Traceback" not in stopped.stderr, stopped.stderr
    assert "File too large" in last and str(run) in last, last
    resumed = subprocess.run(train_cmd(run, "--resume", run, "--steps", 30), capture_output=True, text=True,
                             timeout=180)
    assert resumed.returncode == 0, resumed.stderr
    assert latest_checkpoint(run)[1]["step"] == 30
