"""The control folder trusts nothing: links are not followed, only small regular files are read, a
refused entry is set aside once (never re-read, never deleted), and every value is bounded."""
from __future__ import annotations

import json
import os

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
    assert "nested too deeply" in reasons["1-deep.json"]
    assert "not a regular file" in reasons["2-fifo.json"] and "not a regular file" in reasons["4-folder.json"]
    assert "symbolic link" in reasons["3-zero.json"]
    assert "at most" in reasons["5-big.json"] and "UTF-8" in reasons["6-latin1.json"]
    assert "grid interval: must be a whole number from 1" in reasons["7-grid.json"]
    assert "rollback step" in reasons["8-back.json"]
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


@pytest.mark.parametrize("setting", [{"ring_size": 10**9}, {"snapshot_every": 10**12}, {"window": 0}])
def test_guard_settings_are_bounded(setting):
    with pytest.raises(ConfigError, match=f"guard: {next(iter(setting))} must be an integer from 1 to"):
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
