"""A real case for `cgan-studio branch`: a studio-fast run pushed into D dominance (lr D x10 at step 1,000),
forked at step 1,500 into lr D x1, x0.3 and x0.1 (of the pushed value) for 500 steps, the best promoted by
live quality, then trained 2,000 steps more; against the same run trained on with no fork. Run it alone:

    .venv/bin/python -m benchmarks.bench_fork_case [--out /tmp/fork-case] [--seed 0]

Every stage is a CLI process, as a user would type it; the generators are scored at the end by `evaluate`.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from cgan_core.run.folder_reader import read_config


def run(*args) -> str:
    done = subprocess.run([sys.executable, "-m", "cgan_core", *map(str, args)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"cgan-studio {' '.join(map(str, args))}: exit {done.returncode}\n{done.stderr[-2000:]}")
    return done.stdout


def scored(run_dir: Path) -> dict:
    result = json.loads(run("evaluate", run_dir).strip().splitlines()[-1])  # a run folder: its generator
    return {"accuracy": result["accuracy"], "frechet_vs_floor": result["frechet_vs_floor"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("/tmp/fork-case"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    forked, plain = args.out / "forked", args.out / "no-fork"
    run("train", "--preset", "studio-fast", "--seed", args.seed, "--steps", 1000, "--out", forked)
    lr_d = read_config(forked)["lr_d"]
    run("train", "--resume", forked, "--lr-d", lr_d * 10, "--steps", 1500)  # D dominance, pushed
    shutil.copytree(forked, plain)
    table = run("branch", forked, "--vary", "lr_d=1x,0.3x,0.1x", "--steps", 500, "--promote", "best")
    print(table, flush=True)
    run("train", "--resume", forked, "--steps", 4000)
    run("train", "--resume", plain, "--steps", 4000)
    results = {"forked": scored(forked), "no_fork": scored(plain), "branch": table.strip().splitlines()[-1]}
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
