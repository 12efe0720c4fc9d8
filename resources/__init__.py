"""Data that ships with cgan-studio: the embedded MNIST (CC BY-SA 3.0, see mnist/README.md) and icons."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent
MNIST_DIR = ROOT / "mnist"
ICONS_DIR = ROOT / "icons"


def path(*parts: str) -> Path:
    """Absolute path of a bundled resource."""
    return ROOT.joinpath(*parts)
