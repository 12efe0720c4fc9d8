"""Engine speed against faithful references, measured in one process as ratios.

    .venv/bin/python benchmarks/bench_engine.py [--seconds 20]
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from benchmarks.references import seed002_reference, seed004_reference
from cgan_core.data import load_mnist
from cgan_core.step.config import TrainConfig
from cgan_core.step.trainer import Trainer


def rate(step, seconds: float, warmup: int = 3) -> tuple[float, float]:
    """(steps/s, images/s) of `step()` (which returns the real images it consumed) over `seconds`."""
    for _ in range(warmup):
        step()
    steps, images, start = 0, 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        images += step()
        steps += 1
    elapsed = time.perf_counter() - start
    return steps / elapsed, images / elapsed


def engine_step(preset: str):
    trainer = Trainer(TrainConfig(preset=preset, device="cpu"))

    def step() -> int:
        before = trainer.images_seen
        trainer.step()
        return trainer.images_seen - before
    return step


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    train = load_mnist("train")
    images, labels = train.images[:, 0].numpy(), train.labels.numpy()
    results = {"threads": torch.get_num_threads()}
    for name, reference in (("seed002-mlp", seed002_reference), ("seed004-dcgan", seed004_reference)):
        ref = reference(images, labels)
        ref_steps, ref_images = rate(lambda ref=ref: next(ref), args.seconds)
        eng_steps, eng_images = rate(engine_step(name), args.seconds)
        results[name] = {"reference_steps_s": round(ref_steps, 2), "engine_steps_s": round(eng_steps, 2),
                         "reference_images_s": round(ref_images, 1), "engine_images_s": round(eng_images, 1),
                         "ratio_images": round(eng_images / ref_images, 2), "ratio_steps": round(eng_steps / ref_steps, 2)}
        print(name, results[name], flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
