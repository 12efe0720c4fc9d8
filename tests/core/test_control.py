"""Steering a run from outside its process: command files in RUN/control/, acknowledged in events.jsonl."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from cgan_core.errors import ConfigError
from cgan_core.run import commands as cmd
from cgan_core.run.control import ControlInbox, parse, send, to_json
from tests import waiting


def test_every_command_survives_its_file_round_trip(tmp_path):
    sent = [cmd.SetHParams({"lr_d": 1e-5}), cmd.SetGuard({"window": 80}), cmd.Pause(), cmd.Resume(),
            cmd.Step(True, False), cmd.RollBack(300), cmd.SetGridInterval(50), cmd.Stop()]
    for command in sent:
        send(tmp_path, command)
    inbox = ControlInbox(tmp_path)
    arrived = inbox.poll(force=True)
    assert [c for _, c, _ in arrived] == sent  # oldest first, typed again
    assert inbox.poll(force=True) == []  # each file is read once


@pytest.mark.parametrize("text, why", [
    ("{not json", "not JSON"),
    ('{"command": "explode"}', "'command' must be one of"),
    ('{"command": "set_hparams", "values": {"lr_d": 1e-5}, "extra": 1}', "unknown field `extra`"),
    ('{"command": "rollback", "step": "300"}', "step: must be a whole number, got a string"),
    ('{"command": "rollback"}', "missing required field `step`"),
])
def test_a_malformed_file_is_refused_with_its_reason(tmp_path, text, why):
    (tmp_path / "control").mkdir()
    (tmp_path / "control" / "bad.json").write_text(text)
    [(name, command, reason)] = ControlInbox(tmp_path).poll(force=True)
    assert name == "bad.json" and command is None and why in reason
    with pytest.raises(ConfigError):
        parse(text)
    with pytest.raises(TypeError):
        to_json(cmd.PreviewSnapshot(3))  # only what makes sense from outside the process


def cli(*args):
    return [sys.executable, "-m", "cgan_core", *map(str, args)]


def last_step(run) -> int:
    with open(run / "metrics.csv") as f:
        return max((int(r["step"]) for r in csv.DictReader(f)), default=0)


def events_of(run):
    path = run / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def test_a_live_cli_run_applies_an_lr_change_at_the_acknowledged_step_and_stops(tmp_path, cli_here):
    run = tmp_path / "run"
    proc = subprocess.Popen(cli("train", "--preset", "mlp-label-concat", "--batch-size", 16, "--max-seconds", 120,
                                "--out", run), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        waiting.until(lambda: (run / "metrics.csv").is_file() and (run / "metrics.csv").stat().st_size > 500, 60,
                      "rows in metrics.csv")
        (run / "control" / "zz-bad.json").write_text("{oops")
        rc, _, err = cli_here("control", run, "--lr-d", 1e-5)  # the sender needs no process of its own
        assert rc == 0, err
        waiting.until(lambda: any(e["event"] == "control_applied" for e in events_of(run)), 30, "the command to be applied")
        # Variants of the live run: it waits for them, keeps them, then goes on from the one chosen.
        rc, _, err = cli_here("control", run, "--vary", "lr_d=0.5x,1x", "--steps", 8)
        assert rc == 0, err
        waiting.until(lambda: list((run / "variants").glob("step-*/results.md")), 60, "the variants' results")
        rc, _, err = cli_here("control", run, "--choose", "lr_d 0.5x")
        assert rc == 0, err
        waiting.until(lambda: any(e["event"] == "forked" for e in events_of(run)), 30, "the fork to be recorded")
        fork_step = next(e["step"] for e in events_of(run) if e["event"] == "forked")
        waiting.until(lambda: last_step(run) > fork_step + 8, 30, "the run's own steps past the variant's")
        assert cli_here("control", run, "--stop")[0] == 0
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    events = events_of(run)
    applied = next(e for e in events if e["event"] == "control_applied" and e["command"] == "SetHParams")
    refused = next(e for e in events if e["event"] == "control_refused")
    assert refused["file"] == "zz-bad.json" and "not JSON" in refused["reason"]
    assert json.loads(out.strip().splitlines()[-1])["steps"] > applied["step"]  # the run went on, then stopped
    with open(run / "metrics.csv") as f:
        rows = [(int(r["step"]), float(r["lr_d"])) for r in csv.DictReader(f)]
    forked = next(e for e in events if e["event"] == "forked")
    assert forked["promoted"] == "lr_d 0.5x" and forked["horizon"] == 8 and forked["step"] >= applied["step"]
    assert [step for step, _ in rows] == list(range(1, len(rows) + 1))  # one row a step, the variant's included
    assert all(lr == pytest.approx(2e-4) for step, lr in rows if step <= applied["step"])
    assert all(lr == pytest.approx(1e-5) for step, lr in rows if applied["step"] < step <= forked["step"])
    assert all(lr == pytest.approx(5e-6) for step, lr in rows if step > forked["step"])  # the chosen variant's
    assert any(step > forked["step"] + 8 for step, _ in rows)  # and the run went on from it
    assert not list((run / "control").glob("*.json"))  # every file was read once
    assert [p.name.split("-", 1)[1] for p in (run / "control" / "refused").iterdir()] == ["zz-bad.json"]  # kept


def test_control_off_ignores_the_folder(tmp_path, cli_here):
    run = tmp_path / "run"
    (run / "control").mkdir(parents=True)
    send(run, cmd.Stop())
    # A run that reads its folder reads it before its first step (ControlInbox polls at once): 30 steps are
    # as many as 300 to show the stop was never read.
    rc, out, err = cli_here("train", "--preset", "mlp-label-concat", "--batch-size", 16, "--steps", 30,
                            "--control", "off", "--out", run)
    assert rc == 0, err
    assert json.loads(out.strip().splitlines()[-1])["steps"] == 30  # not stopped by the file
    assert not any(e["event"].startswith("control") for e in events_of(run))
    assert len(list((run / "control").iterdir())) == 1


def test_a_command_is_applied_at_most_once_whatever_stops_the_run(tmp_path):
    """Issue 43: killed between applying a command and deleting its file, the next start applied it again (a
    try_variants would open a second fork). Now the file is marked while the loop applies it; a marked file
    left by a killed run is refused when the folder is next read, kept in control/refused/ under its name."""
    run = tmp_path / "run"
    send(run, cmd.SetGridInterval(7))
    inbox = ControlInbox(run)
    [(name, command, _)] = inbox.poll(force=True)
    assert command == cmd.SetGridInterval(7)
    assert [p.name for p in (run / "control").iterdir()] == [name + ".applying"]  # handed out: marked
    # ... and the run is killed here. The next start:
    [(again, command, why)] = ControlInbox(run).poll(force=True)
    assert again == name and command is None and "stopped while applying it: not applied again" in why
    assert [p.name.split("-", 1)[1] for p in (run / "control" / "refused").iterdir()] == [name]
    send(run, cmd.SetGridInterval(9))
    inbox = ControlInbox(run)
    [(name, command, _)] = inbox.poll(force=True)
    inbox.applied(name)
    assert not [p for p in (run / "control").iterdir() if p.name != "refused"]
