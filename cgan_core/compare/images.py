"""Runs compared by what they draw: each run's fixed-noise grid at a matching step (or training time), side by
side in one labelled picture, or through training in a GIF whose frames step every run together; or every
run's generator drawn on one shared noise, so the columns differ only by the model.

Everything is read through the run folder's reader (grids, metrics, generators); nothing is written into the
runs compared. A run without what is asked (no grid yet, a damaged generator) is named in one line.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from cgan_core.errors import CganError, ConfigError, DataError
from cgan_core.output.checkpoint import load_generator
from cgan_core.run.folder_reader import draw_grid, generator_path, is_run, read_metrics, split_branches
from cgan_core.run.quality_file import load_reports
from cgan_core.run.timelapse import grid_steps, read_grid

MAX_RUNS = 6
LABEL_HEIGHT = 28  # two lines of PIL's default font above each column
GAP = 8


@dataclass(frozen=True)
class Column:
    """One run's picture at the moment compared, with what its label says."""

    name: str
    image: np.ndarray  # uint8 (H, W, C)
    caption: str


def expand(folders: list[Path]) -> list[Path]:
    """The runs given: a run folder as itself; a folder of runs (a sweep, a fork's variants/step-N) as its runs
    in name order. At most MAX_RUNS, at least 2."""
    runs: list[Path] = []
    for folder in map(Path, folders):
        if is_run(folder):
            runs.append(folder)
        elif folder.is_dir():
            runs += sorted(p for p in folder.iterdir() if p.is_dir() and is_run(p))
        else:
            raise ConfigError(f"{folder}: no such run folder")
    if not 2 <= len(runs) <= MAX_RUNS:
        raise ConfigError(f"compare: {len(runs)} runs given; compare 2 to {MAX_RUNS}")
    return runs


@dataclass(frozen=True)
class RunRecord:
    """What a comparison reads of one run, once: its grids' steps, its live line's training time by step, and
    its live quality reports. A slider or a GIF's frames then read only the grid PNGs they show."""

    run_dir: Path
    grid_steps: tuple[int, ...]
    steps: np.ndarray  # the live line's steps, increasing
    seconds: np.ndarray  # the training time at each
    reports: tuple = ()

    @property
    def seconds_trained(self) -> float:
        return float(self.seconds[-1]) if len(self.seconds) else 0.0

    def step_at_seconds(self, seconds: float) -> int:
        """The last step the run had reached after `seconds` of training."""
        reached = self.steps[self.seconds <= seconds]
        return int(reached[-1]) if len(reached) else 0

    def nearest_grid(self, step: int) -> int:
        """The step of the newest grid at or before `step` (the first, when all come later)."""
        if not self.grid_steps:
            raise CganError(f"{self.run_dir}: no sample grids in its grids/ folder")
        return self.grid_steps[max(0, bisect.bisect_right(self.grid_steps, step) - 1)]

    def caption(self, step: int) -> str:
        """"step S, m:ss, acc A%": the grid's step, the training time then and the live quality measured
        last by then, where the run measured it."""
        parts = [f"step {step}"]
        if len(self.steps):
            parts.append(_clock(float(np.interp(step, self.steps, self.seconds))))
        measured = [r for r in self.reports if r.step <= step]
        if measured:
            parts.append(f"acc {measured[-1].accuracy:.0%}")
        return ", ".join(parts)


def read_record(run: Path) -> RunRecord:
    """The run's record; one with no metrics.csv yet has no training times (its grids still compare)."""
    try:
        steps, columns = read_metrics(run, (), ("seconds",))
    except DataError:
        steps, columns = np.zeros(0, np.int64), {"seconds": np.zeros(0)}
    live, _ = split_branches(steps)
    return RunRecord(run, tuple(grid_steps(run)), steps[live], columns["seconds"][live], tuple(load_reports(run)))


def common_step(records: list[RunRecord]) -> int:
    """The last step that every run reached a grid at: where a comparison opens."""
    return min(max(r.grid_steps, default=0) for r in records)


def recorded_columns(records: list[RunRecord], step: int | None = None, seconds: float | None = None) -> list[Column]:
    """Each run's recorded grid nearest the step asked (or the step it had reached after `seconds`; with
    neither, the last step every run reached)."""
    at = common_step(records) if step is None and seconds is None else step
    columns = []
    for record in records:
        shown = record.nearest_grid(record.step_at_seconds(seconds) if seconds is not None else at)
        image = read_grid(record.run_dir, shown)
        if image is None:
            raise CganError(f"{record.run_dir}: its grid of step {shown} cannot be read")
        columns.append(Column(record.run_dir.name, image, record.caption(shown)))
    return columns


def same_noise_columns(runs: list[Path], best: bool = False, per_class: int = 8, seed: int = 0) -> list[Column]:
    """Every run's generator (or best) drawn on one z and the same labels. Generators of other latent sizes,
    classes or image sizes cannot share a noise: refused in one line naming them."""
    loaded = {run: load_generator(generator_path(run / "best" if best else run), run) for run in runs}
    kinds = {run: (g.latent_dim, g.num_classes, tuple(g.image_shape)) for run, (g, _) in loaded.items()}
    if len(set(kinds.values())) > 1:
        listed = ", ".join(f"{run.name} (latent {k[0]}, {k[1]} classes, {k[2][1]}x{k[2][2]} px)" for run, k in kinds.items())
        raise ConfigError(f"compare --same-noise: the generators cannot share a noise: {listed}")
    grids = {run: draw_grid(g, info, per_class, seed) for run, (g, info) in loaded.items()}
    return [Column(run.name, grid.image, f"{'best' if best else 'last'}, step {grid.step}") for run, grid in grids.items()]


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds < 3600 else f"{seconds // 3600}:{seconds // 60 % 60:02d} h"


def natural_width(columns: list[Column]) -> int:
    """compose()'s width at scale 1 without the gaps: what each whole zoom multiplies."""
    return sum(c.image.shape[1] for c in columns)


def compose(columns: list[Column], scale: int = 2) -> np.ndarray:
    """The columns side by side, each under its run's name and caption, on one canvas (uint8 RGB); its width
    is scale * natural_width(columns) + GAP * (len(columns) + 1)."""
    images = [np.repeat(c.image, 3, axis=2) if c.image.shape[2] == 1 else c.image for c in columns]
    images = [im.repeat(scale, 0).repeat(scale, 1) for im in images]
    width = sum(im.shape[1] for im in images) + GAP * (len(images) + 1)
    height = max(im.shape[0] for im in images) + LABEL_HEIGHT + 2 * GAP
    canvas = Image.new("RGB", (width, height), (24, 26, 30))
    draw = ImageDraw.Draw(canvas)
    x = GAP
    for column, image in zip(columns, images):
        draw.text((x, GAP // 2), column.name[: image.shape[1] // 6], fill=(230, 230, 230))
        draw.text((x, GAP // 2 + 13), column.caption, fill=(160, 170, 180))
        canvas.paste(Image.fromarray(image), (x, LABEL_HEIGHT + GAP))
        x += image.shape[1] + GAP
    return np.asarray(canvas)


def timeline_frames(records: list[RunRecord], frames: int = 40) -> np.ndarray:
    """A GIF's frames (T, H, W, 3): every run stepping together through its recorded grids, up to the last
    step all reached, each frame labelled with each run's step."""
    end = common_step(records)
    first = max(min(r.grid_steps, default=0) for r in records)
    marks = sorted({int(s) for s in np.linspace(first, end, num=max(1, frames))})
    pictures = [compose(recorded_columns(records, step=mark)) for mark in marks]
    height, width = max(p.shape[0] for p in pictures), max(p.shape[1] for p in pictures)
    out = np.full((len(pictures), height, width, 3), 24, np.uint8)
    for i, picture in enumerate(pictures):  # a grid that changed size (N a class changed) keeps the frame's size
        out[i, : picture.shape[0], : picture.shape[1]] = picture
    return out
