"""A run's timelapse: the fixed-noise sample grid saved as a PNG every `sample_every` steps, so
"the same z across checkpoints" can be scrubbed and exported as a GIF after (or during) training."""
from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
from PIL import Image

from cgan_core.output.safe_files import atomic_write_bytes, make_folder

FOLDER = "grids"
_NAME = re.compile(r"step-(\d{9})\.png$")


def grid_path(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / FOLDER / f"step-{step:09d}.png"


def save_grid_image(run_dir: Path, step: int, image: np.ndarray) -> Path:
    """uint8 (H, W, C) at its native size (a few kB), written atomically."""
    path = grid_path(run_dir, step)
    make_folder(path.parent, Path(run_dir), exist_ok=True)  # never through a link inside the run folder
    buffer = io.BytesIO()
    Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image).save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue(), Path(run_dir))
    return path


def grids_after(run_dir: Path, step: int) -> list[Path]:
    """The grids of the stretch past `step` (a rollback or an older checkpoint resumed abandons them)."""
    return [p for p in (Path(run_dir) / FOLDER).glob("step-*.png") if (m := _NAME.search(p.name)) and int(m.group(1)) > step]


def _read(path: Path) -> np.ndarray | None:
    try:
        with Image.open(path) as image:
            array = np.asarray(image.convert("L" if image.mode in ("L", "P", "1") else "RGB"))
    except (OSError, Image.DecompressionBombError):  # unreadable, or a PNG that would decode to gigabytes
        return None
    return array[:, :, None] if array.ndim == 2 else array


def newest_grid(run_dir: Path, after: int = -1) -> tuple[int, np.ndarray] | None:
    """The newest saved grid, if it is newer than step `after` (a live run being followed)."""
    steps = sorted(int(m.group(1)) for p in (Path(run_dir) / FOLDER).glob("step-*.png") if (m := _NAME.search(p.name)))
    for step in reversed(steps):
        if step <= after:
            return None
        array = _read(grid_path(run_dir, step))
        if array is not None:
            return step, array
    return None


def load_timelapse(run_dir: Path) -> list[tuple[int, np.ndarray]]:
    """(step, uint8 (H, W, C)) in step order; unreadable files are skipped. All frames share the
    size of the first (a grid of another size, e.g. after a change of N per class, is left out)."""
    frames = []
    for path in sorted((Path(run_dir) / FOLDER).glob("step-*.png")):
        match = _NAME.search(path.name)
        if not match:
            continue
        array = _read(path)
        if array is None:
            continue
        if frames and array.shape != frames[0][1].shape:
            continue
        frames.append((int(match.group(1)), array))
    return frames
