"""Datasets that live whole on the training device, and a seeded on-device batch stream.

MNIST is 47 MB as uint8, so the whole set is indexed on the device: no per-item DataLoader,
no worker processes (which would re-import the GUI under spawn).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

import resources

from . import idx, paths
from .errors import DataError

MNIST_FILES = {  # file -> canonical MD5 of the decompressed bytes
    "train-images-idx3-ubyte.gz": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte.gz": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte.gz": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte.gz": "27ae3e4e09519cfbb04c329615203637",
}
DIGITS = [str(i) for i in range(10)]
DATASETS = ("mnist", "fashion-mnist", "kmnist", "cifar10")  # or a folder: see load_dataset


@dataclass
class ImageDataset:
    """uint8 images (N, C, H, W) with 0 = background, int64 labels (N,), and the class names."""

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    class_names: list[str]
    _checksum: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise DataError(f"{self.name}: images must be uint8 (N, C, H, W), got {tuple(self.images.shape)}")
        if len(self.labels) != len(self.images):
            raise DataError(f"{self.name}: {len(self.labels)} labels for {len(self.images)} images")
        if len(self.class_names) < 2:
            raise DataError(f"{self.name}: a conditional GAN needs at least two classes")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self.images)

    def to(self, device: torch.device | str) -> "ImageDataset":
        """This dataset on `device`: itself when it is there already (its checksum stays computed)."""
        images, labels = self.images.to(device), self.labels.to(device)
        if images is self.images and labels is self.labels:
            return self
        moved = ImageDataset(self.name, images, labels, list(self.class_names))
        moved._checksum = self._checksum  # same content
        return moved

    def checksum(self) -> str:
        """sha256 of the images and labels (16 hex digits). Computed once per dataset: hashing MNIST
        takes ~0.1 s, and the classifier cache asks several times per run."""
        if self._checksum is None:
            digest = hashlib.sha256()
            digest.update(self.images.cpu().numpy().tobytes())
            digest.update(self.labels.cpu().numpy().tobytes())
            self._checksum = digest.hexdigest()[:16]
        return self._checksum

    def holdout(self, every: int = 10) -> "ImageDataset":
        """Every `every`-th item: the stand-in test split of a source that has none."""
        return ImageDataset(self.name, self.images[::every].clone(), self.labels[::every].clone(), list(self.class_names))


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


def load_dataset(name: str, split: str = "train", image_size: int | None = None, color: str = "keep",
                 progress=None, warn=lambda msg: None) -> ImageDataset:
    """A dataset by name or folder, on the CPU.

    Names: the embedded 'mnist'; 'fashion-mnist', 'kmnist' and 'cifar10', downloaded once into the
    cache (`progress(file, fraction)` hears about it). A folder: IDX files, CIFAR-10's binary
    version, or one subfolder of images per class. `image_size` (28, 32 or 64) resizes, `color`
    ('keep', 'grey', 'rgb') converts; a folder of images defaults to 32 px.
    """
    from . import download, sources

    if split not in ("train", "test"):
        raise DataError(f"unknown split {split!r}: use 'train' or 'test'")
    if name == "mnist":
        data = load_mnist(split)
    elif name in download.SOURCES:
        source = download.SOURCES[name]
        folder = download.fetch(source, progress)
        names = list(source.class_names)
        if name == "cifar10":
            data = sources.load_cifar_binary(sources.extract_cifar(folder / "cifar-10-binary.tar.gz"), split, names)
        else:
            data = sources.load_idx_folder(folder, split, names)
        data.name = name
    else:
        data = _load_folder(Path(name).expanduser(), split, image_size, color, warn)
    return convert(data, image_size, color)


def _load_folder(folder: Path, split: str, image_size: int | None, color: str, warn) -> ImageDataset:
    from . import download, sources

    if not folder.exists():
        raise DataError(f"{folder}: no such folder (and not one of the datasets {', '.join(DATASETS)})")
    if folder.is_dir():
        sources.refuse_cifar_pickle(folder)
        if sources.has_idx(folder):
            return sources.load_idx_folder(folder, split)
        if sources.is_cifar_binary(folder):
            return sources.load_cifar_binary(folder, split, list(download.SOURCES["cifar10"].class_names))
    data = sources.load_image_folder(folder, image_size or 32, color, warn)
    if split == "test":  # a folder has no test split: every tenth image stands in for one
        return data.holdout()
    return data


def convert(data: ImageDataset, image_size: int | None, color: str) -> ImageDataset:
    """Resize to `image_size` (square) and convert to grey or RGB; unchanged where nothing is asked."""
    from .sources import COLORS, SIZES

    if color not in COLORS:
        raise DataError(f"colour must be one of {', '.join(COLORS)}, got {color!r}")
    if image_size is not None and image_size not in SIZES:
        raise DataError(f"image size must be one of {SIZES}, got {image_size}")
    images = data.images
    if color == "grey" and images.shape[1] == 3:
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        images = (images.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    elif color == "rgb" and images.shape[1] == 1:
        images = images.repeat(1, 3, 1, 1)
    if image_size is not None and tuple(images.shape[2:]) != (image_size, image_size):
        resized = torch.nn.functional.interpolate(images.float(), size=(image_size, image_size), mode="bilinear",
                                                  antialias=True, align_corners=False)
        images = resized.round().clamp(0, 255).to(torch.uint8)
    if images is data.images:
        return data
    return ImageDataset(data.name, images.contiguous(), data.labels, data.class_names)


class BatchStream:
    """Shuffled index batches drawn on the device from a seeded torch.Generator.

    Each epoch is one permutation; a last partial batch is dropped, so shapes stay fixed.
    The state (generator, permutation, position, epoch) goes into checkpoints for exact resume.
    """

    def __init__(self, size: int, device: torch.device, seed: int) -> None:
        self.size = size
        self.device = device
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)
        self.epoch = 0
        self.position = 0
        self.permutation = torch.randperm(size, generator=self.generator, device=device)

    def next(self, batch_size: int) -> torch.Tensor:
        if batch_size > self.size:
            raise DataError(f"batch size {batch_size} is larger than the dataset ({self.size} images)")
        if self.position + batch_size > self.size:
            self.epoch += 1
            self.position = 0
            self.permutation = torch.randperm(self.size, generator=self.generator, device=self.device)
        indices = self.permutation[self.position : self.position + batch_size]
        self.position += batch_size
        return indices

    @property
    def epoch_progress(self) -> float:
        return self.epoch + self.position / self.size

    def state_dict(self) -> dict:
        return {
            "generator": self.generator.get_state(),
            "permutation": self.permutation.cpu(),
            "position": self.position,
            "epoch": self.epoch,
        }

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.permutation = state["permutation"].to(self.device)
        self.position = int(state["position"])
        self.epoch = int(state["epoch"])
