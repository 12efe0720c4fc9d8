"""What live quality costs the training loop: studio-fast steps/s with quality off and with it on at
the default interval (auto), alternating, in one process, with the studio's torch thread count.

    .venv/bin/python -m benchmarks.bench_quality_cost [--seconds 60] [--rounds 2]

The measurements run in the training thread between steps (as in the studio), so this ratio is the
studio's cost too. The domain classifier must be cached (it is after `cgan-studio evaluate` or one
studio run with quality on).
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time

from cgan_core.data import load_dataset
from cgan_core.output.quality import QualityReport, classifier_ready, prepare_live_quality
from cgan_core.run.training_run import TrainingRun
from cgan_core.step.config import TrainConfig
from cgan_core.step.device import leave_core_for_ui


def steps_per_second(seconds: float, live=None) -> tuple[float, list[QualityReport]]:
    with tempfile.TemporaryDirectory() as out:
        run = TrainingRun(TrainConfig(device="cpu"), out=out)
        if live is not None:
            run.enable_quality(live)
        reports, start = [], time.perf_counter()
        while time.perf_counter() - start < seconds:
            reports += [e for e in run.step() if isinstance(e, QualityReport)]
        rate = run.step_count / (time.perf_counter() - start)
        run.close()
    return rate, reports


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    threads = leave_core_for_ui()
    train = load_dataset("mnist", "train")
    if not classifier_ready(train):
        raise SystemExit("train the MNIST domain classifier first (cgan-studio evaluate RUN does)")
    live = prepare_live_quality(train, load_dataset("mnist", "test"))
    rounds = []
    for _ in range(args.rounds):
        off, _ = steps_per_second(args.seconds)
        on, reports = steps_per_second(args.seconds, live)
        eval_seconds = sum(r.seconds for r in reports)
        rounds.append({"off_steps_s": round(off, 2), "on_steps_s": round(on, 2), "ratio": round(on / off, 3),
                       "measurements": [r.step for r in reports],
                       "eval_seconds_each": round(eval_seconds / max(1, len(reports)), 3)})
        print(rounds[-1], flush=True)
    ratios = [r["ratio"] for r in rounds]
    # The independent figures' share of a measurement: the random network, KID and the per-class distances
    test = load_dataset("mnist", "test")
    images, labels = test.images[:len(live.labels)], test.labels[:len(live.labels)]
    start = time.perf_counter()
    for _ in range(5):
        live.independent.measure(images, labels)
    print(json.dumps({"threads": threads, "seconds": args.seconds, "rounds": rounds,
                      "mean_ratio": round(sum(ratios) / len(ratios), 3),
                      "independent_seconds_each": round((time.perf_counter() - start) / 5, 3)}))


if __name__ == "__main__":
    main()
