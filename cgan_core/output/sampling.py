"""From generator outputs to pictures: uint8 conversion and grids."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image


def to_uint8(images: torch.Tensor, output_range: str) -> torch.Tensor:
    """Generator output ([-1, 1] for tanh, [0, 1] for sigmoid) -> uint8 (N, C, H, W), 0 = background."""
    x = (images + 1.0) * 127.5 if output_range == "tanh" else images * 255.0
    return x.round().clamp_(0, 255).to(torch.uint8)


def make_grid(images: np.ndarray, columns: int, padding: int = 2, pad_value: int = 40) -> np.ndarray:
    """uint8 (N, C, H, W) -> one uint8 (H', W', C) picture, `columns` images a row."""
    n, c, h, w = images.shape
    rows = -(-n // columns)
    grid = np.full((rows * (h + padding) + padding, columns * (w + padding) + padding, c), pad_value, np.uint8)
    for i in range(n):
        r, col = divmod(i, columns)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[top : top + h, left : left + w] = images[i].transpose(1, 2, 0)
    return grid


def save_png(path, image: np.ndarray, scale: int = 1) -> None:
    """Write a uint8 (H, W, C) picture; `scale` enlarges with nearest-neighbour so pixels stay crisp."""
    pil = Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image)
    if scale > 1:
        pil = pil.resize((pil.width * scale, pil.height * scale), Image.NEAREST)
    pil.save(path)


def class_grid(images: np.ndarray, per_class: int, class_names: list[str], classes_in_columns: bool = False,
               labels: bool = True, padding: int = 2) -> np.ndarray:
    """uint8 (K * per_class, C, H, W), class-major (as `latent.across_classes` renders) -> one picture,
    a row per class (or, seed 004's layout, a column per class), optionally with the class names
    along the left (or top) edge."""
    k = len(class_names)
    if classes_in_columns:  # row i: the i-th z in every class
        order = np.arange(k * per_class).reshape(k, per_class).T.reshape(-1)
        grid = make_grid(images[order], k, padding)
    else:
        grid = make_grid(images, per_class, padding)
    if not labels:
        return grid
    from PIL import ImageDraw

    cell = images.shape[2] + padding
    margin = 8 + 7 * max(len(str(n)) for n in class_names)
    h, w, c = grid.shape
    left, top = (0, margin // 2 + 8) if classes_in_columns else (margin, 0)
    canvas = Image.new("L" if c == 1 else "RGB", (w + left, h + top), 40)
    canvas.paste(Image.fromarray(grid[:, :, 0] if c == 1 else grid), (left, top))
    draw = ImageDraw.Draw(canvas)
    fill = 230 if c == 1 else (230, 230, 230)
    for i, name in enumerate(class_names):
        if classes_in_columns:
            draw.text((padding + i * cell + 2, 2), str(name)[: max(1, cell // 6)], fill=fill)
        else:
            draw.text((4, padding + i * cell + cell // 2 - 6), str(name), fill=fill)
    array = np.asarray(canvas)
    return array[:, :, None] if array.ndim == 2 else array
