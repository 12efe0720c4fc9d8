"""Fixtures for the evaluator and live quality: a classifier trained on a small real subset
(seconds, not minutes)."""
from __future__ import annotations

import pytest

from cgan_core.data import ImageDataset, load_mnist
from cgan_core.output.classifier import load_or_train_on


@pytest.fixture(scope="session")
def small_sets():
    train, test = load_mnist("train"), load_mnist("test")
    small_train = ImageDataset("mnist-small", train.images[:6000].clone(), train.labels[:6000].clone(), train.class_names)
    small_test = ImageDataset("mnist-small", test.images[:1000].clone(), test.labels[:1000].clone(), test.class_names)
    return small_train, small_test


@pytest.fixture(scope="session")
def classifier(small_sets):
    """Trained once a test run: the cache folder is both workers' (tests/conftest.py), and the worker that
    comes second waits on the lock, then loads what the first trained."""
    import fcntl

    from cgan_core import paths

    with open(paths.cache_dir() / "classifier.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        model, accuracy = load_or_train_on(*small_sets, epochs=1)
    assert accuracy > 0.85  # a real classifier, even on 6,000 images
    return model
