"""A run folder has one writer: a second one is refused in one line that names the holder, a fresh run
never writes into a folder that holds one, and default names never collide."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cgan_core.errors import RunBusyError
from cgan_core.run.folder_writer import claim_new_dir
from cgan_core.run.loop import train
from cgan_core.run.run_lock import LOCK_FILE
from cgan_core.run.training_run import TrainingRun
from cgan_core.step.config import TrainConfig


def tiny(**extra) -> TrainConfig:
    return TrainConfig(**{"preset": "mlp-label-concat", "batch_size": 8, "steps": 6, "stats_every": 2,
                          "sample_every": 1000, **extra})


def cli(*args) -> list[str]:
    return [sys.executable, "-m", "cgan_core", *map(str, args)]


def test_a_second_writer_is_refused_and_the_first_is_untouched(tmp_path, tiny_mnist):
    first = TrainingRun(tiny(), out=tmp_path / "r", dataset=tiny_mnist)
    train(first)
    metrics = (tmp_path / "r" / "metrics.csv").read_bytes()
    with pytest.raises(RunBusyError, match=r"another process writes this run \(pid \d+ on "):
        TrainingRun(tiny(), resume=tmp_path / "r", overrides={"steps": 20}, dataset=tiny_mnist)
    assert (tmp_path / "r" / "metrics.csv").read_bytes() == metrics  # nothing truncated, nothing cleaned
    first.close()  # the lock goes with the writer: now it resumes
    second = TrainingRun(tiny(), resume=tmp_path / "r", overrides={"steps": 20}, dataset=tiny_mnist)
    assert second.step_count == 6
    second.close()


def test_the_lock_dies_with_its_process(tmp_path):
    """kill -9 leaves no stale lock: the kernel drops a flock with its process."""
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from cgan_core.run.run_lock import RunLock; "
                               f"lock = RunLock({str(tmp_path)!r}); print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        from cgan_core.run.run_lock import RunLock

        with pytest.raises(RunBusyError, match=f"pid {holder.pid} "):
            RunLock(tmp_path)
    finally:
        holder.kill()
        holder.wait(30)
    RunLock(tmp_path).release()
    assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] != holder.pid  # the new holder's name


def test_reusing_out_for_a_new_run_is_refused_in_one_line(tmp_path, cli_here):
    run = tmp_path / "R"
    rc, _, err = cli_here("train", "--preset", "mlp-label-product", "--batch-size", 8, "--steps", 12, "--out", run)
    assert rc == 0, err
    before = {p.name: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != LOCK_FILE}
    rc, _, err = cli_here("train", "--steps", 30, "--out", run)
    assert rc == 2 and "Traceback" not in err
    [line] = err.strip().splitlines()
    assert f"--out {run}: that folder already holds a run; --resume {run} continues it" in line
    after = {p.name: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != LOCK_FILE}
    assert after == before


def test_two_runs_started_in_the_same_second_get_two_folders(tmp_path, monkeypatch, tiny_mnist):
    monkeypatch.setenv("CGAN_STUDIO_RUNS", str(tmp_path))
    a = TrainingRun(tiny(), dataset=tiny_mnist)
    b = TrainingRun(tiny(), dataset=tiny_mnist)
    try:
        assert a.run_dir != b.run_dir and a.run_dir.parent == b.run_dir.parent == tmp_path
    finally:
        a.close()
        b.close()


def test_claim_new_dir_never_hands_out_a_folder_twice(tmp_path):
    made = [claim_new_dir(tmp_path / "trial-003") for _ in range(3)]
    assert [p.name for p in made] == ["trial-003", "trial-003-2", "trial-003-3"]
    assert all(Path(p).is_dir() for p in made)


def test_a_resume_into_a_folder_that_holds_another_run_is_refused_and_leaves_it_as_it_was(tmp_path, cli_here):
    a, b = tmp_path / "A", tmp_path / "B"
    for run in (a, b):
        rc, _, err = cli_here("train", "--preset", "mlp-label-product", "--batch-size", 8, "--steps", 6, "--out", run)
        assert rc == 0, err
    before = {p.relative_to(b): p.read_bytes() for p in b.rglob("*") if p.is_file() and p.name != LOCK_FILE}
    rc, _, err = cli_here("train", "--resume", a, "--out", b, "--steps", 8)
    assert rc == 2 and "Traceback" not in err
    [line] = err.strip().splitlines()
    assert f"--out {b}: that folder already holds another run" in line
    after = {p.relative_to(b): p.read_bytes() for p in b.rglob("*") if p.is_file() and p.name != LOCK_FILE}
    assert after == before
    rc, _, err = cli_here("train", "--resume", a, "--out", a, "--steps", 8)  # its own folder, named: fine
    assert rc == 0, err


def test_a_file_the_run_did_not_write_in_checkpoints_is_neither_read_nor_pruned(tmp_path, cli_here):
    run = tmp_path / "R"
    config = tmp_path / "c.toml"
    config.write_text("checkpoint_every = 2\nstats_every = 2\n")
    rc, _, err = cli_here("train", "--preset", "mlp-label-product", "--batch-size", 8, "--steps", 4, "--config", config,
                          "--out", run)
    assert rc == 0, err
    copy = run / "checkpoints" / "step-000000010.bak.pt"  # a user's copy, named after a later step
    copy.write_bytes((run / "checkpoints" / "step-000000004.pt").read_bytes())
    rc, out, err = cli_here("train", "--resume", run, "--steps", 12)  # the keep-3 pruning runs on the way
    assert rc == 0, err
    assert json.loads(out.strip().splitlines()[-1])["steps"] == 12  # resumed from step 4, not the copy's "10"
    assert copy.is_file()  # never pruned
