"""Time to quality: each preset trains for S seconds on the embedded MNIST; at fixed training times (or
steps) its (EMA) generator draws 100 samples per class from fixed noise, which the domain classifier
scores: accuracy, the Frechet distance of its features to the real test split (beside the real floor at
the same 1,000 images) and within-class diversity against the real data's. Evaluation time is not
counted as training time.

    .venv/bin/python -m benchmarks.bench_quality --seconds 60 [--presets a,b] [--marks 15,30,60]
        [--step-marks 500,1000] [--precisions fp32,bf16] [--seeds 0,1]
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from cgan_core.data import load_dataset
from cgan_core.output.classifier import load_or_train
from cgan_core.output.quality import LiveQuality
from cgan_core.step.config import TrainConfig
from cgan_core.step.presets import PRESETS
from cgan_core.step.trainer import Trainer


def evaluate(trainer: Trainer, quality: LiveQuality) -> dict:
    report = quality.measure(trainer.generate, trainer.config.latent_dim, trainer.g.output_range, trainer.step_count)
    return {"accuracy": round(report.accuracy, 3), "frechet": round(report.frechet, 2),
            "frechet_vs_floor": round(report.frechet / report.floor, 2), "diversity_vs_real": round(report.diversity, 3)}


def train_for(preset: str, marks: list[float], step_marks: list[int], quality: LiveQuality,
              precision: str | None = None, seed: int = 0) -> dict:
    trainer = Trainer(TrainConfig(preset=preset, device="cpu", precision=precision, seed=seed))
    trained, points, pending, pending_steps = 0.0, [], sorted(marks), sorted(step_marks)
    while pending or pending_steps:
        start = time.perf_counter()
        stats = trainer.step()
        trained += time.perf_counter() - start
        by_time = bool(pending) and trained >= pending[0]
        by_step = bool(pending_steps) and trainer.step_count >= pending_steps[0]
        if by_time or by_step:
            pending.pop(0) if by_time else pending_steps.pop(0)
            points.append({"seconds": round(trained, 1), "step": trainer.step_count, **evaluate(trainer, quality),
                           **{k: round(v, 3) for k, v in stats.as_dict().items() if k in ("d1", "d2", "g")}})
    return {"preset": preset, "precision": trainer.config.precision, "low_precision": trainer.low_precision,
            "seed": seed, "images_per_second": round(trainer.images_seen / trained, 1), "points": points}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--marks", default="")
    parser.add_argument("--step-marks", default="", help="measure at these steps too, e.g. 500,1000")
    parser.add_argument("--precisions", default="", help="e.g. fp32,bf16 (default: each preset's own)")
    parser.add_argument("--seeds", default="0")
    args = parser.parse_args()
    torch.set_num_threads(2)
    classifier, test_accuracy = load_or_train("mnist")
    quality = LiveQuality(classifier, load_dataset("mnist", "train"), load_dataset("mnist", "test"), per_class=100)
    print(json.dumps({"classifier_test_accuracy": round(test_accuracy, 4), "frechet_floor": round(quality.floor, 3)}),
          flush=True)
    step_marks = [int(m) for m in args.step_marks.split(",") if m]
    marks = [float(m) for m in args.marks.split(",") if m] or ([] if step_marks else [args.seconds])
    for preset in args.presets.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            for precision in args.precisions.split(",") if args.precisions else [None]:
                print(json.dumps(train_for(preset, marks, step_marks, quality, precision, seed)), flush=True)


if __name__ == "__main__":
    main()
