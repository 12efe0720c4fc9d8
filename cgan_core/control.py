"""Steering a run from outside its process, with no network port: a command is an atomic JSON file in
the run directory's `control/` folder (written by `cgan-studio control`, the studio, or any program),
and the run acknowledges it in events.jsonl with the step at which it took effect.

    {"command": "set_hparams", "values": {"lr_d": 1e-5}}
    {"command": "pause"} / {"command": "resume"} / {"command": "stop"}
    {"command": "step", "update_d": true, "update_g": false}
    {"command": "rollback", "step": 300} / {"command": "grid_interval", "every": 50}
    {"command": "set_guard", "values": {"window": 80}}

The run reads the folder between steps (at most a few times a second), oldest file first, and removes
each file it has read. A malformed file is refused with an event that names it; it never stops the run.
"""
from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import asdict, fields
from pathlib import Path

from . import commands as cmd
from .checkpoint import TMP_MARK, atomic_write_text

FOLDER = "control"
POLL_SECONDS = 0.25
NAMES = {"set_hparams": cmd.SetHParams, "set_guard": cmd.SetGuard, "pause": cmd.Pause, "resume": cmd.Resume,
         "step": cmd.Step, "rollback": cmd.RollBack, "grid_interval": cmd.SetGridInterval, "stop": cmd.Stop}
_NAME_OF = {cls: name for name, cls in NAMES.items()}
FIELD_TYPES = {"values": dict, "update_d": bool, "update_g": bool, "step": int, "every": int, "reason": str}


def to_json(command) -> dict:
    if type(command) not in _NAME_OF:
        raise TypeError(f"not a command a run accepts from its control folder: {command!r}")
    return {"command": _NAME_OF[type(command)], **asdict(command)}


def parse(text: str) -> object:
    """A command from a file's text; ValueError says what is wrong with it."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("command") not in NAMES:
        raise ValueError(f"'command' must be one of {', '.join(NAMES)}")
    cls = NAMES[data.pop("command")]
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)} for {_NAME_OF[cls]}")
    for name, value in data.items():
        wanted = FIELD_TYPES[name]
        if not isinstance(value, wanted) or (wanted is int and isinstance(value, bool)):
            raise ValueError(f"{name} must be a {wanted.__name__}, got {value!r}")
    try:
        return cls(**data)
    except TypeError as exc:  # a required field is missing
        raise ValueError(str(exc).replace("__init__() ", "")) from None


def send(run_dir: Path, command) -> Path:
    """Write `command` into the run's control folder, atomically (a reader never sees half a file)."""
    folder = Path(run_dir) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{time.time_ns():020d}-{secrets.token_hex(3)}.json"
    atomic_write_text(path, json.dumps(to_json(command)))
    return path


class ControlInbox:
    """The run's side: the command files that have arrived, oldest first, each read once."""

    def __init__(self, run_dir: Path) -> None:
        self.folder = Path(run_dir) / FOLDER
        self.folder.mkdir(parents=True, exist_ok=True)
        self._next_poll = 0.0

    def poll(self, force: bool = False) -> list[tuple[str, object | None, str]]:
        """[(file name, command or None, why it was refused)], at most every POLL_SECONDS unless forced."""
        now = time.monotonic()
        if not force and now < self._next_poll:
            return []
        self._next_poll = now + POLL_SECONDS
        arrived = []
        for path in sorted(p for p in self.folder.glob("*.json") if TMP_MARK not in p.name):
            try:
                text = path.read_text()
                arrived.append((path.name, parse(text), ""))
            except (OSError, UnicodeDecodeError, ValueError, TypeError) as exc:
                arrived.append((path.name, None, str(exc)))
            try:
                os.unlink(path)
            except OSError:
                pass
        return arrived
