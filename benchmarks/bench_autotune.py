"""--autotune against the preset's fixed rates, over the same CPU time: for each seed, two CLI runs of
studio-fast side by side, one torch thread each (one core each on two cores), both with live quality
every ~5% of their time, one of them with `--autotune every=1000 around=lr_g,lr_d`. The budget counts every
variant's training time, so the autotuned run pays for its forks. Both generators (the last one and the
best one by live quality) are then scored by `evaluate`. Run it alone:

    .venv/bin/python -m benchmarks.bench_autotune [--minutes 10] [--seeds 0 1 2] [--out /tmp/autotune]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks.bench_fork_case import run
from cgan_core.run.events import Forked
from cgan_core.run.folder_reader import last_step, read_events, read_metrics

AUTOTUNE = ["every=1000", "around=lr_g,lr_d"]


def train(out: Path, seed: int, seconds: float, autotune: bool) -> subprocess.Popen:
    args = ["train", "--preset", "studio-fast", "--seed", seed, "--max-seconds", seconds, "--quality-every", "auto",
            "--out", out] + (["--autotune", *AUTOTUNE] if autotune else [])
    log = open(out.with_suffix(".log"), "w")
    return subprocess.Popen([sys.executable, "-m", "cgan_core", *map(str, args)], stdout=log, stderr=log,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})


def scores(run_dir: Path) -> dict:
    out = {}
    for name in ("generator", "best"):
        result = json.loads(run("evaluate", run_dir / f"{name}.safetensors", "--draws", 3, "--figures", "classifier")
                            .strip().splitlines()[-1])
        out[name] = (result["accuracy"], result["frechet_vs_floor"])
    return out


def decisions(run_dir: Path) -> list[str]:
    return [f"{e.step}: {e.promoted}" for e in read_events(run_dir) if isinstance(e, Forked)]


def final_rates(run_dir: Path) -> tuple[float, float]:
    _, columns = read_metrics(run_dir, ("lr_g", "lr_d"), ())
    return float(columns["lr_g"][-1]), float(columns["lr_d"][-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("/tmp/autotune"))
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    print("| seed | run | steps | lr G, lr D at the end | decisions (step: kept) | last: accuracy, FD/floor "
          "| best: accuracy, FD/floor |\n|---|---|---|---|---|---|---|", flush=True)
    for seed in args.seeds:
        dirs = {kind: args.out / f"seed{seed}-{kind}" for kind in ("fixed", "autotune")}
        procs = [train(dirs[kind], seed, args.minutes * 60, kind == "autotune") for kind in dirs]
        for proc in procs:
            if proc.wait() != 0:
                raise SystemExit(f"a run of seed {seed} failed; see {args.out}/*.log")
        for kind, run_dir in dirs.items():
            s = scores(run_dir)
            steps = last_step(run_dir)
            lr_g, lr_d = final_rates(run_dir)
            made = "; ".join(decisions(run_dir)) or "-"
            print(f"| {seed} | {kind} | {steps} | {lr_g:.3g}, {lr_d:.3g} | {made} | {s['generator'][0]:.1%}, "
                  f"{s['generator'][1]:.2f} | {s['best'][0]:.1%}, {s['best'][1]:.2f} |", flush=True)


if __name__ == "__main__":
    main()
