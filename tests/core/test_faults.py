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
from tests import waiting


def train_cmd(out, *extra):
    return [sys.executable, "-m", "cgan_core.cli.main", "train", "--out", str(out), *map(str, extra)]


def _newest_checkpoint_step(run) -> int:
    files = checkpoint_files(run)
    return ckpt_step(files[0]) if files else -1


def test_kill_9_during_checkpoint_writes_always_resumes(tmp_path, cli_here, forked_cli):
    config = tmp_path / "every-step.toml"
    config.write_text('preset = "mlp-label-concat"\nbatch_size = 8\ncheckpoint_every = 1\nstats_every = 1\n')
    run = tmp_path / "run"
    rc, _, err = cli_here("train", "--out", run, "--config", config, "--steps", 3)
    assert rc == 0, err
    rng = random.Random(7)
    for kill in range(6):  # benchmarks/bench_faults.py kills 50 times
        before = _newest_checkpoint_step(run)
        proc = forked_cli("train", "--resume", run, "--steps", 100_000)
        # The resumed run writes a checkpoint every step: the kill lands as soon as 1 to 4 new ones are there,
        # at whatever point of the next write or step that is.
        more = rng.randint(1, 4)
        seen = waiting.until(lambda least=before + more: (s := _newest_checkpoint_step(run)) >= least and s, 120,
                             "the resumed run's checkpoints", proc.is_alive, poll=0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(timeout=30)
        assert proc.exitcode == -signal.SIGKILL
        path, state = latest_checkpoint(run)  # after every kill: a valid checkpoint ...
        assert ckpt.TMP_MARK not in path.name, kill  # ... never a temp file ...
        assert state["step"] >= seen > before, (kill, state["step"], seen, before)  # ... and none it had lost
    rc, _, err = cli_here("train", "--resume", run, "--steps", state["step"] + 2)
    assert rc == 0, err
    assert not [p for p in (run / "checkpoints").iterdir() if ckpt.TMP_MARK in p.name]  # stale temps cleaned


def test_full_disk_gives_clear_error_and_keeps_previous_checkpoint(tmp_path, tiny_mnist, monkeypatch):
    from cgan_core.run.training_run import TrainingRun
    from cgan_core.step.config import TrainConfig

    run = TrainingRun(TrainConfig(batch_size=8), out=tmp_path / "run", dataset=tiny_mnist)
    run.step()
    good = run.save_checkpoint()
    run.step()

    def full_disk(src, dst, **descriptors):
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

    def full_disk(src, dst, **descriptors):
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))
    monkeypatch.setattr(os, "replace", full_disk)
    rc = cli.main(["train", "--preset", "mlp-label-concat", "--batch-size", "8", "--steps", "2", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and "No space left on device" in err[-1] and "Traceback" not in "\n".join(err)


def test_kill_9_loses_no_more_than_the_time_cadence(tmp_path, cli_here, forked_cli):
    """Whatever the preset's speed, a kill -9 resumes from a checkpoint at most one cadence old."""
    import json

    run = tmp_path / "run"
    config = tmp_path / "c.toml"
    cadence = 1.8
    config.write_text(f"checkpoint_minutes = {cadence / 60}\n")  # the step cadence (1,000) never comes
    # The slowest preset's networks (at a small batch, so the test waits seconds, not minutes).
    proc = forked_cli("train", "--out", run, "--preset", "dcgan-label-channel", "--batch-size", 8, "--config", config,
                      "--max-seconds", 1000)

    def written() -> list[float]:
        events = run / "events.jsonl"
        lines = events.read_text().splitlines() if events.is_file() else []
        return [json.loads(line)["time"] for line in lines if '"checkpoint"' in line and line.endswith("}")]

    # The cadence is under way (the first at the first stats, then every 1.8 s), and the kill lands most of a
    # cadence after the last checkpoint.
    waiting.until(lambda: len(times := written()) >= 3 and time.time() - times[-1] >= 0.7 * cadence, 180,
                  "checkpoints by the clock", proc.is_alive)
    os.kill(proc.pid, signal.SIGKILL)
    killed_at = time.time()
    proc.join(timeout=30)
    times = written()
    slow_steps = 3.0  # a step or two of the slowest preset, on a busy host
    assert all(b - a <= cadence + slow_steps for a, b in zip(times, times[1:])), times
    assert killed_at - times[-1] <= cadence + slow_steps
    path, state = latest_checkpoint(run)
    assert state["step"] > 0
    rc, _, err = cli_here("train", "--resume", run, "--steps", state["step"] + 2)
    assert rc == 0, err


def test_a_write_the_system_refuses_stops_the_run_in_one_line_naming_the_file(tmp_path, cli_here):
    """A write refused in the middle of a file (here a file-size limit, EFBIG: an OSError without a file name,
    as a full disk's ENOSPC is) stops the run with one line that names the file; the run then resumes."""
    import resource

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))  # 1 MiB: a checkpoint is larger
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead of killing the process

    run = tmp_path / "run"
    rc, _, err = cli_here("train", "--out", run, "--preset", "studio-fast", "--batch-size", 8, "--steps", 12)
    assert rc == 0, err
    stopped = subprocess.run(train_cmd(run, "--resume", run, "--steps", 30), preexec_fn=small_files,
                             capture_output=True, text=True, timeout=180)
    last = stopped.stderr.strip().splitlines()[-1]
    assert stopped.returncode == 1 and "Traceback" not in stopped.stderr, stopped.stderr
    assert "File too large" in last and str(run) in last, last
    rc, _, err = cli_here("train", "--resume", run, "--steps", 30)
    assert rc == 0, err
    assert latest_checkpoint(run)[1]["step"] == 30
