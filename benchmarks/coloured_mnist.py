"""Coloured MNIST as a folder of RGB images at 32, 64 or 128 px (issue 27): each image is an MNIST digit in a
random bright colour, at a random scale and place, on a random dark background with a little noise. An
MNIST classifier can still read the class of an image of it (`as_mnist`: greyscale, contrast-normalised,
downsampled to 28 px), so generated samples are scored by a network that never saw the colours.

    .venv/bin/python -m benchmarks.coloured_mnist --size 64 --per-class 600 --out /tmp/coloured64
    .venv/bin/python -m benchmarks.coloured_mnist --size 64 --per-class 300 --out /tmp/coloured64-small
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from cgan_core.data import load_mnist


def coloured(digits: torch.Tensor, size: int, seed: int) -> np.ndarray:
    """uint8 (N, size, size, 3): each 28 px digit scaled to 50-90% of the side, placed at random, coloured."""
    rng = np.random.default_rng(seed)
    out = np.empty((len(digits), size, size, 3), np.uint8)
    for i, digit in enumerate(digits):
        side = int(size * rng.uniform(0.5, 0.9))
        mask = F.interpolate(digit[None, None].float() / 255, size=(side, side), mode="bilinear",
                             align_corners=False)[0, 0].numpy()
        top, left = rng.integers(0, size - side + 1, 2)
        background = rng.uniform(0, 90, 3)  # dark
        ink = rng.uniform(120, 255, 3)  # bright
        canvas = np.broadcast_to(background, (size, size, 3)).copy()
        region = canvas[top:top + side, left:left + side]
        canvas[top:top + side, left:left + side] = region * (1 - mask[..., None]) + ink * mask[..., None]
        canvas += rng.normal(0, 6, canvas.shape)
        out[i] = np.clip(canvas, 0, 255).astype(np.uint8)
    return out


def as_mnist(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, H, W) coloured digits -> uint8 (N, 1, 28, 28) as MNIST draws them: greyscale, each image
    stretched so its background is 0 and its ink 255 (the digit is the brighter part: ink is brighter than
    every background here), then downsampled."""
    grey = images.float().mean(1, keepdim=True)
    low = grey.flatten(1).quantile(0.5, dim=1).view(-1, 1, 1, 1)  # the background: most of the image
    high = grey.flatten(1).amax(1).view(-1, 1, 1, 1)
    stretched = ((grey - low) / (high - low).clamp_min(1.0)).clamp(0, 1)
    small = F.interpolate(stretched, size=(28, 28), mode="area")
    return (small * 255).round().to(torch.uint8)


def write_folder(out: Path, size: int, per_class: int, seed: int = 0) -> Path:
    mnist = load_mnist("train")
    gen = torch.Generator().manual_seed(seed)
    for c in range(10):
        picks = torch.nonzero(mnist.labels == c).flatten()
        picks = picks[torch.randperm(len(picks), generator=gen)[:per_class]]
        folder = out / str(c)
        folder.mkdir(parents=True, exist_ok=True)
        for j, image in enumerate(coloured(mnist.images[picks, 0], size, seed * 10 + c)):
            Image.fromarray(image).save(folder / f"{j:05d}.png")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--per-class", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    print(write_folder(args.out, args.size, args.per_class, args.seed))


if __name__ == "__main__":
    main()
