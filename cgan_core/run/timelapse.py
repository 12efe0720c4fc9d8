"""A run's timelapse: the fixed-noise sample grid saved as a PNG every `sample_every` steps, so
"the same z across checkpoints" can be scrubbed and exported as a GIF after (or during) training."""
from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
from PIL import Image

from cgan_core.errors import CganError
from cgan_core.output.safe_files import atomic_write_bytes, make_folder, read_bytes
from cgan_core.output.safe_files import names as names_in
from cgan_core.run import layout

FOLDER = layout.GRIDS
_NAME = re.compile(r"step-(\d{9})\.png")
MAX_GRID_BYTES = 64 * 1024 * 1024  # a grid is a few kB; a PNG is never read whole past this


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


def grid_steps(run_dir: Path) -> list[int]:
    """The steps of the saved grids, in order: names the run did not write are ignored, and grids/ is read
    through its descriptor (a grids/ that is a link is refused)."""
    names = names_in(Path(run_dir) / FOLDER, Path(run_dir))
    return sorted(int(m.group(1)) for name in names if (m := _NAME.fullmatch(name)))


def grids_after(run_dir: Path, step: int) -> list[Path]:
    """The grids of the stretch past `step` (a rollback or an older checkpoint resumed abandons them)."""
    return [grid_path(run_dir, s) for s in grid_steps(run_dir) if s > step]


def read_grid(run_dir: Path, step: int) -> np.ndarray | None:
    """A grid as uint8 (H, W, C); None when it is unreadable, a link, or a PNG that would decode to gigabytes."""
    try:
        data = read_bytes(grid_path(run_dir, step), Path(run_dir), limit=MAX_GRID_BYTES)
        if data is None or len(data) > MAX_GRID_BYTES:
            return None
        with Image.open(io.BytesIO(data)) as image:
            array = np.asarray(image.convert("L" if image.mode in ("L", "P", "1") else "RGB"))
    except (OSError, CganError, Image.DecompressionBombError):
        return None
    return array[:, :, None] if array.ndim == 2 else array


def newest_grid(run_dir: Path, after: int = -1) -> tuple[int, np.ndarray] | None:
    """The newest saved grid, if it is newer than step `after` (a live run being followed)."""
    for step in reversed(grid_steps(run_dir)):
        if step <= after:
            return None
        array = read_grid(run_dir, step)
        if array is not None:
            return step, array
    return None


def load_timelapse(run_dir: Path) -> list[tuple[int, np.ndarray]]:
    """(step, uint8 (H, W, C)) in step order; unreadable files are skipped. All frames share the
    size of the first (a grid of another size, e.g. after a change of N per class, is left out)."""
    frames = []
    for step in grid_steps(run_dir):
        array = read_grid(run_dir, step)
        if array is None:
            continue
        if frames and array.shape != frames[0][1].shape:
            continue
        frames.append((step, array))
    return frames
