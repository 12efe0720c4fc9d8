"""Time to quality: each preset trains for S seconds on the embedded MNIST; at fixed wall times its
(EMA) generator draws 100 samples per class, which the domain classifier scores. Evaluation time is
not counted as training time.

    .venv/bin/python -m benchmarks.bench_quality --seconds 60 [--presets a,b] [--marks 15,30,60] [--precisions fp32,bf16]
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from cgan_core.classifier import load_or_train, predict
from cgan_core.config import TrainConfig
from cgan_core.presets import PRESETS
from cgan_core.sampling import to_uint8
from cgan_core.trainer import Trainer


def evaluate(trainer: Trainer, classifier) -> dict:
    z = torch.randn(1000, trainer.config.latent_dim, generator=torch.Generator().manual_seed(123))
    labels = torch.arange(10).repeat_interleave(100)
    images = trainer.generate(z, labels)
    accuracy = float((predict(classifier, to_uint8(images, trainer.g.output_range).cpu()) == labels).float().mean())
    signed = images * 2 - 1 if trainer.g.output_range == "sigmoid" else images
    diversity = sum(float(signed[labels == c].std(0).mean()) for c in range(10)) / 10
    return {"accuracy": round(accuracy, 3), "diversity": round(diversity, 3)}


def train_for(preset: str, seconds: float, marks: list[float], classifier, precision: str | None = None) -> dict:
    trainer = Trainer(TrainConfig(preset=preset, device="cpu", precision=precision))
    trained, points, pending = 0.0, [], sorted(marks)
    while pending:
        start = time.perf_counter()
        stats = trainer.step()
        trained += time.perf_counter() - start
        if trained >= pending[0]:
            points.append({"seconds": pending.pop(0), "step": trainer.step_count, **evaluate(trainer, classifier),
                           **{k: round(v, 3) for k, v in stats.as_dict().items() if k in ("d1", "d2", "g")}})
    return {"preset": preset, "precision": trainer.config.precision,
            "images_per_second": round(trainer.images_seen / trained, 1), "points": points}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--marks", default="")
    parser.add_argument("--precisions", default="", help="e.g. fp32,bf16 (default: each preset's own)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    classifier, test_accuracy = load_or_train("mnist")
    print(json.dumps({"classifier_test_accuracy": round(test_accuracy, 4)}), flush=True)
    marks = [float(m) for m in args.marks.split(",") if m] or [args.seconds]
    for preset in args.presets.split(","):
        for precision in args.precisions.split(",") if args.precisions else [None]:
            print(json.dumps(train_for(preset, args.seconds, marks, classifier, precision)), flush=True)


if __name__ == "__main__":
    main()
