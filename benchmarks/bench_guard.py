"""Guard overhead and recovery, in one process:

    .venv/bin/python -m benchmarks.bench_guard [--seconds 10] [--rounds 3]

1. Overhead: studio-fast's TrainingRun with the guard on and off, alternating, images/s.
2. Recovery: at step 300 both learning rates are multiplied by 1000; the run goes on to step 1200
   with the default guard; the domain classifier then scores the samples.
"""
from __future__ import annotations

import argparse
import json

import torch

from cgan_core.classifier import load_or_train, predict
from cgan_core.config import TrainConfig
from cgan_core.events import GuardGaveUp, RolledBack
from cgan_core.run import TrainingRun
from cgan_core.sampling import make_grid, save_png, to_uint8


def images_per_second(guard_on: bool, seconds: float) -> float:
    run = TrainingRun(TrainConfig(), guard={"enabled": guard_on})
    for _ in range(20):
        run.step()
    start_s, start_i = run.seconds, run.trainer.images_seen
    while run.seconds - start_s < seconds:
        run.step()
    run.close()
    return (run.trainer.images_seen - start_i) / (run.seconds - start_s)


def recovery(out_png: str) -> dict:
    run = TrainingRun(TrainConfig())
    events = []
    while run.step_count < 300:
        events += run.step()
    healthy = dict(run.trainer.hparams)
    run.set_hparams(lr_g=healthy["lr_g"] * 1000, lr_d=healthy["lr_d"] * 1000)
    while run.step_count < 1200:
        new = run.step()
        events += new
        if any(isinstance(e, GuardGaveUp) for e in new):
            break
    rollbacks = [e for e in events if isinstance(e, RolledBack)]
    classifier, _ = load_or_train("mnist")
    z = torch.randn(1000, run.config.latent_dim, generator=torch.Generator().manual_seed(5))
    labels = torch.arange(10).repeat_interleave(100)
    images = to_uint8(run.trainer.generate(z, labels), run.trainer.g.output_range)
    accuracy = float((predict(classifier, images) == labels).float().mean())
    grid_z, grid_labels = run.trainer.fixed_grid_batch(8)
    save_png(out_png, make_grid(to_uint8(run.trainer.generate(grid_z, grid_labels), "tanh").numpy(), 8), scale=3)
    run.close()
    return {"rollbacks": [{"from": e.from_step, "to": e.to_step, "reason": e.reason, "lr_g": e.lr_g} for e in rollbacks],
            "gave_up": any(isinstance(e, GuardGaveUp) for e in events), "final_step": run.step_count,
            "accuracy_after": round(accuracy, 3), "lr_after": run.trainer.hparams["lr_g"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--grid", default="docs/screenshots/guard-recovery-grid.png")
    args = parser.parse_args()
    torch.set_num_threads(2)
    on, off = [], []
    for _ in range(args.rounds):
        off.append(images_per_second(False, args.seconds))
        on.append(images_per_second(True, args.seconds))
    overhead = 1 - sum(on) / sum(off)
    print(json.dumps({"guard_off_images_s": round(sum(off) / len(off), 1), "guard_on_images_s": round(sum(on) / len(on), 1),
                      "overhead": round(overhead, 4)}), flush=True)
    print(json.dumps(recovery(args.grid)), flush=True)


if __name__ == "__main__":
    main()
