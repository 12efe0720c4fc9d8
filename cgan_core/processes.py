"""Child processes that end with the process that started them, even when that one is killed by kill -9: a
sweep's workers and branch's variant processes. Outside the engine's layers, for any of them (as errors.py)."""
from __future__ import annotations

import os
import signal


def end_with(parent: int) -> None:
    """In a child of `parent`: Linux sends it SIGTERM when `parent` dies (prctl PR_SET_PDEATHSIG). A child whose
    parent died before the request took effect ends at once. Elsewhere than Linux, nothing changes."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the child outlives a killed parent, as before
        return
    if os.getppid() != parent:
        os._exit(1)
