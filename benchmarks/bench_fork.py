"""What a fork's variants cost against the run alone: images per second per variant, interleaved in turns
(the way `cgan-studio branch` runs them), against one Trainer stepping on its own, measured in one process
in alternating segments (so the host's drift falls on both alike). On one core K variants share it, so each
trains at 1/K of the run alone at best; all_variants_over_alone is that efficiency.

    .venv/bin/python -m benchmarks.bench_fork [--preset studio-fast] [--variants 3] [--seconds 20] [--rounds 3]
"""
from __future__ import annotations

import argparse
import copy
import json
import time

import torch

from cgan_core.data import load_mnist
from cgan_core.run.fork import CHUNK, Fork, VariantSpec
from cgan_core.step.config import TrainConfig
from cgan_core.step.trainer import Trainer


def alone(trainer: Trainer, seconds: float) -> float:
    images, start = trainer.images_seen, time.perf_counter()
    while time.perf_counter() - start < seconds:
        trainer.step()
    return (trainer.images_seen - images) / (time.perf_counter() - start)


def forked(fork: Fork, seconds: float) -> float:
    """Images per second of each variant (all variants' images over the wall time, divided by their number)."""
    images, start = sum(v.trainer.images_seen for v in fork.variants), time.perf_counter()
    while time.perf_counter() - start < seconds:
        fork.advance(CHUNK)
    total = sum(v.trainer.images_seen for v in fork.variants) - images
    return total / (time.perf_counter() - start) / len(fork.variants)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="studio-fast")
    parser.add_argument("--variants", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the studio's training thread
    config, data = TrainConfig(preset=args.preset, device="cpu"), load_mnist("train")
    trainer = Trainer(config, data)
    alone(trainer, 5)  # warm-up
    specs = [VariantSpec(f"lr_d x{2.0 ** -i}", {"lr_d": trainer.hparams["lr_d"] * 2.0 ** -i} if i else {})
             for i in range(args.variants)]
    fork = Fork(config, data, copy.deepcopy(trainer.state_dict()), specs, 10**6)
    forked(fork, 5)
    rounds = []
    for _ in range(args.rounds):
        rounds.append((alone(trainer, args.seconds), forked(fork, args.seconds)))
        print(json.dumps({"alone_images_s": round(rounds[-1][0], 1), "per_variant_images_s": round(rounds[-1][1], 1)}),
              flush=True)
    single = sum(r[0] for r in rounds) / len(rounds)
    each = sum(r[1] for r in rounds) / len(rounds)
    # 1.0: the variants together train as fast as the run alone (each at 1/K of it); less is the swaps' cost.
    print(json.dumps({"preset": args.preset, "variants": args.variants, "alone_images_s": round(single, 1),
                      "per_variant_images_s": round(each, 1),
                      "all_variants_over_alone": round(each * args.variants / single, 3)}))


if __name__ == "__main__":
    main()
