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
        data = _load_folder(dataset_folder(name), split, image_size, color, warn)
    return convert(data, image_size, color)


def dataset_folder(name: str) -> Path:
    """A folder given as --dataset, with ~ expanded; a ~user that has no home is refused in one line."""
    try:
        return Path(name).expanduser()
    except RuntimeError:  # "Could not determine home directory"
        raise DataError(f"--dataset {name}: no such user's home folder") from None


# The embedded and downloadable sets as they are: (channels, size, classes).
KNOWN_SHAPES = {"mnist": (1, 28, 10), "fashion-mnist": (1, 28, 10), "kmnist": (1, 28, 10), "cifar10": (3, 32, 10)}


def planned_images(name: str, image_size: int | None = None, color: str = "keep") -> tuple[tuple[int, int, int], int]:
    """((channels, height, width), classes) the dataset will train at, read without loading it where that is
    cheap (what a run will cost, before it starts). A folder of images by class: its size as found from the
    headers, and RGB unless grey is asked for (whether every image is grey takes decoding them all; RGB is
    the larger guess). Folders of IDX or CIFAR files are small and are loaded."""
    if name in KNOWN_SHAPES:
        channels, size, classes = KNOWN_SHAPES[name]
    else:
        folder = dataset_folder(name)
        if not (folder.is_dir() and not folders.has_idx(folder) and not folders.is_cifar_binary(folder)):
            data = load_dataset(name, image_size=image_size, color=color)
            return data.image_shape, data.num_classes
        channels, (size, classes) = 3, folders.size_as_found(folder)
    size = image_size or size
    channels = {"grey": 1, "rgb": 3}.get(color, channels)
    return (channels, size, size), classes


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
