"""The control folder trusts nothing: links are not followed, only small regular files are read, a
refused entry is set aside once (never re-read, never deleted), and every value is bounded."""
from __future__ import annotations

import json
import os
import re

import pytest

from cgan_core.errors import ConfigError
from cgan_core.run import commands as cmd
from cgan_core.run.control import MAX_BYTES, ControlInbox, send
from cgan_core.run.guard import GuardConfig


def refused_names(run) -> list[str]:
    return sorted(p.name.split("-", 1)[1] for p in (run / "control" / "refused").iterdir())


def test_a_symlinked_control_folder_is_not_followed(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    for name in ("a.json", "b.json"):
        (outside / name).write_text('{"command": "stop"}')
    run = tmp_path / "run"
    run.mkdir()
    (run / "control").symlink_to(outside)
    inbox = ControlInbox(run)
    [(name, command, why)] = inbox.poll(force=True)
    assert name == "control" and command is None and "symbolic link" in why
    assert inbox.poll(force=True) == []  # said once
    assert sorted(p.name for p in outside.iterdir()) == ["a.json", "b.json"]  # nothing read, moved or deleted
    with pytest.raises(ConfigError, match="symbolic link"):
        send(run, cmd.Stop())  # nor written through
    assert sorted(p.name for p in outside.iterdir()) == ["a.json", "b.json"]


def test_hostile_entries_are_refused_once_and_kept(tmp_path):
    run, control = tmp_path / "run", tmp_path / "run" / "control"
    control.mkdir(parents=True)
    (control / "1-deep.json").write_text("[" * 20_000)  # within the size cap, past the recursion limit
    os.mkfifo(control / "2-fifo.json")  # would block a plain open() for ever
    (control / "3-zero.json").symlink_to("/dev/zero")  # would eat memory
    (control / "4-folder.json").mkdir()
    (control / "5-big.json").write_text(" " * (MAX_BYTES + 1) + '{"command": "stop"}')
    (control / "6-latin1.json").write_bytes(b'{"command": "st\xf6p"}')
    (control / "7-grid.json").write_text(json.dumps({"command": "grid_interval", "every": 0}))
    (control / "8-back.json").write_text(json.dumps({"command": "rollback", "step": -1}))
    inbox = ControlInbox(run)
    arrived = inbox.poll(force=True)
    reasons = {name: why for name, command, why in arrived}
    assert all(command is None for _, command, _ in arrived) and len(arrived) == 8
    assert "must be an object, got a list" in reasons["1-deep.json"]  # refused at its first byte, never recursed
    assert "not a regular file" in reasons["2-fifo.json"] and "not a regular file" in reasons["4-folder.json"]
    assert "symbolic link" in reasons["3-zero.json"]
    assert "at most" in reasons["5-big.json"] and "UTF-8" in reasons["6-latin1.json"]
    assert "every: must be at least 1" in reasons["7-grid.json"]
    assert "step: must be at least 0" in reasons["8-back.json"]
    assert inbox.poll(force=True) == []  # never read again
    assert not list(control.glob("*.json"))
    assert refused_names(run) == sorted(reasons)  # moved aside, never deleted
    assert (control / "refused").is_dir() and not (control / "refused").is_symlink()


def test_a_symlinked_refused_folder_is_not_written_through(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    control = tmp_path / "run" / "control"
    control.mkdir(parents=True)
    (control / "refused").symlink_to(outside)
    (control / "bad.json").write_text("{oops")
    [(_, command, _)] = ControlInbox(tmp_path / "run").poll(force=True)
    assert command is None and list(outside.iterdir()) == []
    assert [p.name.split(".refused-")[0] for p in control.glob("bad.json.refused-*")] == ["bad.json"]


@pytest.mark.parametrize("values, why", [
    ({"d_steps": 1_000_000_000}, "--d-steps: must be at most 100"),
    ({"lr_d": 1e30}, "--lr-d: must be at most 1"),
    ({"lr_g": float("nan")}, "--lr-g: must be a positive number"),
])
def test_live_values_that_would_hang_or_poison_a_run_are_refused(values, why):
    from cgan_core.step.config import check_hparams

    with pytest.raises(ConfigError, match=why):
        check_hparams(values)


@pytest.mark.parametrize("setting, why", [({"ring_size": 10**9}, "ring_size: must be at most 20"),
                                          ({"snapshot_every": 10**12}, "snapshot_every: must be at most 1000000"),
                                          ({"window": 0}, "window: must be at least 1")])
def test_guard_settings_are_bounded(setting, why):
    with pytest.raises(ConfigError, match=f"guard: {why}"):
        GuardConfig().replace(**setting)


def test_a_command_refused_when_applied_is_kept_aside_too(tmp_path, tiny_mnist):
    """A file that parses but asks for a value the run refuses (lr 1e9, d_steps 10^6) is set aside like any
    other refused entry, never deleted; an applied one goes; the run trains on with its own settings."""
    from cgan_core.run.events import ControlApplied, ControlRefused
    from cgan_core.run.loop import RunLoop
    from cgan_core.run.training_run import TrainingRun
    from cgan_core.step.config import TrainConfig

    run = TrainingRun(TrainConfig(batch_size=8, steps=6), out=tmp_path / "run", dataset=tiny_mnist)
    control = run.run_dir / "control"
    control.mkdir(exist_ok=True)
    (control / "1-huge.json").write_text(json.dumps({"command": "set_hparams", "values": {"lr_g": 1e9}}))
    (control / "2-steps.json").write_text(json.dumps({"command": "set_hparams", "values": {"d_steps": 10**6}}))
    (control / "3-fine.json").write_text(json.dumps({"command": "set_hparams", "values": {"lr_d": 1e-4}}))
    try:
        events = list(RunLoop(run, inbox=ControlInbox(run.run_dir)).events())
    finally:
        run.close()
    refused = {e.file for e in events if isinstance(e, ControlRefused)}
    assert refused == {"1-huge.json", "2-steps.json"}
    assert [e.file for e in events if isinstance(e, ControlApplied)] == ["3-fine.json"]
    assert refused_names(run.run_dir) == ["1-huge.json", "2-steps.json"]  # kept for the user to read
    assert not list(control.glob("*.json"))  # the applied one went
    assert run.trainer.hparams["lr_g"] == 4e-4 and run.trainer.hparams["lr_d"] == 1e-4


@pytest.mark.parametrize("setting, why", [
    ({"backoff": "0.5"}, "backoff: must be a number, got a string"),
    ({"g_ceiling": "6"}, "g_ceiling: must be a number, got a string"),
    ({"d_loss_floor": [0.1]}, "d_loss_floor: must be a number, got a list"),
    ({"spike_floor": float("inf")}, "spike_floor: must be at most 1e+06"),
    ({"g_ceiling": float("nan")}, "g_ceiling: must be at least -1e+06"),
    ({"backoff": True}, "backoff: must be a number, got true or false"),
    ({"enabled": 1}, "enabled: must be true or false, got a whole number"),
    ({"remedy": 3}, "remedy: must be a string, got a whole number"),
    ({"remedy": "zzz"}, "remedy: invalid enum value 'zzz'"),
    ({"warmup": 2.5}, "warmup: must be a whole number, got a number"),
])
def test_guard_settings_of_the_wrong_type_are_refused_by_name(setting, why):
    """Issue 43: a string backoff or g_ceiling from a control file crashed the run (TypeError), or was saved into
    the checkpoint's guard settings and crashed every resume."""
    with pytest.raises(ConfigError, match=re.escape(f"guard: {why}")):
        GuardConfig().replace(**setting)


@pytest.mark.parametrize("vary, why", [
    (["d_steps=inf,1x"], "d_steps=inf: not a finite number"),
    (["lr_d=nan,1x"], "lr_d=nan: not a finite number"),
    (["lr_d=" + ",".join(["1x"] * 5000)], "5000 values"),
    (["lr_d=1x,2x,3x", "lr_g=1x,2x,3x", "beta1=1x,0.9x,0.8x"], "27 variant(s)"),
])
def test_variants_that_cannot_be_trained_are_refused_before_any_product(vary, why):
    """Issue 43: d_steps=inf killed the run (OverflowError); thousands of values a name built ~10^10 combinations
    before the count was checked."""
    from cgan_core.errors import UsageError
    from cgan_core.run.fork import parse_vary

    current = {"lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999, "d_steps": 1, "label_smoothing": 0.0}
    with pytest.raises(UsageError, match=re.escape(why)):
        parse_vary(vary, current)


def test_ill_typed_guard_and_fork_commands_from_files_are_refused_and_the_run_goes_on(tmp_path, tiny_mnist):
    from cgan_core.run.events import ControlApplied, ControlRefused, RunFinished
    from cgan_core.run.loop import RunLoop
    from cgan_core.run.training_run import TrainingRun
    from cgan_core.step.config import TrainConfig

    run = TrainingRun(TrainConfig(batch_size=8, steps=6), out=tmp_path / "run", dataset=tiny_mnist)
    control = run.run_dir / "control"
    control.mkdir(exist_ok=True)
    (control / "1-backoff.json").write_text(json.dumps({"command": "set_guard", "values": {"backoff": "0.5"}}))
    (control / "2-ceiling.json").write_text(json.dumps({"command": "set_guard", "values": {"g_ceiling": [1]}}))
    (control / "3-vary.json").write_text(json.dumps({"command": "try_variants", "vary": ["d_steps=inf,1x"],
                                                     "steps": 10}))
    (control / "4-fine.json").write_text(json.dumps({"command": "set_guard", "values": {"window": 80}}))
    try:
        events = list(RunLoop(run, inbox=ControlInbox(run.run_dir)).events())
        saved = run.guard.config
    finally:
        run.close()
    assert {e.file for e in events if isinstance(e, ControlRefused)} >= {"1-backoff.json", "2-ceiling.json"}
    assert [e.file for e in events if isinstance(e, ControlApplied)][-1] == "4-fine.json"
    assert saved.backoff == 0.5 and saved.window == 80 and saved.g_ceiling == GuardConfig().g_ceiling
    assert isinstance(events[-1], RunFinished) and events[-1].step == 6  # trained on to its end


def test_a_refused_file_whose_name_is_too_long_to_set_aside_is_set_aside_under_a_short_one(tmp_path):
    """Issue 43: a ~245-byte name could not take the set-aside prefix (ENAMETOOLONG), stayed, and was refused again
    at every poll."""
    control = tmp_path / "run" / "control"
    control.mkdir(parents=True)
    name = "x" * 240 + ".json"
    (control / name).write_text("{oops")
    inbox = ControlInbox(tmp_path / "run")
    [(seen, command, _)] = inbox.poll(force=True)
    assert seen == name and command is None
    assert inbox.poll(force=True) == []  # refused once, not at every poll
    [kept] = (control / "refused").iterdir()
    assert kept.name.endswith(".long-name") and kept.read_text() == "{oops"
