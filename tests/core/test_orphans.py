"""A sweep's workers end with the process that started them, even when it is killed by kill -9."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

from tests import waiting

PARENT = """
import os, subprocess, sys, time
import functools
from cgan_core.processes import end_with
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                         preexec_fn=functools.partial(end_with, os.getpid()))
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
    assert waiting.exited(child, 20)


POOL_PARENT = """
import multiprocessing, os, signal, sys
from concurrent.futures import ProcessPoolExecutor
from cgan_core.processes import end_with

def nap(path):
    with open(path, "w") as f:
        f.write(str(os.getpid()))
    signal.alarm(120)  # waits to be ended, two minutes at most
    signal.pause()

if __name__ == "__main__":
    # As branch's variant processes are started (cgan_core/run/fork_processes.py).
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=end_with,
                               initargs=(os.getpid(),))
    pool.submit(nap, sys.argv[1])
    signal.alarm(120)
    signal.pause()
"""


def test_a_variant_process_ends_when_branch_is_killed(tmp_path):
    """Issue 43: branch's spawn pool had no parent-death signal: killed, its children trained on."""
    script, marker = tmp_path / "parent.py", tmp_path / "child.pid"
    script.write_text(POOL_PARENT)
    parent = subprocess.Popen([sys.executable, str(script), str(marker)], cwd=os.getcwd())
    try:
        waiting.until(lambda: marker.is_file() and marker.read_text(), 60, "the pool's process to start",
                      lambda: parent.poll() is None)
        child = int(marker.read_text())
        assert alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(30)
    finally:
        parent.kill()
    assert waiting.exited(child, 20)
