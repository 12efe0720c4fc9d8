"""The CUDA tier: every test here is marked `cuda` and skipped, with the reason, where torch sees no GPU.
benchmarks/gpu_check.sh runs them on a machine that has one (`pytest -m cuda`)."""
from __future__ import annotations

import os

import pytest
import torch

# Deterministic cuBLAS (exact resume on CUDA compares weights bit for bit); set before any CUDA work.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason="CUDA is not available (torch.cuda.is_available() is False)")
    for item in items:
        if item.get_closest_marker("cuda") is not None and not torch.cuda.is_available():
            item.add_marker(skip)


@pytest.fixture
def deterministic():
    """cuDNN and every other kernel in their deterministic forms, for one test."""
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    yield
    torch.use_deterministic_algorithms(before[0])
    torch.backends.cudnn.benchmark = before[1]
