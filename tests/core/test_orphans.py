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
import os, signal, sys
from cgan_core.cli import main as cli
from cgan_core.run.fork_processes import child_pool

def nap(path):
    with open(path, "w") as f:
        f.write(str(os.getpid()))
    signal.alarm(120)  # waits to be ended, two minutes at most
    signal.pause()

def branch(args):  # branch's variant processes, as cgan_core/run/fork_processes.py starts them
    with child_pool(1) as pool:
        pool.submit(nap, sys.argv[1]).result()

if __name__ == "__main__":
    cli.cli_branch.cmd_branch = branch
    sys.exit(cli.main(["branch", sys.argv[2], "--vary", "lr_d=1x,2x", "--steps", "5"]))
"""


def branch_with_a_variant_process(tmp_path):
    tmp_path.mkdir(exist_ok=True)
    script, marker = tmp_path / "parent.py", tmp_path / "child.pid"
    script.write_text(POOL_PARENT)
    parent = subprocess.Popen([sys.executable, str(script), str(marker), str(tmp_path)], cwd=os.getcwd(),
                              stderr=subprocess.PIPE, text=True, start_new_session=True)
    waiting.until(lambda: marker.is_file() and marker.read_text(), 60, "the pool's process to start",
                  lambda: parent.poll() is None)
    child = int(marker.read_text())
    assert alive(child)
    return parent, child


def test_a_variant_process_ends_when_branch_is_killed(tmp_path):
    """Issue 43: branch's spawn pool had no parent-death signal: killed, its children trained on."""
    parent, child = branch_with_a_variant_process(tmp_path / "kill")
    try:
        parent.send_signal(signal.SIGKILL)
        parent.wait(30)
    finally:
        parent.kill()
    assert waiting.exited(child, 20)


def test_ctrl_c_ends_branch_and_its_processes_in_one_line(tmp_path):
    """Issue 43: Ctrl-C (SIGINT to the terminal's whole process group) printed a KeyboardInterrupt traceback
    from branch and from each variant process; now one line, exit 130, and no process left."""
    parent, child = branch_with_a_variant_process(tmp_path)
    try:
        os.killpg(parent.pid, signal.SIGINT)
        _, err = parent.communicate(timeout=60)
    finally:
        parent.kill()
    assert parent.returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("cgan-studio: interrupted (Ctrl-C)"), err
    assert waiting.exited(child, 20)
