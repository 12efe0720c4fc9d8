"""The engine against the strongest reference a user would otherwise run: each tutorial's own code.

    make bench-peers          # builds .venv-peers (tensorflow-cpu, keras) once, then runs this
    .venv/bin/python -m benchmarks.bench_peers [--seconds 20] [--rounds 2] [--peers .venv-peers/bin/python]

Rows: conv-onehot-channels and dcgan-label-channel against their tutorials' Keras 3 code on
TensorFlow-CPU (benchmarks/peers/keras_recipes.py, in its own process), dcgan-label-channel against the
plain eager PyTorch port as a second row, and mlp-label-concat against seed 002's own PyTorch loop.
The engine runs as the CLI does (a TrainingRun with the default guard, torch's default thread count),
once per precision setting. Every measurement excludes a warm-up; rounds alternate engine and reference;
the ratio is the median over rounds of engine steps/s over reference steps/s.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.bench_engine import rate
from benchmarks.references import seed002_reference, seed004_reference
from cgan_core.data import load_mnist
from cgan_core.run.training_run import TrainingRun
from cgan_core.step.config import TrainConfig
from cgan_core.step.device import native_bf16
from cgan_core.step.presets import get_preset

ROOT = Path(__file__).resolve().parents[1]


def engine_rate(preset: str, seconds: float, precision: str | None, out: Path) -> float:
    run = TrainingRun(TrainConfig(preset=preset, device="cpu", precision=precision), out=out)
    steps_per_second, _ = rate(lambda: (run.step(), 1)[1], seconds, warmup=5)
    return steps_per_second


def label(preset: str, precision: str | None) -> str:
    """"default: bf16" when the preset's own setting is taken; the arithmetic that runs, either way."""
    chosen = precision or get_preset(preset).precision
    runs = "bf16" if chosen == "bf16" or (chosen == "auto" and native_bf16(torch.device("cpu"))) else "fp32"
    return f"default: {runs}" if precision is None else runs


def keras_rate(peers: Path, recipe: str, seconds: float) -> float:
    done = subprocess.run([str(peers), str(ROOT / "benchmarks" / "peers" / "keras_recipes.py"), recipe,
                           "--seconds", str(seconds)], capture_output=True, text=True, timeout=seconds * 10 + 300)
    if done.returncode != 0:
        raise SystemExit(f"keras {recipe}: exit {done.returncode}\n{done.stderr[-3000:]}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["steps_per_second"])


def torch_reference_rate(reference, seconds: float) -> float:
    train = load_mnist("train")
    ref = reference(train.images[:, 0].numpy(), train.labels.numpy())
    return rate(lambda: (next(ref), 1)[1], seconds)[0]


def compare(name: str, engine, reference, rounds: int) -> dict:
    engine_runs, reference_runs = [], []
    for _ in range(rounds):
        engine_runs.append(engine())
        reference_runs.append(reference())
    ratio = statistics.median(e / r for e, r in zip(engine_runs, reference_runs))
    row = {"row": name, "engine_steps_s": [round(v, 2) for v in engine_runs],
           "reference_steps_s": [round(v, 2) for v in reference_runs], "ratio": round(ratio, 2)}
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--peers", type=Path, default=ROOT / ".venv-peers" / "bin" / "python")
    parser.add_argument("--precisions", default="default,fp32",
                        help="default (each preset's own), fp32, bf16 or auto, comma-separated")
    args = parser.parse_args()
    s, rounds, rows = args.seconds, args.rounds, []
    print(json.dumps({"threads": torch.get_num_threads(), "started": time.strftime("%Y-%m-%d %H:%M")}), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = lambda: Path(tempfile.mkdtemp(dir=tmp))  # noqa: E731
        for choice in args.precisions.split(","):
            precision = None if choice == "default" else choice
            for preset in ("conv-onehot-channels", "dcgan-label-channel"):
                rows.append(compare(f"{preset} ({label(preset, precision)}) / Keras 3 on TensorFlow-CPU",
                                    lambda p=preset, q=precision: engine_rate(p, s, q, out()),
                                    lambda p=preset: keras_rate(args.peers, p, s), rounds))
            rows.append(compare(f"dcgan-label-channel ({label('dcgan-label-channel', precision)}) / eager PyTorch port",
                                lambda q=precision: engine_rate("dcgan-label-channel", s, q, out()),
                                lambda: torch_reference_rate(seed004_reference, s), rounds))
        rows.append(compare("mlp-label-concat (fp32) / seed 002's own PyTorch loop",
                            lambda: engine_rate("mlp-label-concat", s, "fp32", out()),
                            lambda: torch_reference_rate(seed002_reference, s), rounds))
    print("\n| engine / reference | engine steps/s | reference steps/s | median ratio |\n|---|---|---|---|")
    for row in rows:
        print(f"| {row['row']} | {' / '.join(map(str, row['engine_steps_s']))} | "
              f"{' / '.join(map(str, row['reference_steps_s']))} | {row['ratio']:.2f}x |")


if __name__ == "__main__":
    main()
