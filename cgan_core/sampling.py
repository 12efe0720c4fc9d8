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
