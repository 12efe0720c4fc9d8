"""studio-fast on the GPU against the same networks in a plain PyTorch loop, as a ratio of images a second
measured in one process (benchmarks/gpu_check.sh runs it on the device tool's machine).

    python -m benchmarks.bench_gpu [--seconds 15] [--batch-size 64]

The reference is pytorch/examples' dcgan loop, as plain as it gets: MNIST on the GPU as one tensor, a random
batch a step, D on real and detached fakes, then G; Adam with the preset's rates; fp32; no EMA, no mode
seeking, no statistics. The engine's figure includes everything a run does in a step (EMA, mode seeking,
autocast where the preset asks for it, its statistics kept on the device)."""
from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

from cgan_core.data import load_mnist
from cgan_core.step.config import TrainConfig
from cgan_core.step.presets import get_preset
from cgan_core.step.trainer import Trainer


def images_per_second(step, batch: int, seconds: float, warmup: int = 20) -> float:
    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(10):  # synchronise once every 10 steps, not each
            step()
        steps += 10
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - start)


def plain_loop(images: torch.Tensor, labels: torch.Tensor, batch: int):
    preset = get_preset("studio-fast")
    g, d = (net.cuda() for net in preset.build(10, (1, 28, 28), preset.latent_dim))
    opt_g = torch.optim.Adam(g.parameters(), lr=preset.lr_g, betas=(preset.beta1, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=preset.lr_d, betas=(preset.beta1, 0.999))
    real_target, fake_target = torch.ones(batch, device="cuda"), torch.zeros(batch, device="cuda")

    def step() -> None:
        pick = torch.randint(0, len(images), (batch,), device="cuda")
        real, y = images[pick], labels[pick]
        z = torch.randn(batch, preset.latent_dim, device="cuda")
        y_fake = torch.randint(0, 10, (batch,), device="cuda")
        fake = g(z, y_fake)
        loss_d = F.binary_cross_entropy_with_logits(d(real, y), real_target) + \
            F.binary_cross_entropy_with_logits(d(fake.detach(), y_fake), fake_target)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        loss_g = F.binary_cross_entropy_with_logits(d(fake, y_fake), real_target)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
    return step


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench_gpu: CUDA is not available")
    train = load_mnist("train")
    images = (train.images.float().cuda() / 127.5 - 1)
    labels = train.labels.cuda()
    trainer = Trainer(TrainConfig(preset="studio-fast", device="cuda", batch_size=args.batch_size), train)
    results = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "batch_size": args.batch_size,
               "precision": "bf16" if trainer.low_precision else "fp32"}
    results["engine_images_s"] = round(images_per_second(trainer.step, args.batch_size, args.seconds), 1)
    results["plain_loop_images_s"] = round(images_per_second(plain_loop(images, labels, args.batch_size),
                                                             args.batch_size, args.seconds), 1)
    results["ratio"] = round(results["engine_images_s"] / results["plain_loop_images_s"], 2)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
