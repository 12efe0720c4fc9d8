"""Live quality: the offline evaluator's metrics, measured cheaply every K steps of a run.

Everything that does not depend on the generator (the domain classifier, the real test features,
the real-vs-real floor, the real diversity) is computed once in `LiveQuality.__init__`, so one
measurement is only: generate per_class x K images from fixed noise, classify them, and a 128-d
Frechet distance. About 0.5 s for MNIST on one CPU core (500 samples). The same samples are also scored in
a seeded random network's features (independent.LiveIndependent: KID and the per-class Fréchet distance),
which no training shaped; `BestBy` says which figures pick the best generator (distance, is_better,
objective).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cgan_core.data import ImageDataset
from cgan_core.errors import CheckpointError
from cgan_core.output.checkpoint import read_generator_metadata
from cgan_core.output.classifier import DomainClassifier, cache_path, load_or_train_on
from cgan_core.output.evaluate import features_and_predictions
from cgan_core.output.independent import LiveIndependent
from cgan_core.output.metrics import frechet_distance, within_class_diversity
from cgan_core.output.sampling import to_uint8
from cgan_core.step.config import BestBy

TARGET_COST = 0.03  # "auto" aims here, leaving room for cache effects under the 5% budget


@dataclass(frozen=True)
class QualityReport:
    """One live measurement. Floats and tuples only: it crosses threads as is. The first figures are the
    domain classifier's; kid, kid_spread and intra_frechet are in a seeded random network's features
    (independent.py), NaN and () in reports from before they were measured."""

    step: int
    accuracy: float
    per_class: tuple[float, ...]  # conditional accuracy of each class
    frechet: float
    floor: float  # Frechet distance of as many real images to the same test split
    diversity: float  # within-class diversity relative to the real data
    seconds: float  # what the measurement itself took
    kid: float = math.nan  # KID (unbiased MMD^2) against the test split
    kid_spread: float = math.nan  # its standard deviation over subsets
    intra_frechet: tuple[float, ...] = ()  # the Fréchet distance within each class
    intra_floor: float = math.nan  # the mean of the same for as many real training images a class

    @property
    def intra_mean(self) -> float:
        """The mean per-class Fréchet distance: the standard figure of a conditional GAN (NaN: not measured)."""
        measured = [d for d in self.intra_frechet if math.isfinite(d)]  # NaN: a class with too few test images
        return float(np.mean(measured)) if measured else math.nan


class LiveQuality:
    def __init__(self, classifier: DomainClassifier, train: ImageDataset, test: ImageDataset,
                 per_class: int = 50, seed: int = 0) -> None:
        self.classifier = classifier.eval()
        self.num_classes = train.num_classes
        self.per_class = per_class
        n = per_class * self.num_classes
        self.labels = torch.arange(self.num_classes).repeat_interleave(per_class)
        self.z_seed = seed
        self.real_features, _ = features_and_predictions(classifier, test.images)
        picks = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:n]
        self.floor = frechet_distance(features_and_predictions(classifier, train.images[picks])[0], self.real_features)
        self.real_diversity = np.maximum(within_class_diversity(test.images.float(), test.labels, self.num_classes), 1e-6)
        self.independent = LiveIndependent(train, test, per_class, seed)

    @torch.no_grad()
    def measure(self, generate, latent_dim: int, output_range: str, step: int) -> QualityReport:
        """`generate(z, labels)` -> images in `output_range` (the run's EMA or current generator)."""
        start = time.perf_counter()
        # The same noise every time: a change between two reports is the generator's, not the sample's.
        z = torch.randn(len(self.labels), latent_dim, generator=torch.Generator().manual_seed(self.z_seed))
        images = to_uint8(generate(z, self.labels).cpu(), output_range)
        feats, preds = features_and_predictions(self.classifier, images)
        correct = (preds == self.labels).float().view(self.num_classes, self.per_class)
        diversity = within_class_diversity(images.float(), self.labels, self.num_classes) / self.real_diversity
        kid, kid_spread, intra = self.independent.measure(images, self.labels)
        return QualityReport(step, float(correct.mean()), tuple(correct.mean(1).tolist()),
                             frechet_distance(feats, self.real_features), self.floor, float(diversity.mean()),
                             time.perf_counter() - start, kid, kid_spread, tuple(intra.tolist()),
                             float(np.nanmean(self.independent.floor)) if np.isfinite(self.independent.floor).any()
                             else math.nan)


BEST_MARGIN = 0.005  # half a point of accuracy: closer than that, the Frechet distance decides


def distance(report: QualityReport, by: BestBy) -> float:
    """The distance to the real data that `by` ranks with: the classifier's Fréchet distance, or the mean
    per-class Fréchet distance in the random network's features."""
    match by:
        case BestBy.CLASSIFIER:
            return report.frechet
        case BestBy.INDEPENDENT:
            return report.intra_mean


def is_better(report: QualityReport, best: tuple[float, float] | None, by: BestBy = BestBy.CLASSIFIER) -> bool:
    """Whether `report` beats the best (accuracy, distance) so far. By the classifier: conditional
    accuracy first (a generator that draws the wrong class is no good however sharp); within BEST_MARGIN
    of the best accuracy, the lower Frechet distance wins. Independently: the lower mean per-class
    distance, which a wrong class raises too (its samples sit far from the class they were asked for)."""
    value = distance(report, by)
    if not math.isfinite(value):
        return False
    if best is None:
        return True
    accuracy, best_distance = best
    match by:
        case BestBy.INDEPENDENT:
            return value < best_distance
        case BestBy.CLASSIFIER:
            if report.accuracy > accuracy + BEST_MARGIN:
                return True
            return report.accuracy >= accuracy - BEST_MARGIN and value < best_distance


def prepare_live_quality(train: ImageDataset, test: ImageDataset, progress=None, per_class: int = 50) -> LiveQuality:
    """The dataset's cached domain classifier (trained first when missing: a minute or two for MNIST
    on a CPU; `progress(fraction)` hears about it and may raise to abort) and the fixed real side."""
    train, test = train.to("cpu"), test.to("cpu")
    classifier, _ = load_or_train_on(train, test, progress=progress)
    return LiveQuality(classifier, train, test, per_class)


def classifier_ready(train: ImageDataset) -> bool:
    """Whether measuring needs no classifier training first (the cost that keeps live quality off by default)."""
    return cache_path(train.to("cpu")).is_file()


def auto_interval(eval_seconds: float, step_seconds: float, minimum: int, target: float = TARGET_COST) -> int:
    """The fewest steps between measurements that keeps their cost within `target` of training time."""
    if step_seconds <= 0:
        return minimum
    return max(minimum, int(np.ceil(eval_seconds / (target * step_seconds))))


def score(accuracy: float, frechet: float, floor: float) -> float:
    """The classifier's objective (sweeps, forks; higher is better): accuracy in points, less 0.1 per
    floor-multiple of Fréchet distance."""
    return 100.0 * accuracy - 0.1 * min(frechet / max(floor, 1e-9), 100.0)


def objective(report: QualityReport, by: BestBy) -> float:
    """What a sweep maximises and a fork ranks its variants by (higher is better). Independently: minus
    the mean per-class distance as a multiple of its real floor (-1 is as close as real data gets)."""
    match by:
        case BestBy.CLASSIFIER:
            return score(report.accuracy, report.frechet, report.floor)
        case BestBy.INDEPENDENT:
            ratio = report.intra_mean / max(report.intra_floor, 1e-9)
            return -min(ratio, 100.0) if math.isfinite(ratio) else -100.0


@dataclass
class QualitySchedule:
    """When the next measurement falls due: every `every` steps, or, with every=None ("auto"), as
    often as keeps the measurements within TARGET_COST of the training time, but not more often
    than every `minimum` steps."""

    every: int | None = None
    minimum: int = 100
    next_step: int = 0

    def due(self, step: int) -> bool:
        return step >= self.next_step

    def measured(self, step: int, eval_seconds: float, step_seconds: float) -> None:
        interval = self.every or auto_interval(eval_seconds, step_seconds, self.minimum)
        self.next_step = step + interval

    @property
    def label(self) -> str:
        return f"every {self.every} steps" if self.every else f"auto (<= {TARGET_COST:.0%} of training time)"


class QualityTracker:
    """Live quality within a run: what measures (a LiveQuality, or None when off), when (the schedule,
    with its cost accounting), and the best measurement so far (read back from best.safetensors on
    resume, so a continued run keeps comparing against it)."""

    def __init__(self, best: tuple[float, float] | None = None, by: BestBy = BestBy.CLASSIFIER) -> None:
        self.live: LiveQuality | None = None
        self.by = by
        self.schedule = QualitySchedule()
        self.best = best
        self.seconds_measuring = 0.0  # what the measurements took, inside the run's training seconds

    def enable(self, live: LiveQuality | None, every: int | None, step: int) -> None:
        """Measure every `every` steps (None: auto); `live` None turns measuring off."""
        self.live, self.schedule = live, QualitySchedule(every)
        self.schedule.next_step = step + self.schedule.minimum if every is None else (step // every + 1) * every

    def due(self, step: int) -> bool:
        return self.live is not None and self.schedule.due(step)

    def measure(self, generate, latent_dim: int, output_range: str, step: int, train_seconds: float,
                trained_steps: int) -> QualityReport:
        report = self.live.measure(generate, latent_dim, output_range, step)
        step_seconds = (train_seconds - self.seconds_measuring) / max(1, trained_steps)
        self.schedule.measured(step, report.seconds, step_seconds)
        self.seconds_measuring += report.seconds
        return report

    def take_if_best(self, report: QualityReport) -> bool:
        """Whether `report` is the best so far (and now the one to beat)."""
        if not is_better(report, self.best, self.by):
            return False
        self.best = (report.accuracy, distance(report, self.by))
        return True


BEST_DISTANCE_KEYS = {BestBy.CLASSIFIER: "frechet", BestBy.INDEPENDENT: "intra_frechet"}  # in its metadata


def best_so_far(path: Path, by: BestBy = BestBy.CLASSIFIER) -> tuple[float, float] | None:
    """(accuracy, distance by `by`) of an existing best.safetensors, so a resumed run keeps comparing."""
    if not path.is_file():
        return None
    try:
        meta = read_generator_metadata(path, path.parent)  # never through a link in the run folder
        return float(meta["accuracy"]), float(meta[BEST_DISTANCE_KEYS[by]])
    except (CheckpointError, KeyError, ValueError):
        return None
