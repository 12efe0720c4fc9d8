"""What a run needs before its first step, with progress callbacks, for every front end alike (the
CLI prints a bar, the studio shows a busy message): the dataset's download, and live quality's
domain classifier (trained once per dataset, then cached)."""
from __future__ import annotations

from collections.abc import Callable

from cgan_core.data import ImageDataset, load_dataset
from cgan_core.output.quality import LiveQuality, classifier_ready, prepare_live_quality
from cgan_core.step.config import TrainConfig

__all__ = ["classifier_ready", "fetch_dataset", "needs_download", "prepare_quality"]


def needs_download(dataset: str) -> bool:
    """Whether `dataset` names a downloadable set that is not in the cache yet."""
    from cgan_core.data.download import SOURCES, is_fetched

    return dataset in SOURCES and not is_fetched(SOURCES[dataset])


def fetch_dataset(dataset: str, progress: Callable[[str, float], None] = lambda file, fraction: None) -> None:
    """Download a named dataset into the cache (checksummed, resumable); a no-op for MNIST, folders and
    sets already fetched. `progress(file, fraction)` hears about every block."""
    from cgan_core.data.download import SOURCES, fetch

    if needs_download(dataset):
        fetch(SOURCES[dataset], progress)


def prepare_quality(config: TrainConfig, train: ImageDataset,
                    progress: Callable[[float], None] = lambda fraction: None) -> LiveQuality:
    """Live quality for a run of `config` on `train`: the cached domain classifier (trained first when
    missing; `progress(fraction)` hears about it between batches and may raise to abort) and the fixed
    real side of every measurement, from the dataset's test split."""
    test = load_dataset(config.dataset, "test", image_size=config.image_size, color=config.color)
    return prepare_live_quality(train, test, progress)
