"""Training runs two at a time, one CPU core and one torch thread each, as the benchmarks that compare two
settings on one machine do: the pair shares the host's swings, and neither steals the other's core."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def train_side_by_side(jobs: dict[str, list], out: Path) -> dict[str, Path]:
    """`cgan-studio train ARGS --out OUT/NAME` for each job, at once, each pinned to its own core; the run
    folders by name. A run that fails stops the benchmark, naming its log."""
    out.mkdir(parents=True, exist_ok=True)
    dirs, procs = {}, []
    for core, (name, args) in enumerate(jobs.items()):
        dirs[name] = out / name
        log = open(dirs[name].with_suffix(".log"), "w")
        procs.append(subprocess.Popen(["taskset", "-c", str(core % (os.cpu_count() or 1)), sys.executable, "-m",
                                       "cgan_core", "train", *map(str, args), "--out", str(dirs[name])],
                                      stdout=log, stderr=log, env={**os.environ, "OMP_NUM_THREADS": "1"}))
    for proc, name in zip(procs, jobs):
        if proc.wait() != 0:
            raise SystemExit(f"{name} failed; see {dirs[name].with_suffix('.log')}")
    return dirs
