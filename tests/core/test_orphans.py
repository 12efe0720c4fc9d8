"""A sweep's workers end with the process that started them, even when it is killed by kill -9."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

PARENT = """
import os, subprocess, sys, time
from cgan_core.compare.optuna_sweep import _end_with
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], preexec_fn=_end_with(os.getpid()))
print(child.pid, flush=True)
time.sleep(120)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ")[1][0] != "Z"  # a zombie has ended


def test_a_worker_ends_when_its_parent_is_killed(tmp_path):
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    assert alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait(30)
    end = time.monotonic() + 20
    while alive(child) and time.monotonic() < end:
        time.sleep(0.1)
    assert not alive(child)
