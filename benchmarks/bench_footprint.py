"""The memory a run is said to need before it starts (cgan_core/step/footprint.py, counted on the meta
device) against what training takes: for each preset and image size, a fresh process builds the run on
random RGB images, reads its resident size, trains one untimed warm-up step and `--steps` timed ones, and
reads its peak resident size. The estimate should sit above the measured growth (a refusal that errs, errs
on the side of not starting).

    .venv/bin/python -m benchmarks.bench_footprint [--sizes 32,64,128] [--presets all] [--steps 3]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

from cgan_core.step.presets import PRESETS

CASE = """
import json, resource, time, torch
from cgan_core.data.dataset import ImageDataset
from cgan_core.step.config import TrainConfig
from cgan_core.step.footprint import estimate
from cgan_core.step.trainer import Trainer
preset, size, steps = {preset!r}, {size}, {steps}
config = TrainConfig(preset=preset, device="cpu")
batch = config.resolved().batch_size
images = torch.randint(0, 256, (2 * batch, 3, size, size), dtype=torch.uint8)
data = ImageDataset("random", images, torch.arange(2 * batch) % 10, [str(k) for k in range(10)])
footprint = estimate(config, (3, size, size), 10)
trainer = Trainer(config, data)
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize() / 2**20
before = rss()
trainer.step().values.sum().item()  # warm-up, untimed (oneDNN's primitives), as the panel's "Time a step"
start = time.perf_counter()
for _ in range(steps):
    trainer.step().values.sum().item()
seconds = (time.perf_counter() - start) / steps
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"preset": preset, "size": size, "batch": batch, "estimate_mb": round(footprint.needs_mb),
                  "measured_mb": round(peak - before), "step_s": round(seconds, 3)}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="32,64,128")
    parser.add_argument("--presets", default="all")
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    presets = list(PRESETS) if args.presets == "all" else args.presets.split(",")
    print("| preset | size | batch | estimate MB | peak growth MB | estimate / measured | s a step |")
    print("|---|---|---|---|---|---|---|")
    for preset in presets:
        for size in map(int, args.sizes.split(",")):
            code = CASE.format(preset=preset, size=size, steps=args.steps)
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=1800)
            if out.returncode != 0:
                print(f"| {preset} | {size} | | failed: {out.stderr.strip().splitlines()[-1][:120]} | | | |", flush=True)
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"| {preset} | {size} | {r['batch']} | {r['estimate_mb']:,} | {r['measured_mb']:,} | "
                  f"{r['estimate_mb'] / max(1, r['measured_mb']):.2f} | {r['step_s']} |", flush=True)


if __name__ == "__main__":
    main()
