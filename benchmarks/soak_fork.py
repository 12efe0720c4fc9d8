"""Every preset forked as a user would from the shell: trained for a while under the default settings, then
`branch --vary lr_d=0.5x,1x --promote best`, then trained on from the variant kept, each stage a CLI process.
Prints each preset's branch table and what the run did after it. Run it alone:

    .venv/bin/python -m benchmarks.soak_fork [--seconds 60] [--steps 200] [--out /tmp/soak-fork]
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from benchmarks.bench_fork_case import run
from cgan_core.run.folder_reader import read_metrics
from cgan_core.run.folder_writer import METRIC_COLUMNS
from cgan_core.step.presets import PRESETS


def last_row(run_dir: Path) -> dict:
    steps, columns = read_metrics(run_dir, METRIC_COLUMNS[1:], ())
    return {"step": int(steps[-1]), **{name: float(values[-1]) for name, values in columns.items()}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0, help="training before the fork, and after it")
    parser.add_argument("--steps", type=int, default=200, help="each variant's steps")
    parser.add_argument("--out", type=Path, default=Path("/tmp/soak-fork"))
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    for preset in args.presets:
        folder = args.out / preset
        run("train", "--preset", preset, "--max-seconds", args.seconds, "--out", folder)
        fork_step = int(last_row(folder)["step"])
        table = run("branch", folder, "--vary", "lr_d=0.5x,1x", "--steps", args.steps, "--promote", "best")
        promoted = json.loads(table.strip().splitlines()[-1])
        run("train", "--resume", folder, "--max-seconds", args.seconds)
        after = last_row(folder)
        print(f"## {preset}: forked at step {fork_step}, kept {promoted['promoted']}, trained on to step "
              f"{after['step']} at lr D {float(after['lr_d']):.3g}\n", flush=True)
        print("\n".join(table.strip().splitlines()[:-1]) + "\n", flush=True)


if __name__ == "__main__":
    main()
