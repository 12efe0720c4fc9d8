"""Every dataset by name or folder: the embedded MNIST, the downloadable sets, and folders of IDX files,
CIFAR-10 binary or images by class."""
from __future__ import annotations

from pathlib import Path

from cgan_core.data import download, folders
from cgan_core.data.dataset import ImageDataset, convert
from cgan_core.data.mnist import load_mnist
from cgan_core.errors import DataError

DATASETS = ("mnist", "fashion-mnist", "kmnist", "cifar10")  # or a folder: see load_dataset


def load_dataset(name: str, split: str = "train", image_size: int | None = None, color: str = "keep",
                 progress=None, warn=lambda msg: None) -> ImageDataset:
    """A dataset by name or folder, on the CPU.

    Names: the embedded 'mnist'; 'fashion-mnist', 'kmnist' and 'cifar10', downloaded once into the
    cache (`progress(file, fraction)` hears about it). A folder: IDX files, CIFAR-10's binary
    version, or one subfolder of images per class. `image_size` (one of SIZES) resizes, `color`
    ('keep', 'grey', 'rgb') converts; a folder of images keeps its images' own size where the networks take
    it (folders.found_size), and `warn` hears where it does not.
    """
    if split not in ("train", "test"):
        raise DataError(f"unknown split {split!r}: use 'train' or 'test'")
    if name == "mnist":
        data = load_mnist(split)
    elif name in download.SOURCES:
        source = download.SOURCES[name]
        folder = download.fetch(source, progress)
        names = list(source.class_names)
        if name == "cifar10":
            data = folders.load_cifar_binary(folders.extract_cifar(folder / "cifar-10-binary.tar.gz"), split, names)
        else:
            data = folders.load_idx_folder(folder, split, names)
        data.name = name
    else:
        data = _load_folder(Path(name).expanduser(), split, image_size, color, warn)
    return convert(data, image_size, color)


def _load_folder(folder: Path, split: str, image_size: int | None, color: str, warn) -> ImageDataset:
    if not folder.exists():
        raise DataError(f"{folder}: no such folder (and not one of the datasets {', '.join(DATASETS)})")
    if folder.is_dir():
        folders.refuse_cifar_pickle(folder)
        if folders.has_idx(folder):
            return folders.load_idx_folder(folder, split)
        if folders.is_cifar_binary(folder):
            return folders.load_cifar_binary(folder, split, list(download.SOURCES["cifar10"].class_names))
    data = folders.load_image_folder(folder, image_size, color, warn)  # None: at the images' own size
    if split == "test":  # a folder has no test split: every tenth image stands in for one
        return data.holdout()
    return data
