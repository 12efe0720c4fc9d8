"""Own images at their own size (issue 27), on coloured MNIST (coloured_mnist.py): for each size, each preset's
img/s on this machine (two torch threads, alone), and after --minutes of training on one core each (the two
presets side by side) the samples' conditional accuracy as an MNIST classifier reads them (`as_mnist`: a
network that never saw the colours), the Fréchet distance to the real images in the folder's own domain
classifier beside its floor (`evaluate`), and a grid to look at. Then, on a 300-image-a-class subset at 64 px,
resnet-projection with its adaptive augmentation against DiffAugment always on. Run it alone:

    .venv/bin/python -m benchmarks.bench_own_size --minutes 10 --sizes 32,64,128 --out /tmp/own-size
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from PIL import Image

from benchmarks.bench_fork_case import run
from benchmarks.coloured_mnist import as_mnist, write_folder
from benchmarks.pairs import train_side_by_side
from cgan_core.data import load_mnist
from cgan_core.output.checkpoint import load_generator
from cgan_core.output.classifier import load_or_train_on, predict
from cgan_core.output.sampling import to_uint8
from cgan_core.run.folder_reader import generator_path, last_step, read_metrics
from cgan_core.step.config import TrainConfig
from cgan_core.step.trainer import Trainer

PRESETS = ("resnet-projection", "studio-fast")


def images_per_second(preset: str, folder: Path, steps: int = 20) -> float:
    trainer = Trainer(TrainConfig(preset=preset, dataset=str(folder), device="cpu"))
    for _ in range(3):  # warm-up: the first steps allocate
        trainer.step()
    start = time.perf_counter()
    for _ in range(steps):
        trainer.step()
    return trainer.config.batch_size * steps / (time.perf_counter() - start)


def samples(generator: Path, per_class: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g, info = load_generator(generator)
    labels = torch.arange(g.num_classes).repeat_interleave(per_class)
    z = torch.randn(len(labels), g.latent_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return to_uint8(g.eval()(z, labels).float(), info["output_range"]), labels


def mnist_accuracy(generator: Path, classifier) -> float:
    """The share of samples an MNIST classifier reads as the class they were asked for."""
    images, labels = samples(generator, 100)
    return float((predict(classifier, as_mnist(images)) == labels).float().mean())


def save_grid(generator: Path, path: Path) -> None:
    images, _ = samples(generator, 8, seed=1)
    n, c, h, w = images.shape
    rows = images.view(10, 8, c, h, w).permute(0, 3, 1, 4, 2).reshape(10 * h, 8 * w, c).numpy()
    Image.fromarray(rows if c == 3 else rows[..., 0]).save(path)


def quality(run_dir: Path, classifier) -> dict:
    generator = generator_path(run_dir)
    figures = json.loads(run("evaluate", generator, "--per-class", 100, "--draws", 1, "--figures", "classifier")
                         .strip().splitlines()[-1])
    save_grid(generator, run_dir.with_suffix(".png"))
    steps = last_step(run_dir)
    return {"steps": steps, "mnist accuracy": mnist_accuracy(generator, classifier),
            "folder-classifier accuracy": figures["accuracy"], "FD/floor": figures["frechet_vs_floor"]}


def figure(value: float | None) -> str:
    """A ratio to two places, or a dash where evaluate had none (a classifier at chance has no floor)."""
    return "-" if value is None else f"{value:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--sizes", default="32,64,128")
    parser.add_argument("--per-class", type=int, default=600)
    parser.add_argument("--out", type=Path, default=Path("/tmp/own-size"))
    parser.add_argument("--no-small", action="store_true", help="leave out the 300-a-class augmentation comparison")
    args = parser.parse_args()
    mnist = load_mnist("train")
    classifier, _ = load_or_train_on(mnist, load_mnist("test"))
    print("| size | preset | img/s (2 threads) | steps in the minutes | accuracy (MNIST classifier) | "
          "accuracy (folder's classifier) | FD/floor |\n|---|---|---|---|---|---|---|", flush=True)
    for size in [int(side) for side in args.sizes.split(",") if side]:  # --sizes "" runs the small-data part only
        folder = args.out / f"coloured{size}"
        if not folder.is_dir():
            write_folder(folder, size, args.per_class)
        speed = {p: images_per_second(p, folder) for p in PRESETS}
        dirs = train_side_by_side({f"{p}-{size}": ["--preset", p, "--dataset", folder, "--max-seconds", args.minutes * 60]
                                   for p in PRESETS}, args.out / "runs")
        for preset in PRESETS:
            q = quality(dirs[f"{preset}-{size}"], classifier)
            print(f"| {size} | {preset} | {speed[preset]:.0f} | {q['steps']} | {q['mnist accuracy']:.1%} | "
                  f"{q['folder-classifier accuracy']:.1%} | {figure(q['FD/floor'])} |", flush=True)
    if args.no_small:
        return
    small = args.out / "coloured64-small"
    if not small.is_dir():
        write_folder(small, 64, 300)
    dirs = train_side_by_side({f"small-{name}": ["--preset", "resnet-projection", "--dataset", small, "--augment", policy,
                                                 "--max-seconds", args.minutes * 60]
                               for name, policy in (("adaptive", "adaptive"), ("always", "color,translation,cutout"))},
                              args.out / "runs")
    print("\n| 300 a class, 64 px, resnet-projection, augmentation | steps | accuracy (MNIST classifier) | FD/floor | "
          "r_t over the last 100 steps | its p at the end |\n|---|---|---|---|---|---|")
    for name, run_dir in dirs.items():
        q = quality(run_dir, classifier)
        _, columns = read_metrics(run_dir, ("r_t", "aug_p"), ())
        r_t = float(columns["r_t"][-100:].mean())
        print(f"| {name} | {q['steps']} | {q['mnist accuracy']:.1%} | {figure(q['FD/floor'])} | {r_t:.2f} | "
              f"{float(columns['aug_p'][-1]):.2f} |", flush=True)
    print(json.dumps({"sizes": args.sizes, "minutes": args.minutes, "grids": str(args.out / "runs")}))


if __name__ == "__main__":
    main()
