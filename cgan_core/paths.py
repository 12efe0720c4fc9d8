"""Where cgan-studio keeps its caches and runs. Environment variables override, for tests and CI."""
from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "cgan-studio"


def cache_dir() -> Path:
    path = Path(os.environ.get("CGAN_STUDIO_CACHE") or platformdirs.user_cache_dir(APP))
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_dir() -> Path:
    path = Path(os.environ.get("CGAN_STUDIO_RUNS") or Path(platformdirs.user_data_dir(APP)) / "runs")
    path.mkdir(parents=True, exist_ok=True)
    return path
