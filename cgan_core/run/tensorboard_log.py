"""TensorBoard event files beside a run (RUN/tensorboard/), written from the run's own events: an option of
the run folder's writer (RunFiles.open_tensorboard: `train --tensorboard`, the studio's toggle), or
afterwards from the run directory (compare/tensorboard.py, `cgan-studio export-tensorboard RUN`).
tensorboard is an optional extra (the `tensorboard` extra of pyproject.toml, which `make venv` installs).

    tensorboard --logdir RUN/tensorboard     (or a folder of runs: each run is one TensorBoard run)

Scalars: loss/d1, loss/d2, loss/g (per step), d/real_prob and d/fake_prob, grad/d and grad/g, lr/g and
lr/d, quality/accuracy, quality/frechet and quality/frechet_floor. Images: samples (the fixed-noise
grid, one row per class, over time). Text: events (learning-rate changes, rollbacks, guard advice).
HParams: the run's settings linked to its final losses and its best quality.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from cgan_core.errors import UsageError
from cgan_core.output.quality import QualityReport
from cgan_core.output.safe_files import make_folder
from cgan_core.run import layout
from cgan_core.run.events import GuardAdvice, HParamChange, LossChunk, RolledBack, RunFinished, SampleGrid

FOLDER = layout.TENSORBOARD
SCALARS = {"d1": "loss/d1", "d2": "loss/d2", "g": "loss/g", "d_real": "d/real_prob", "d_fake": "d/fake_prob",
           "grad_d": "grad/d", "grad_g": "grad/g", "r_t": "d/overfitting_r_t",
           "aug_p": "d/augment_p"}
HPARAMS = ("preset", "dataset", "batch_size", "latent_dim", "loss", "lr_g", "lr_d", "beta1", "beta2", "d_steps",
           "label_smoothing", "seed", "precision", "world_size")


def check_available() -> None:
    """Raises UsageError, naming the package, when tensorboard is not installed (before a run starts)."""
    _writer(None)


def _writer(folder: Path | None):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UsageError("TensorBoard output needs the tensorboard package: pip install 'cgan-studio[tensorboard]' "
                         "(or pip install tensorboard)") from None
    return SummaryWriter(str(folder)) if folder is not None else None


class TensorBoardLog:
    """One run's event files. `write(event)` takes the engine's events as the loop yields them."""

    def __init__(self, run_dir: Path, config: dict) -> None:
        root = Path(run_dir).resolve()
        self.folder = root / FOLDER
        check_available()
        # SummaryWriter opens its files by path: the folder is made (or checked) first, never a link.
        make_folder(self.folder, root, exist_ok=True)
        self.writer = _writer(self.folder)
        self.config = dict(config)
        # Learning-rate changes in the order they happened: (the step after which it applies, value). The
        # losses of the steps before a change can arrive after it (they are flushed by the change).
        self.lr = {k: [(-1, float(config.get(f"lr_{k}") or 0.0))] for k in ("g", "d")}
        self.best: QualityReport | None = None

    def write(self, event) -> None:
        if isinstance(event, LossChunk):
            self._losses(event)
        elif isinstance(event, SampleGrid):
            self._image(event.step, event.image)
        elif isinstance(event, QualityReport):
            self._quality(event)
        elif isinstance(event, HParamChange):
            if event.name in ("lr_g", "lr_d"):
                self.lr[event.name[-1]].append((event.step, event.new))
            self.writer.add_text("events", f"step {event.step}: {event.name} {event.old:.3g} -> {event.new:.3g}",
                                 event.step)
        elif isinstance(event, RolledBack):
            self.lr["g"].append((event.to_step, event.lr_g))
            self.lr["d"].append((event.to_step, event.lr_d))
            self.writer.add_text("events", f"step {event.from_step}: {event.reason}, rolled back to step "
                                           f"{event.to_step}", event.from_step)
        elif isinstance(event, GuardAdvice):
            self.writer.add_text("events", f"step {event.step}: guard advice: {event.message}", event.step)
        elif isinstance(event, RunFinished):
            self._hparams(event)

    def _losses(self, chunk: LossChunk) -> None:
        for i, step in enumerate(chunk.steps.tolist()):
            for name, tag in SCALARS.items():
                if name not in chunk.names:
                    continue
                value = float(chunk.values[i, chunk.names.index(name)])
                if math.isfinite(value) or name not in ("r_t", "aug_p"):  # unknown in an older run: no point at all
                    self.writer.add_scalar(tag, value, step)
            self.writer.add_scalar("lr/g", self._lr_at("g", step), step)
            self.writer.add_scalar("lr/d", self._lr_at("d", step), step)

    def _lr_at(self, which: str, step: int) -> float:
        """The rate step `step` trained with: the newest change made before it."""
        return next(value for after, value in reversed(self.lr[which]) if after < step)

    def _image(self, step: int, image: np.ndarray) -> None:
        self.writer.add_image("samples", image if image.ndim == 3 else image[:, :, None], step, dataformats="HWC")

    def _quality(self, report: QualityReport) -> None:
        self.writer.add_scalar("quality/accuracy", report.accuracy, report.step)
        self.writer.add_scalar("quality/frechet", report.frechet, report.step)
        self.writer.add_scalar("quality/frechet_floor", report.floor, report.step)
        if self.best is None or report.accuracy > self.best.accuracy:
            self.best = report

    def _hparams(self, finished: RunFinished) -> None:
        settings = {k: self.config[k] for k in HPARAMS if self.config.get(k) is not None}
        metrics = {f"final/{k}": float(finished.summary[k]) for k in ("d1", "d2", "g") if k in finished.summary}
        metrics["final/steps"] = float(finished.step)
        if self.best is not None:
            metrics.update({"best/accuracy": self.best.accuracy, "best/frechet": self.best.frechet})
        self.writer.add_hparams(settings, metrics, run_name="hparams", global_step=finished.step)

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()
