"""`cgan-studio sweep` on Optuna, run as a user runs it, on a small real MNIST folder (its domain
classifier trains in seconds)."""
from __future__ import annotations

import csv
import subprocess
import sys

import pytest

from cgan_core.compare import optuna_sweep as sweep_module
from cgan_core.compare.optuna_sweep import open_study
from tests import waiting


@pytest.fixture
def small_mnist(small_mnist_folder):
    return small_mnist_folder


def _sweep(*args, timeout: float = 400) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cgan_core", "sweep", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


def test_a_sweep_ranks_its_trials_prunes_a_hopeless_one_and_takes_a_second_process(tmp_path, small_mnist, cli_here,
                                                                                    forked_cli):
    out = tmp_path / "sweep"
    # A fixed number of steps a trial: the same trials on any host, however busy.
    common = ["--dataset", small_mnist, "--param", "lr_g=1e-4:1e-3:log", "--param", "lr_d=1e-4:1e-3:log",
              "--steps", "30", "--quality-every", "10", "--prune-after", "10", "--out", out]
    rc, first, err = cli_here("sweep", *common, "--trials", "2", "--baseline")  # trial 0: the preset's own rates
    assert rc == 0, err
    assert "rank | trial | state | score" in first
    # A hopeless trial, queued on purpose: nothing learns at these rates, so it trails the others.
    open_study("sweep", None, out).enqueue_trial({"lr_g": 1e-7, "lr_d": 1e-7}, skip_if_exists=False)
    # A second process joins the same SQLite study: forked from the server the interrupted-sweep tests share,
    # where torch and optuna are imported once (the entry point from a shell: the next test but one).
    second = forked_cli("sweep", *common, "--trials", "3")
    second.join(300)
    assert second.exitcode == 0
    with open(out / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    assert all(r["state"].startswith("complete") for r in rows[:2])
    baseline = next(r for r in rows if "preset's own" in r["state"])  # --baseline's trial, marked
    assert float(baseline["lr_g"]) == pytest.approx(4e-4) and int(baseline["trial"]) == 0
    # Ranked by the study's own values: each row's score is its trial's, best first.
    trials = {t.number: t for t in open_study("sweep", None, out).get_trials()}
    complete = [r for r in rows if r["state"].startswith("complete")]
    assert [float(r["score"]) for r in complete] == pytest.approx([trials[int(r["trial"])].value for r in complete])
    assert sorted((trials[int(r["trial"])].value for r in complete), reverse=True) == \
        [trials[int(r["trial"])].value for r in complete]
    hopeless = next(r for r in rows if float(r["lr_g"]) == pytest.approx(1e-7))
    assert hopeless["state"] == "pruned" and hopeless is rows[-1]
    for row in rows:  # each trial is an ordinary run directory, of the steps asked for (the pruned one fewer)
        folder = out / f"trial-{int(row['trial']):03d}"
        assert (folder / "config.json").is_file()
        assert int(row["steps"]) == 30 or row is hopeless


@pytest.mark.parametrize("args,code,message", [
    (["--param", "lr_q=1e-5:1e-3"], 2, "unknown hyperparameter 'lr_q'"),
    (["--param", "lr_g=1e-3:1e-5:log"], 2, "needs LOW < HIGH"),
    (["--param", "lr_g=0:1e-3:log"], 2, "LOW > 0 on a log scale"),
    (["--param", "beta1=0.5:1.5"], 2, "--beta1: must be below 1"),
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


def _quiet_for(folder, seconds: float, timeout: float = 60) -> None:
    """Wait until no file in `folder` has changed for `seconds`: the state in which a sweep reclaims a dead
    trial (optuna_sweep.reclaim_dead_trials)."""
    import time

    waiting.until(lambda: time.time() - max(p.stat().st_mtime for p in folder.iterdir() if p.is_file()) >= seconds,
                  timeout, f"{folder} to go quiet", poll=0.1)


@pytest.mark.parametrize("journal", [False, True], ids=["sqlite", "journal-file"])
def test_an_interrupted_sweep_keeps_its_trials_and_retries_the_one_that_was_running(tmp_path, small_mnist, journal,
                                                                                   cli_here, monkeypatch, forked_cli):
    """On the default SQLite storage (Optuna's heartbeats) and on a journal file (none: the trial's run folder
    has no live writer and has gone quiet), the dead process's trial is failed and run again."""
    import os
    import signal

    out = tmp_path / "sweep"
    storage = str(tmp_path / "study.journal") if journal else None
    # Quality once, at each trial's end (the interval is longer than a trial): what is under test is the retry.
    args = ["--dataset", str(small_mnist), "--param", "lr_g=1e-4:1e-3:log", "--quality-every", "1000", "--trials", "2",
            "--out", str(out), *(["--storage", storage] if journal else [])]
    monkeypatch.setattr(sweep_module, "HEARTBEAT_SECONDS", 1)  # a dead trial is stale after 3 s instead of 60
    process = forked_cli("sweep", *args, "--steps", "100000")
    try:
        metrics = out / "trial-000" / "metrics.csv"
        waiting.until(metrics.is_file, 120, "the first trial to start", process.is_alive, poll=0.1)
        os.kill(process.pid, signal.SIGKILL)  # the sweep dies in the middle of trial 0
        process.join(30)
    finally:
        process.kill()
    assert process.exitcode == -signal.SIGKILL
    _quiet_for(metrics.parent, 3 * 1 + 0.5)  # past the grace period: trial 0's run folder has stopped moving
    rc, _, err = cli_here("sweep", *args, "--steps", "10")
    assert rc == 0, err
    study = open_study("sweep", storage, out)
    states = {t.number: t.state.name for t in study.get_trials()}
    assert states[0] == "FAIL" and list(states.values()).count("COMPLETE") == 2
    retried = study.get_trials()[1]
    assert retried.params == study.get_trials()[0].params  # the same settings, tried again


def test_a_trial_of_another_machine_is_never_failed_while_it_beats(tmp_path, monkeypatch):
    """Issue 43: two sweeps on different machines sharing one storage failed each other's running trials (the
    test looked for a run folder that exists only on the other machine). The trial's heartbeat in the storage
    is what every machine sees; without one, past the quiet time, a trial is failed as before."""
    import time
    from types import SimpleNamespace

    study = open_study("sweep", str(tmp_path / "study.journal"), tmp_path, create=True)
    elsewhere, dead = study.ask(), study.ask()
    for trial in (elsewhere, dead):
        trial.set_user_attr("run_dir", "/another/machine/sweep/trial-000")
    later = time.time() + 2.0  # the sweep's clock, two seconds after both trials started
    monkeypatch.setattr(sweep_module, "time", SimpleNamespace(time=lambda: later))
    sweep_module.beat(elsewhere)  # the other machine's worker is alive and beating
    assert sweep_module.reclaim_dead_trials(study, quiet_seconds=1.0) == [dead.number]
    states = {t.number: t.state.name for t in study.get_trials()}
    assert states[elsewhere.number] == "RUNNING" and states[dead.number] == "FAIL"
