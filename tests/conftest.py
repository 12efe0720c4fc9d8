"""Shared test set-up: private cache and run folders, offscreen Qt, few torch threads."""
from __future__ import annotations

import faulthandler
import os
import tempfile

faulthandler.enable()
_TMP = tempfile.mkdtemp(prefix="cgan-tests-")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["CGAN_STUDIO_CACHE"] = os.path.join(_TMP, "cache")
os.environ["CGAN_STUDIO_RUNS"] = os.path.join(_TMP, "runs")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tiny_mnist():
    """512 real MNIST test images: enough for a few steps of any preset."""
    from cgan_core.data import ImageDataset, load_mnist

    full = load_mnist("test")
    return ImageDataset("mnist", full.images[:512].clone(), full.labels[:512].clone(), list(full.class_names))
