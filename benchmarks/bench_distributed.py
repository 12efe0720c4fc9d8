"""Two processes of one thread (torch.distributed, gloo) against one process of two threads, at the same
global batch, on this machine's CPU. A record, not a target: two cores leave little to gain.

    .venv/bin/python benchmarks/bench_distributed.py [--seconds 40] [--rounds 2] [--presets a,b]

Each run is `cgan-studio train --max-seconds S` from the CLI; the figure is the run's own images/s
(training time only: start-up, dataset loading and the launcher are not counted). Rounds alternate the
two set-ups; the table gives the median ratio (two ranks / one process).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cgan_core.step.presets import get_preset  # noqa: E402


def images_per_second(preset: str, seconds: float, ranks: int, out: Path) -> float:
    batch = get_preset(preset).batch_size
    threads = 2 // ranks
    args = [sys.executable, "-m", "cgan_core", "train", "--preset", preset, "--max-seconds", str(seconds),
            "--batch-size", str(batch // ranks), "--guard", "off", "--out", str(out)]
    if ranks > 1:
        args += ["--nproc", str(ranks)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "CGAN_STUDIO_TORCH_THREADS": str(threads)}
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=seconds * 4 + 120)
    if done.returncode != 0:
        raise SystemExit(f"{preset} x{ranks}: exit {done.returncode}\n{done.stderr[-2000:]}")
    return float(json.loads(done.stdout.splitlines()[-1])["images_per_second"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--presets", default="studio-fast,mlp-label-concat,dcgan-label-channel")
    args = parser.parse_args()
    print("| preset | global batch | 1 process x 2 threads, img/s | 2 ranks x 1 thread, img/s | ratio (median) |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets.split(","):
            single, double = [], []
            for r in range(args.rounds):
                single.append(images_per_second(preset, args.seconds, 1, Path(tmp) / f"{preset}-1-{r}"))
                double.append(images_per_second(preset, args.seconds, 2, Path(tmp) / f"{preset}-2-{r}"))
            ratio = statistics.median(d / s for d, s in zip(double, single))
            print(f"| {preset} | {get_preset(preset).batch_size} | {' / '.join(f'{v:.0f}' for v in single)} | "
                  f"{' / '.join(f'{v:.0f}' for v in double)} | {ratio:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
