"""`cgan-studio sweep` on Optuna, run as a user runs it, on a small real MNIST folder (its domain
classifier trains in seconds)."""
from __future__ import annotations

import csv
import gzip
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("optuna")

from cgan_core.compare.optuna_sweep import open_study  # noqa: E402
from cgan_core.data import load_mnist  # noqa: E402


def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


@pytest.fixture(scope="module")
def small_mnist(tmp_path_factory):
    folder = tmp_path_factory.mktemp("small-mnist")
    for split, prefix, n in (("train", "train", 3000), ("test", "t10k", 500)):
        data = load_mnist(split)
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(_idx(data.images[:n, 0].numpy()))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(_idx(data.labels[:n].numpy()))
    return folder


def _sweep(*args, timeout: float = 400) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cgan_core", "sweep", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


def test_a_sweep_ranks_its_trials_prunes_a_hopeless_one_and_takes_a_second_process(tmp_path, small_mnist):
    out = tmp_path / "sweep"
    # 10 s a trial, not 6: beside the rest of the suite a trial trained too few steps to be compared at all.
    common = ["--dataset", small_mnist, "--param", "lr_g=1e-4:1e-3:log", "--param", "lr_d=1e-4:1e-3:log",
              "--max-seconds", "10", "--quality-every", "15", "--prune-after", "15", "--out", out]
    first = _sweep(*common, "--trials", "2", "--baseline")  # trial 0: the preset's own learning rates
    assert first.returncode == 0, first.stderr
    # A hopeless trial, queued on purpose: nothing learns at these rates, so it trails the others.
    open_study("sweep", None, out).enqueue_trial({"lr_g": 1e-7, "lr_d": 1e-7}, skip_if_exists=False)
    second = _sweep(*common, "--trials", "3")  # a second process joins the same SQLite study
    assert second.returncode == 0, second.stderr
    with open(out / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    assert all(r["state"].startswith("complete") for r in rows[:2])
    baseline = next(r for r in rows if "preset's own" in r["state"])  # --baseline's trial, marked
    assert float(baseline["lr_g"]) == pytest.approx(4e-4) and int(baseline["trial"]) == 0
    scores = [float(r["score"]) for r in rows]
    assert scores[0] >= scores[1]
    hopeless = next(r for r in rows if float(r["lr_g"]) == pytest.approx(1e-7))
    assert hopeless["state"] == "pruned" and hopeless is rows[-1]
    for row in rows:  # each trial is an ordinary run directory
        assert (out / f"trial-{int(row['trial']):03d}" / "config.json").is_file()
    assert "rank | trial | state | score" in second.stdout


@pytest.mark.parametrize("args,code,message", [
    (["--param", "lr_q=1e-5:1e-3"], 2, "unknown hyperparameter 'lr_q'"),
    (["--param", "lr_g=1e-3:1e-5:log"], 2, "needs LOW < HIGH"),
    (["--param", "lr_g=0:1e-3:log"], 2, "LOW > 0 on a log scale"),
    (["--param", "beta1=0.5:1.5"], 2, "must be in [0, 1)"),
    (["--param", "lr_g=1e-5:1e-3", "--storage", "sqlite:////no/such/folder/study.db"], 1, "cannot open the study"),
    (["--param", "lr_g=1e-5:1e-3", "--storage", "postgresql://nobody@127.0.0.1:1/none"], 1, "cannot open the study"),
])
def test_bad_sweep_input_is_one_line_and_starts_nothing(tmp_path, args, code, message, cli_here):
    rc, _, err = cli_here("sweep", *args, "--out", tmp_path / "s")
    assert rc == code, err
    assert message in err and "Traceback" not in err
    assert not any((tmp_path / "s").glob("trial-*"))


def test_a_folder_that_holds_something_else_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    done = _sweep("--param", "lr_g=1e-5:1e-3", "--out", tmp_path, timeout=120)
    assert done.returncode == 2 and "holds something else" in done.stderr


@pytest.mark.parametrize("journal", [False, True], ids=["sqlite", "journal-file"])
def test_an_interrupted_sweep_keeps_its_trials_and_retries_the_one_that_was_running(tmp_path, small_mnist, journal):
    """On the default SQLite storage (Optuna's heartbeats) and on a journal file (none: the trial's run folder
    has no live writer and has gone quiet), the dead process's trial is failed and run again."""
    import os
    import signal
    import time

    out = tmp_path / "sweep"
    storage = str(tmp_path / "study.journal") if journal else None
    args = [sys.executable, "-m", "cgan_core", "sweep", "--dataset", str(small_mnist), "--param", "lr_g=1e-4:1e-3:log",
            "--quality-every", "15", "--trials", "2", "--out", str(out), *(["--storage", storage] if journal else [])]
    env = {**os.environ, "CGAN_SWEEP_HEARTBEAT": "1"}  # a dead trial is stale after 3 s instead of 60
    process = subprocess.Popen([*args, "--max-seconds", "60"], env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (out / "trial-000" / "metrics.csv").is_file():
            assert time.monotonic() < deadline, "the first trial never started"
            time.sleep(0.5)
        os.kill(process.pid, signal.SIGKILL)  # the sweep dies in the middle of trial 0
        process.wait(30)
    finally:
        process.kill()
    time.sleep(4)  # past the grace period: trial 0's heartbeat has stopped
    done = subprocess.run([*args, "--max-seconds", "4"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    study = open_study("sweep", storage, out)
    states = {t.number: t.state.name for t in study.get_trials()}
    assert states[0] == "FAIL" and list(states.values()).count("COMPLETE") == 2
    retried = study.get_trials()[1]
    assert retried.params == study.get_trials()[0].params  # the same settings, tried again
