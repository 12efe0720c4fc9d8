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
    model, accuracy = load_or_train_on(*small_sets, epochs=1)
    assert accuracy > 0.85  # a real classifier, even on 6,000 images
    return model




@pytest.fixture
def cli_here(capsys):
    """The CLI's main() in this process, where torch is imported already: (exit code, stdout, stderr). An
    exception that main() lets through (a traceback a user would see) fails the test. The subprocess tests
    prove the entry point itself; these prove each refusal's exit code and message, without a start-up each."""
    from cgan_core.cli.main import main

    def run(*args) -> tuple[int, str, str]:
        capsys.readouterr()
        rc = main([str(a) for a in args])
        captured = capsys.readouterr()
        return rc, captured.out, captured.err
    return run
