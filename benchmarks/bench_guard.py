"""Guard overhead and recovery, in one process:

    .venv/bin/python -m benchmarks.bench_guard [--seconds 10] [--rounds 3]

1. Overhead: studio-fast's TrainingRun with the guard on and off, alternating, images/s.
2. Recovery: at step 300 both learning rates are multiplied by 1000; the run goes on to step 1200
   with the default guard; the domain classifier then scores the samples. Twice: in one run, and in a
   run resumed at step 300 with --lr-g/--lr-d x1000 (the guard goes back to the resumed state).
3. The best generator: studio-fast with live quality every 100 steps to step 800, then lr x1000 with
   the guard off, so its quality collapses; `RUN/best` must still be the best generator measured.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from cgan_core.output.classifier import load_or_train, predict
from cgan_core.output.sampling import make_grid, save_png, to_uint8
from cgan_core.run.events import GuardGaveUp, RolledBack
from cgan_core.run.training_run import TrainingRun
from cgan_core.step.config import TrainConfig


def images_per_second(guard_on: bool, seconds: float) -> float:
    run = TrainingRun(TrainConfig(), guard={"enabled": guard_on})
    for _ in range(20):
        run.step()
    start_s, start_i = run.seconds, run.trainer.images_seen
    while run.seconds - start_s < seconds:
        run.step()
    run.close()
    return (run.trainer.images_seen - start_i) / (run.seconds - start_s)


def recovery(out_png: str, resumed: bool, out: Path) -> dict:
    run = TrainingRun(TrainConfig(), out=out)
    events = []
    while run.step_count < 300:
        events += run.step()
    healthy = dict(run.trainer.hparams)
    wild = {"lr_g": healthy["lr_g"] * 1000, "lr_d": healthy["lr_d"] * 1000}
    if resumed:  # as `train --resume RUN --lr-g X --lr-d Y` does
        run.save_checkpoint()
        run.close()
        run = TrainingRun(TrainConfig(), resume=out, overrides={**wild, "steps": 1200})
    else:
        run.set_hparams(**wild)
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
    grid_z, grid_labels = run.trainer.inputs.fixed_grid_batch(8)
    save_png(out_png, make_grid(to_uint8(run.trainer.generate(grid_z, grid_labels), "tanh").numpy(), 8), scale=3)
    run.close()
    return {"case": "after a resume" if resumed else "in one run",
            "rollbacks": [{"from": e.from_step, "to": e.to_step, "reason": e.reason, "lr_g": e.lr_g} for e in rollbacks],
            "gave_up": any(isinstance(e, GuardGaveUp) for e in events), "final_step": run.step_count,
            "accuracy_after": round(accuracy, 3), "lr_after": run.trainer.hparams["lr_g"]}


def best_generator(out: Path) -> dict:
    """A run whose quality peaks and then collapses: RUN/best keeps the peak."""
    from cgan_core.data import load_dataset
    from cgan_core.output.checkpoint import load_generator
    from cgan_core.output.evaluate import evaluate_generator
    from cgan_core.output.quality import prepare_live_quality
    from cgan_core.run.folder_reader import generator_path
    from cgan_core.run.quality_file import load_reports

    run = TrainingRun(TrainConfig(), out=out, guard={"enabled": False})
    run.enable_quality(prepare_live_quality(run.dataset, load_dataset("mnist", "test")), every=100)
    while run.step_count < 800:
        run.step()
    hp = run.trainer.hparams
    run.set_hparams(lr_g=hp["lr_g"] * 1000, lr_d=hp["lr_d"] * 1000)  # guard off: nothing saves it
    while run.step_count < 1000:
        run.step()
    run.finish("stopped")
    run.close()
    reports = load_reports(out)
    scores = {}
    for name in ("best", None):
        g, info = load_generator(generator_path(out / name if name else out))
        scores[name or "last"] = evaluate_generator(g, info, per_class=100, seed=0)["accuracy"]
    _, info = load_generator(generator_path(out / "best"))
    return {"measured": [(r.step, round(r.accuracy, 3), round(r.frechet, 2)) for r in reports],
            "best_step": int(info["step"]), "best_accuracy_meta": float(info["accuracy"]),
            "evaluate_best": scores["best"], "evaluate_last": scores["last"]}


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
    work = Path(tempfile.mkdtemp(prefix="bench-guard-"))
    print(json.dumps(recovery(args.grid, False, work / "fresh")), flush=True)
    print(json.dumps(recovery(args.grid.replace(".png", "-resumed.png"), True, work / "resumed")), flush=True)
    print(json.dumps(best_generator(work / "best")), flush=True)


if __name__ == "__main__":
    main()
