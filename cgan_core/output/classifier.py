"""A small domain classifier, trained once per dataset on its real training split and cached.

It scores generated samples (conditional accuracy): Inception-based metrics need downloaded
weights and are not meant for 28x28 digits.
"""
from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from cgan_core import paths
from cgan_core.data import ImageDataset, load_dataset
from cgan_core.output.checkpoint import atomic_write_bytes
from cgan_core.output.safe_pickle import check_checkpoint_pickle

SCHEMA = 1


MAX_GRID = 8  # the feature map's side before the dense layer


class DomainClassifier(nn.Module):
    def __init__(self, channels: int, num_classes: int, side: int) -> None:
        super().__init__()
        # Up to 32 px the two poolings leave a 7x7 or 8x8 map. Larger images are averaged down to 8x8 first:
        # at 128 px a dense layer over the whole 32x32 map (8.4 M weights) stayed at chance after its two
        # epochs on 6,000 images, so every figure of a 128 px run was empty.
        grid = min(side // 4, MAX_GRID)
        self.features = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            # one module for both poolings keeps the dense layer's key, so cached classifiers still load
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Sequential(nn.MaxPool2d(2), nn.AdaptiveAvgPool2d(grid)),
            nn.Flatten(), nn.Linear(64 * grid**2, 128), nn.ReLU(),
        )
        self.head = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def to_input(images_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W), 0 = background -> the classifier's float input."""
    return images_uint8.float().div_(255.0)


def train_classifier(train: ImageDataset, epochs: int = 2, seed: int = 0,
                     progress: Callable[[float], None] | None = None) -> DomainClassifier:
    torch.manual_seed(seed)
    model = DomainClassifier(train.image_shape[0], train.num_classes, train.image_shape[1])
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(seed)
    batch, n = 128, len(train)
    total = epochs * (n // batch)
    for epoch in range(epochs):
        order = torch.randperm(n, generator=gen)
        for i in range(n // batch):
            idx = order[i * batch : (i + 1) * batch]
            loss = F.cross_entropy(model(to_input(train.images[idx])), train.labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if progress is not None and i % 50 == 0:
                progress((epoch * (n // batch) + i) / total)
    return model.eval()


@torch.no_grad()
def predict(model: DomainClassifier, images_uint8: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    return torch.cat([model(to_input(images_uint8[i : i + batch])).argmax(1) for i in range(0, len(images_uint8), batch)])


def load_or_train(dataset: str = "mnist", progress: Callable[[float], None] | None = None) -> tuple[DomainClassifier, float]:
    """The cached classifier for a named dataset (trained on first use), and its real test accuracy."""
    return load_or_train_on(load_dataset(dataset, "train"), load_dataset(dataset, "test"), progress=progress)


def cache_path(train: ImageDataset) -> Path:
    """Keyed by the training data's checksum: other data, another classifier."""
    return paths.cache_dir() / f"classifier-{train.name}-{train.checksum()}-v{SCHEMA}.pt"


def load_or_train_on(train: ImageDataset, test: ImageDataset, epochs: int = 2,
                     progress: Callable[[float], None] | None = None) -> tuple[DomainClassifier, float]:
    path = cache_path(train)
    model = DomainClassifier(train.image_shape[0], train.num_classes, train.image_shape[1])
    if path.is_file():
        try:
            check_checkpoint_pickle(path)  # a cache file is user-writable: scanned like any checkpoint
            state = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(state["model"])
            return model.eval(), float(state["test_accuracy"])
        except Exception:  # a damaged cache entry is rebuilt, never trusted
            path.unlink(missing_ok=True)
    model = train_classifier(train, epochs=epochs, progress=progress)
    accuracy = float((predict(model, test.images) == test.labels).float().mean())
    store_classifier(train, model, accuracy)
    return model, accuracy


def store_classifier(train: ImageDataset, model: DomainClassifier, test_accuracy: float) -> Path:
    """Cache `model` as the classifier of `train` (atomically: a reader never sees half a file)."""
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "test_accuracy": test_accuracy}, buffer)
    path = cache_path(train)
    atomic_write_bytes(path, buffer.getvalue())
    return path
