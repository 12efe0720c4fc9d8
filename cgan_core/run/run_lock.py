"""One writer per run folder: the OS lock a writer holds on RUN/writer.lock for as long as it writes, and
the question a reader asks of it (is a writer alive?)."""
from __future__ import annotations

import fcntl
import json
import os
import socket
from datetime import datetime
from pathlib import Path

from cgan_core.errors import CheckpointError, RunBusyError
from cgan_core.run import layout

LOCK_FILE = layout.LOCK


class RunLock:
    """This process is the run folder's one writer for as long as it holds the lock.

    fcntl.flock on a file inside the folder: the kernel drops the lock when the process dies, even by
    kill -9, so it never goes stale; the file names the holder (pid, host, start time) only so that the
    refusal can say who writes. Over NFS, Linux emulates flock with fcntl locks."""

    _fd: int | None = None

    def __init__(self, run_dir: Path) -> None:
        path = Path(run_dir) / LOCK_FILE
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            raise CheckpointError(f"{path}: cannot open the run's lock file ({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _holder(fd)
            os.close(fd)
            raise RunBusyError(f"{run_dir}: another process writes this run ({holder}); follow it with "
                               "File > Attach to run…, or train into another folder") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "started": datetime.now().isoformat(timespec="seconds")}).encode())
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None

    def __del__(self) -> None:
        self.release()


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        return f"pid {int(info['pid'])} on {str(info['host'])[:64]}, since {str(info['started'])[:32]}"
    except (OSError, ValueError, KeyError, TypeError):
        return "its details are unreadable"


def writer_alive(run_dir: Path) -> bool:
    """Whether a process holds the run folder's lock now (a reader's question: it takes the lock only for an
    instant, on a descriptor it opens read-only, and never writes the lock file)."""
    try:
        fd = os.open(Path(run_dir) / LOCK_FILE, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False  # no lock file: no writer has started there
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # refused while a writer holds its exclusive lock
        return False
    except OSError:
        return True
    finally:
        os.close(fd)  # drops the instant's lock too
