"""Distance to the machine's limit: every preset's model FLOPs per step against the sgemm peak measured
in the same process, with the same thread count.

    .venv/bin/python -m benchmarks.bench_flops [--seconds 15] [--threads N]

FLOPs: torch.utils.flop_counter over one training step (forward and backward of G and D, as the
preset's update scheme runs them; the optimizer's elementwise work is not counted). Peak: the best of a
few 2048x2048 fp32 matmuls. The fraction says how much of the time goes to arithmetic at the machine's
rate; the rest is memory traffic, small kernels and Python.
"""
from __future__ import annotations

import argparse
import json
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from cgan_core.data import load_mnist
from cgan_core.step.config import TrainConfig
from cgan_core.step.presets import PRESETS
from cgan_core.step.trainer import Trainer


def sgemm_peak(size: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def conv_peak(repeats: int = 10) -> float:
    """The best rate of a large 3x3 convolution (oneDNN, channels_last): on this machine's CPU build it
    runs ~2.5x faster than torch's sgemm, so sgemm alone understates what the machine can do."""
    conv = torch.nn.Conv2d(128, 128, 3, padding=1).to(memory_format=torch.channels_last)
    x = torch.randn(128, 128, 14, 14).contiguous(memory_format=torch.channels_last)
    best = float("inf")
    with torch.no_grad():
        for _ in range(3):
            conv(x)
        for _ in range(repeats):
            start = time.perf_counter()
            conv(x)
            best = min(best, time.perf_counter() - start)
    return 2 * 128 * 128 * 9 * 14 * 14 * 128 / best


def preset_figures(name: str, data, seconds: float, precision: str = "fp32") -> dict:
    trainer = Trainer(TrainConfig(preset=name, device="cpu", precision=precision), data)
    for _ in range(3):  # warm-up: first-call allocations and oneDNN primitive creation
        trainer.step()
    with FlopCounterMode(display=False) as counter:
        trainer.step()
    flops = counter.get_total_flops()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        trainer.step().values.sum().item()  # .item() syncs, as reading stats does every 10 steps
        steps += 1
    rate = steps / (time.perf_counter() - start)
    return {"preset": f"{name} ({precision})", "gflop_per_step": round(flops / 1e9, 2), "steps_per_s": round(rate, 2),
            "achieved_gflops": round(flops * rate / 1e9, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--precisions", default="fp32,bf16")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_mnist("train")
    peak, conv = sgemm_peak(), conv_peak()
    rows = [preset_figures(name, data, args.seconds, precision) for name in PRESETS
            for precision in args.precisions.split(",")]
    peak, conv = max(peak, sgemm_peak()), max(conv, conv_peak())  # the clock may have moved: the better
    print(json.dumps({"threads": args.threads, "sgemm_peak_gflops": round(peak / 1e9, 1),
                      "conv3x3_peak_gflops": round(conv / 1e9, 1)}))
    print("| preset | GFLOP per step | steps/s | achieved GFLOP/s | of the sgemm peak | of the conv peak |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['preset']} | {r['gflop_per_step']} | {r['steps_per_s']} | {r['achieved_gflops']} | "
              f"{r['achieved_gflops'] / (peak / 1e9):.0%} | {r['achieved_gflops'] / (conv / 1e9):.0%} |")


if __name__ == "__main__":
    main()
