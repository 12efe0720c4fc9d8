"""Waiting on what another process does, in one place. A process's end is an event: its pidfd turns readable.
A file another process writes gives none the standard library can wait on, so it is polled, against a
deadline that names what never came."""
from __future__ import annotations

import os
import select
import time
from collections.abc import Callable


def until(ready: Callable[[], object], timeout: float, what: str, alive: Callable[[], bool] = lambda: True,
          poll: float = 0.05):
    """`ready()`'s first true value; fails naming `what` after `timeout` seconds, or as soon as `alive()` is false."""
    deadline = time.monotonic() + timeout
    while not (found := ready()):
        assert alive(), f"the process ended before {what}"
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(poll)
    return found


def exited(pid: int, timeout: float) -> bool:
    """Whether process `pid` (any process, not only a child) ends within `timeout` seconds."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)
