"""The embedded MNIST (resources/mnist), checked against its canonical MD5s once per file version."""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import numpy as np
import torch

import resources
from cgan_core import paths
from cgan_core.data import idx
from cgan_core.data.dataset import ImageDataset
from cgan_core.errors import DataError

MNIST_FILES = {  # file -> canonical MD5 of the decompressed bytes
    "train-images-idx3-ubyte.gz": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte.gz": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte.gz": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte.gz": "27ae3e4e09519cfbb04c329615203637",
}
DIGITS = [str(i) for i in range(10)]


def _verified_md5_cache() -> Path:
    return paths.cache_dir() / "verified-md5.json"


def _read_checked(path: Path, md5: str) -> np.ndarray:
    """Read an IDX file, checking its MD5 unless this exact file (size, mtime) was verified before."""
    stat = path.stat() if path.is_file() else None
    key = str(path.resolve())
    stamp = [stat.st_size, stat.st_mtime_ns, md5] if stat else None
    cache_file = _verified_md5_cache()
    try:
        cache = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cache = {}
    verified = stamp is not None and cache.get(key) == stamp
    array = idx.read_idx(path, None if verified else md5)
    if not verified:
        cache[key] = stamp
        tmp = cache_file.with_name(f"{cache_file.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(cache))
        os.replace(tmp, cache_file)
    return array


@functools.lru_cache(maxsize=4)
def _load_mnist_arrays(folder: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    prefix = "train" if split == "train" else "t10k"
    images_file = Path(folder) / f"{prefix}-images-idx3-ubyte.gz"
    labels_file = Path(folder) / f"{prefix}-labels-idx1-ubyte.gz"
    images = _read_checked(images_file, MNIST_FILES[images_file.name])
    labels = _read_checked(labels_file, MNIST_FILES[labels_file.name])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"{images_file}: {images.shape} images do not match {labels.shape} labels in {labels_file}")
    return images, labels


def load_mnist(split: str = "train", folder: Path | None = None) -> ImageDataset:
    """The embedded MNIST (checked against its canonical MD5s), on the CPU."""
    if split not in ("train", "test"):
        raise DataError(f"unknown split {split!r}: use 'train' or 'test'")
    images, labels = _load_mnist_arrays(str(folder or resources.MNIST_DIR), split)
    return ImageDataset(
        name="mnist",
        images=torch.from_numpy(images.copy()).unsqueeze(1),
        labels=torch.from_numpy(labels.astype(np.int64)),
        class_names=list(DIGITS),
    )
