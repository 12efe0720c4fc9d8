"""Steering a run from outside its process, with no network port: a command is an atomic JSON file in
the run directory's `control/` folder (written by `cgan-studio control`, the studio, or any program),
and the run acknowledges it in events.jsonl with the step at which it took effect.

    {"command": "set_hparams", "values": {"lr_d": 1e-5}}
    {"command": "pause"} / {"command": "resume"} / {"command": "stop"}
    {"command": "step", "update_d": true, "update_g": false}
    {"command": "rollback", "step": 300} / {"command": "grid_interval", "every": 50}
    {"command": "set_guard", "values": {"window": 80}}

The run reads the folder between steps (at most a few times a second), oldest file first, marks each
command it applies (NAME.json.applying) and removes it once applied: a run killed in between refuses the
marked file when it starts again, so no command is applied twice. A file that is malformed, too large,
not a regular file or a link is refused with an event that names it, moved into control/refused/ and
never read again; it never stops the run.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import secrets
import stat
import time
from dataclasses import asdict
from pathlib import Path

from cgan_core import records
from cgan_core.errors import CganError, ConfigError
from cgan_core.output.checkpoint import TMP_MARK, atomic_write_text
from cgan_core.run import commands as cmd
from cgan_core.run import layout

FOLDER = layout.CONTROL
REFUSED = "refused"  # control/refused/: the files a run would not apply, kept for the user to read
POLL_SECONDS = 0.25
MAX_BYTES = 64 * 1024  # a command is a few dozen bytes
MAX_FILES_A_POLL = 64
APPLYING = ".applying"  # NAME.json.applying: handed to the loop; a run killed before it finished never reapplies it
# Each kind of control file (records.py holds its schema) and the command it becomes, by type.
_COMMAND_OF = {
    records.SetHParamsRecord: lambda r: cmd.SetHParams(r.values.given()),
    records.SetGuardRecord: lambda r: cmd.SetGuard(r.values.given()),
    records.PauseRecord: lambda r: cmd.Pause(), records.ResumeRecord: lambda r: cmd.Resume(),
    records.StopRecord: lambda r: cmd.Stop(r.reason), records.StepRecord: lambda r: cmd.Step(r.update_d, r.update_g),
    records.RollBackRecord: lambda r: cmd.RollBack(r.step), records.GridIntervalRecord: lambda r: cmd.SetGridInterval(r.every),
    records.TryVariantsRecord: lambda r: cmd.TryVariants(r.vary, r.steps),
    records.ChooseVariantRecord: lambda r: cmd.ChooseVariant(r.label)}
_NAME_OF = {cmd.SetHParams: "set_hparams", cmd.SetGuard: "set_guard", cmd.Pause: "pause", cmd.Resume: "resume",
            cmd.Stop: "stop", cmd.Step: "step", cmd.RollBack: "rollback", cmd.SetGridInterval: "grid_interval",
            cmd.TryVariants: "try_variants", cmd.ChooseVariant: "choose_variant"}


def to_json(command) -> dict:
    if type(command) not in _NAME_OF:
        raise TypeError(f"not a command a run accepts from its control folder: {command!r}")
    fields_ = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(command).items()}  # JSON has lists
    return {"command": _NAME_OF[type(command)], **fields_}


def parse(data: bytes | str) -> object:
    """A command from a file's bytes, parsed once by its schema; ConfigError names the field at fault."""
    record = records.decode_control(data.encode() if isinstance(data, str) else data)
    try:
        return _COMMAND_OF[type(record)](record)
    except ValueError as exc:  # fields that cannot go together (a step that updates neither network)
        raise ConfigError(str(exc)) from None


def send(run_dir: Path, command) -> Path:
    """Write `command` into the run's control folder, atomically (a reader never sees half a file)."""
    folder = Path(run_dir) / FOLDER
    if not os.path.lexists(folder):
        folder.mkdir(parents=True, exist_ok=True)
    problem = _not_a_plain_folder(folder)
    if problem is not None:  # never write through a link, out of the run folder
        raise ConfigError(f"{folder} {problem}: the run does not read it, so no command is written there")
    path = folder / f"{time.time_ns():020d}-{secrets.token_hex(3)}.json"
    atomic_write_text(path, json.dumps(to_json(command)))
    return path


class ControlInbox:
    """The run's side: the command files that have arrived, oldest first, each read once (the loop says
    whether it applied or refused each one, in the same turn).

    Nothing in the folder is trusted: the folder itself and each file are looked at without following a
    symbolic link (lstat, O_NOFOLLOW); only regular files of at most MAX_BYTES are read (O_NONBLOCK, so a
    FIFO cannot hang the run); a refused entry, whatever it is, is moved once into control/refused/ and
    never read again; an applied file is removed. Nothing outside the run folder is read or written."""

    def __init__(self, run_dir: Path) -> None:
        self.folder = Path(run_dir) / FOLDER
        if not os.path.lexists(self.folder):
            self.folder.mkdir(parents=True, exist_ok=True)
        self._next_poll = 0.0
        self._folder_refused = False
        self._handed_out: set[str] = set()

    def poll(self, force: bool = False) -> list[tuple[str, object | None, str]]:
        """[(file name, command or None, why it was refused)], at most every POLL_SECONDS unless forced."""
        now = time.monotonic()
        if not force and now < self._next_poll:
            return []
        self._next_poll = now + POLL_SECONDS
        problem = _not_a_plain_folder(self.folder)
        if problem is not None:  # said once, then left alone: the run never looks inside
            said, self._folder_refused = self._folder_refused, True
            return [] if said else [(FOLDER, None, f"{FOLDER}/ {problem}: not followed, nothing in it is read")]
        with os.scandir(self.folder) as entries:
            listed = sorted(e.name for e in entries if TMP_MARK not in e.name)
        # Left by a run killed while it applied them: never applied twice (the kill may have lost their effect
        # with the steps since the last checkpoint; the user sends them again).
        arrived = [(name.removesuffix(APPLYING), None, "the run stopped while applying it: not applied again")
                   for name in listed if name.endswith(APPLYING) and name.removesuffix(APPLYING) not in self._handed_out]
        for name, _, _ in arrived:
            _set_aside(self.folder, name + APPLYING, name)
        for name in [n for n in listed if n.endswith(".json") and n not in self._handed_out][:MAX_FILES_A_POLL]:
            command, why = _read_command(self.folder / name)
            if command is None:
                _set_aside(self.folder, name)
            elif _rename(self.folder, name, name + APPLYING):  # applied at most once, whatever stops the run
                self._handed_out.add(name)  # not read again while the loop applies it
            else:  # a name too long to take the mark, or a file gone meanwhile: not applied
                command, why = None, "cannot be marked as being applied (its name is too long, or it went)"
                _set_aside(self.folder, name)
            arrived.append((name, command, why))
        return arrived

    def applied(self, name: str) -> None:
        """A command that was applied: its file goes (the loop acknowledges it in events.jsonl)."""
        self._handed_out.discard(name)
        _remove(self.folder / (name + APPLYING))

    def refused(self, name: str) -> None:
        """A command that parsed but was refused when applied (a value out of bounds): set aside, kept."""
        self._handed_out.discard(name)
        _set_aside(self.folder, name + APPLYING, name)


def _not_a_plain_folder(folder: Path) -> str | None:
    try:
        mode = os.lstat(folder).st_mode
    except FileNotFoundError:
        return "is missing"
    except OSError as exc:
        return f"cannot be looked at ({exc.strerror})"
    if stat.S_ISLNK(mode):
        return "is a symbolic link"
    return None if stat.S_ISDIR(mode) else "is not a folder"


def _read_command(path: Path) -> tuple[object | None, str]:
    """(command, "") or (None, why it is refused), reading at most MAX_BYTES of a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        return None, "a symbolic link: not followed" if exc.errno == errno.ELOOP else f"cannot be opened ({exc.strerror})"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, "not a regular file"
        if info.st_size > MAX_BYTES:
            return None, f"{info.st_size} bytes: a command file holds at most {MAX_BYTES}"
        data = os.read(fd, MAX_BYTES + 1)
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror})"
    finally:
        os.close(fd)
    if len(data) > MAX_BYTES:
        return None, f"more than {MAX_BYTES} bytes: a command file holds at most that"
    try:
        return parse(data), ""
    except CganError as exc:
        return None, str(exc)


def _rename(folder: Path, name: str, new: str) -> bool:
    try:
        os.rename(folder / name, folder / new)  # rename moves a link itself, never what it points to
        return True
    except OSError:
        return False


def _set_aside(folder: Path, name: str, kept_as: str | None = None) -> None:
    """Move a refused entry (a file, a link, a FIFO, a folder) into control/refused/ (as `kept_as`, its name
    when it arrived), where it is never read again; where that is not a plain folder, rename it in place out
    of the *.json pattern."""
    refused = folder / REFUSED
    if not os.path.lexists(refused):
        try:
            refused.mkdir()
        except OSError:
            pass
    # A name too long to take the prefix (the limit is 255 bytes) is set aside under a short one instead.
    kept = kept_as or name
    kept = kept if len(kept.encode()) <= 200 else f"{hashlib.sha256(kept.encode()).hexdigest()[:16]}.long-name"
    target = refused / f"{time.time_ns():020d}-{kept}" if _not_a_plain_folder(refused) is None \
        else folder / f"{kept}.refused-{time.time_ns()}"
    try:
        os.rename(folder / name, target)  # rename moves a link itself, never what it points to
    except OSError:
        pass


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
