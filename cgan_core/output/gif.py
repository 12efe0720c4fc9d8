"""Animated GIFs with exactly the frames asked for.

Pillow's GIF writer merges a frame identical to the one before it into a longer frame, so a
50-frame interpolation whose ends saturate could come out with 47 frames. The frames are written
one by one through Pillow's frame encoder instead, all with one palette.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import GifImagePlugin, Image

from cgan_core.errors import ConfigError
from cgan_core.output.checkpoint import atomic_write_bytes

MAX_FPS, MAX_SCALE = 100.0, 32


def _grey_palette() -> list[int]:
    return [v for i in range(256) for v in (i, i, i)]


def _to_palette_images(frames: np.ndarray) -> list[Image.Image]:
    """uint8 (T, H, W, C) -> 'P' images sharing one palette (a grey ramp, or one adaptive RGB palette)."""
    if frames.shape[3] == 1:
        images = []
        for frame in frames:
            image = Image.frombytes("P", (frame.shape[1], frame.shape[0]), np.ascontiguousarray(frame[:, :, 0]).tobytes())
            image.putpalette(_grey_palette())
            images.append(image)
        return images
    stride = max(1, len(frames) // 16)  # the palette learns from a sample of the frames
    palette = Image.fromarray(np.concatenate(list(frames[::stride]), axis=0)).quantize(256, dither=Image.Dither.NONE)
    return [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]


def encode_gif(frames: np.ndarray, fps: float = 10.0, scale: int = 1, loop: int = 0) -> bytes:
    """uint8 frames (T, H, W, C) with C in (1, 3) -> the bytes of a looping GIF of exactly T frames."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[3] not in (1, 3) or frames.dtype != np.uint8 or len(frames) == 0:
        raise ConfigError(f"GIF frames must be uint8 (T, H, W, 1 or 3), got {frames.dtype} {frames.shape}")
    if not 0 < fps <= MAX_FPS:
        raise ConfigError(f"GIF frame rate must be in (0, {MAX_FPS:g}], got {fps}")
    if not (isinstance(scale, int) and 1 <= scale <= MAX_SCALE):
        raise ConfigError(f"GIF scale must be an integer in 1..{MAX_SCALE}, got {scale}")
    if scale > 1:  # nearest neighbour: pixels stay crisp
        frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    duration = max(20, int(round(1000.0 / fps)))  # GIF counts centiseconds; most viewers floor at 20 ms
    images = _to_palette_images(frames)
    header, _ = GifImagePlugin.getheader(images[0], info={"loop": loop, "duration": duration, "optimize": False})
    chunks = list(header)
    for image in images:
        chunks += GifImagePlugin.getdata(image, duration=duration, disposal=1)
    chunks.append(b";")  # the GIF trailer
    return b"".join(chunks)


def save_gif(path: Path, frames: np.ndarray, fps: float = 10.0, scale: int = 1) -> Path:
    path = Path(path)
    atomic_write_bytes(path, encode_gif(frames, fps, scale))
    return path
