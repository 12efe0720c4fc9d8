"""A small labelled image folder for the README's "your own data" screenshot: coloured shapes on
random backgrounds, one subfolder per class, 48 px RGB PNGs.

    python docs/make_shapes.py OUT_FOLDER [per_class]
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def shape(draw: ImageDraw.ImageDraw, kind: str, rng: np.random.Generator, colour: tuple) -> None:
    cx, cy, r = rng.integers(16, 32), rng.integers(16, 32), rng.integers(9, 15)
    if kind == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    elif kind == "square":
        draw.rectangle((cx - r, cy - r, cx + r, cy + r), fill=colour)
    elif kind == "triangle":
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
    else:  # cross
        draw.rectangle((cx - r, cy - 3, cx + r, cy + 3), fill=colour)
        draw.rectangle((cx - 3, cy - r, cx + 3, cy + r), fill=colour)


def main() -> None:
    out, per_class = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 600
    rng = np.random.default_rng(0)
    for kind in ("circle", "square", "triangle", "cross"):
        (out / kind).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            background = tuple(int(v) for v in rng.integers(0, 90, 3))
            colour = tuple(int(v) for v in rng.integers(120, 256, 3))
            image = Image.new("RGB", (48, 48), background)
            shape(ImageDraw.Draw(image), kind, rng, colour)
            image.save(out / kind / f"{i:04d}.png")


if __name__ == "__main__":
    main()
