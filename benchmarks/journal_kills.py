"""kill -9 at each file operation of a journaled change, in a real process (bench_faults' "journal" stage).

    python -m benchmarks.journal_kills N cgan-studio-args...

runs the CLI (cgan_core.cli.main) with the run folder's file operations counted from the moment a journaled
change begins (RunFiles.branch or RunFiles.adopt) until its journal is cleared: the N-th one sends this process
SIGKILL, so it dies between two operations exactly as a kill -9 from outside would leave it. Exit 0 means the
change had fewer than N + 1 operations (the campaign has tried every point).
"""
from __future__ import annotations

import os
import signal
import sys

from cgan_core.cli.main import main
from cgan_core.output import checkpoint as ckpt
from cgan_core.output import safe_files as safe
from cgan_core.run import journal
from cgan_core.run.folder_writer import RunFiles

OPERATIONS = ((ckpt, "atomic_write_bytes"), (safe, "move"), (safe, "open_append"), (safe, "remove"), (safe, "make_folder"))


def install(kill_at: int) -> None:
    state = {"on": False, "count": 0}
    for module, name in OPERATIONS:
        original = getattr(module, name)

        def operation(*args, _original=original, **kwargs):
            if state["on"]:
                if state["count"] == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
                state["count"] += 1
            return _original(*args, **kwargs)
        setattr(module, name, operation)
    for method in ("branch", "adopt"):
        original = getattr(RunFiles, method)

        def begun(self, *args, _original=original, **kwargs):
            state["on"] = True
            return _original(self, *args, **kwargs)
        setattr(RunFiles, method, begun)
    clear = journal.clear

    def cleared(root):
        clear(root)
        state["on"] = False  # the change is whole: what follows is ordinary training
    journal.clear = cleared


if __name__ == "__main__":
    install(int(sys.argv[1]))
    sys.exit(main(sys.argv[2:]))
