"""Bring-your-own data: IDX folders, CIFAR-10's binary version, and labelled image folders.

Each loader checks everything before it returns, so nothing is ever half-loaded, and every error
names the file or folder at fault. The CIFAR-10 Python version is a pickle: it is refused, never
unpickled.
"""
from __future__ import annotations

import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from cgan_core.data import idx
from cgan_core.data.dataset import SIZES, ImageDataset, check_size_and_color
from cgan_core.errors import DataError
from cgan_core.records import MAX_CLASSES  # what a generator file may hold

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
MAX_IMAGES = 2_000_000  # a folder's images are held decoded in memory: 2 M at 32 px RGB is 6 GB
MAX_PIXELS = 64 * 2**20  # an image's width x height; larger ones (a decompression bomb, a photo scan) are skipped
MAX_CORRUPT_FRACTION = 0.05  # corrupt images under this share are skipped and listed; above it, refused
CIFAR_BATCH = 1 + 32 * 32 * 3  # label byte + 3072 pixel bytes


def _pack(images: np.ndarray, labels: np.ndarray, names: list[str], source: str):
    images = np.ascontiguousarray(images)
    images = images if images.flags.writeable else images.copy()  # torch wants writable memory
    return ImageDataset(source, torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64)), names)


# ---- IDX folders -----------------------------------------------------------------------------------
def _find(folder: Path, stem: str) -> Path | None:
    for name in (f"{stem}.gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def has_idx(folder: Path) -> bool:
    return _find(Path(folder), "train-images-idx3-ubyte") is not None


def load_idx_folder(folder: Path, split: str, class_names: list[str] | None = None):
    """train-/t10k- images and labels IDX files (gzip or raw) in `folder`."""
    folder = Path(folder)
    prefix = "train" if split == "train" else "t10k"
    images_file = _find(folder, f"{prefix}-images-idx3-ubyte")
    labels_file = _find(folder, f"{prefix}-labels-idx1-ubyte")
    if images_file is None or labels_file is None:
        if split != "train":  # no test files: hold out every tenth training image
            return load_idx_folder(folder, "train", class_names).holdout()
        raise DataError(f"{folder}: needs {prefix}-images-idx3-ubyte[.gz] and {prefix}-labels-idx1-ubyte[.gz]")
    images, labels = idx.read_idx(images_file), idx.read_idx(labels_file)
    if images.ndim != 3:
        raise DataError(f"{images_file}: expected (N, H, W) images, got shape {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{labels_file}: {len(labels)} labels for {len(images)} images in {images_file.name}")
    count = int(labels.max()) + 1 if len(labels) else 0
    names = list(class_names) if class_names else [str(i) for i in range(count)]
    if count > len(names):
        raise DataError(f"{labels_file}: label {count - 1} but only {len(names)} classes")
    return _pack(images[:, None], labels, names, folder.name)


# ---- CIFAR-10 binary ------------------------------------------------------------------------------
def is_cifar_binary(folder: Path) -> bool:
    return (Path(folder) / "data_batch_1.bin").is_file()


def refuse_cifar_pickle(folder: Path) -> None:
    folder = Path(folder)
    if (folder / "data_batch_1").is_file() or (folder / "batches.meta").is_file():
        raise DataError(f"{folder}: this is CIFAR-10's Python version, a pickle, which cgan-studio never "
                        "unpickles; use the binary version (cifar-10-binary.tar.gz, or --dataset cifar10)")


def load_cifar_binary(folder: Path, split: str, class_names: list[str]):
    folder = Path(folder)
    files = [folder / f"data_batch_{i}.bin" for i in range(1, 6)] if split == "train" else [folder / "test_batch.bin"]
    images, labels = [], []
    for path in files:
        if not path.is_file():
            raise DataError(f"{path}: missing from the CIFAR-10 binary folder")
        raw = np.fromfile(path, dtype=np.uint8)
        if len(raw) == 0 or len(raw) % CIFAR_BATCH:
            raise DataError(f"{path}: {len(raw)} bytes is not a whole number of {CIFAR_BATCH}-byte records")
        records = raw.reshape(-1, CIFAR_BATCH)
        if int(records[:, 0].max()) >= len(class_names):
            raise DataError(f"{path}: label {int(records[:, 0].max())} out of range")
        labels.append(records[:, 0])
        images.append(records[:, 1:].reshape(-1, 3, 32, 32))
    return _pack(np.concatenate(images), np.concatenate(labels), list(class_names), "cifar10")


def extract_cifar(archive: Path) -> Path:
    """Unpack cifar-10-binary.tar.gz next to itself (regular files only, no path escapes)."""
    target = archive.parent
    folder = target / "cifar-10-batches-bin"
    if is_cifar_binary(folder) and (folder / "test_batch.bin").is_file():
        return folder
    try:
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if m.isfile() and not Path(m.name).is_absolute()
                       and ".." not in Path(m.name).parts]
            tar.extractall(target, members=members, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise DataError(f"{archive}: cannot be unpacked ({exc})") from None
    return folder


# ---- labelled image folders --------------------------------------------------------------------------
def _square(image: Image.Image, size: int) -> Image.Image:
    """Centre-crop to a square, then resize: mixed sizes and aspect ratios come out alike."""
    w, h = image.size
    side = min(w, h)
    box = ((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side)
    return image.crop(box).resize((size, size), Image.BICUBIC if side > size else Image.NEAREST)


def _is_grey(image: Image.Image) -> bool:
    if image.mode in ("L", "1", "I;16", "I", "LA"):
        return True
    rgb = np.asarray(image.convert("RGB"), dtype=np.int16)
    return bool(np.abs(rgb[..., 0] - rgb[..., 1]).max() <= 2 and np.abs(rgb[..., 1] - rgb[..., 2]).max() <= 2)


def scan_image_folder(folder: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    """Class names (sorted subfolders that hold images) and (file, class) pairs; other files are ignored."""
    folder = Path(folder)
    if not folder.exists():
        raise DataError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder (expected one subfolder of images per class)")
    classes, files = [], []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        images = sorted(p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if images:
            files += [(p, len(classes)) for p in images]
            classes.append(sub.name)
    if not files:
        raise DataError(f"{folder}: no images found (expected one subfolder per class holding png, jpg, bmp or webp files)")
    if len(files) > MAX_IMAGES or len(classes) > MAX_CLASSES:
        raise DataError(f"{folder}: {len(files):,} images in {len(classes):,} classes; at most {MAX_IMAGES:,} images "
                        f"in {MAX_CLASSES:,} classes are held in memory")
    if len(classes) < 2:
        raise DataError(f"{folder}: only one class ({classes[0]}); a conditional GAN needs at least two subfolders of images")
    return classes, files


def found_size(sides: list[int]) -> int:
    """The size a folder trains at, as found: the shorter side most of its images have when the networks
    take it (SIZES), else the largest size they take below it (the smallest for tinier images)."""
    common = Counter(sides).most_common(1)[0][0]
    fitting = [s for s in SIZES if s <= common]
    return fitting[-1] if fitting else SIZES[0]


def _too_large(size: tuple[int, int]) -> bool:
    return size[0] * size[1] > MAX_PIXELS


def _sizes(files: list[tuple[Path, int]]) -> list[tuple[int, int]]:
    """Each readable image's (width, height) from its header (no decoding); (0, 0) for one that is not."""
    out = []
    for path, _ in files:
        try:
            with Image.open(path) as image:
                out.append((0, 0) if _too_large(image.size) else image.size)
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            out.append((0, 0))
    return out


def size_as_found(folder: Path) -> tuple[int, int]:
    """(size, classes) of a folder of images by class, from the images' headers: no image decoded."""
    classes, files = scan_image_folder(folder)
    return _size_as_found(Path(folder), files, lambda msg: None), len(classes)


def _size_as_found(folder: Path, files: list[tuple[Path, int]], warn) -> int:
    """The folder's own size (found_size), said in one line where it differs from what the images are."""
    dims = [d for d in _sizes(files) if d != (0, 0)]
    if not dims:
        return SIZES[0]
    sides = [min(d) for d in dims]
    size, common = found_size(sides), Counter(sides).most_common(1)[0][0]
    notes = []
    if common != size:
        notes.append(f"its images are {common} px (the shorter side of most), a size the networks do not take "
                     f"({', '.join(map(str, SIZES))}): trained at {size} px (another with the image size setting)")
    other = sum(1 for side in sides if side != common)
    if other:
        notes.append(f"{other} of {len(dims)} images are not {common} px on their shorter side as most are: "
                     f"resized to {size} px")
    oblong = sum(1 for w, h in dims if w != h)
    if oblong:
        notes.append(f"{oblong} of {len(dims)} images are not square: cropped to their centre square")
    if notes:
        warn(f"{folder}: " + "; ".join(notes))
    return size


def load_image_folder(folder: Path, size: int | None = None, color: str = "keep", warn=lambda msg: None):
    """One subfolder per class -> uint8 (N, C, size, size); size None: as found (_size_as_found); `color`
    keeps what it finds or forces one."""
    check_size_and_color(size, color)
    classes, files = scan_image_folder(folder)
    if size is None:
        size = _size_as_found(Path(folder), files, warn)
    # Each image goes straight into one array (never a list of images, then of arrays, then the stack).
    pixels = np.empty((len(files), 3, size, size), dtype=np.uint8)
    labels, corrupt, all_grey = [], [], True
    for path, label in files:
        try:
            with Image.open(path) as image:
                if _too_large(image.size):
                    raise ValueError(f"{image.size[0]} x {image.size[1]} pixels")
                image.load()
                all_grey = all_grey and _is_grey(image)
                pixels[len(labels)] = np.asarray(_square(image.convert("RGB"), size)).transpose(2, 0, 1)
                labels.append(label)
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            corrupt.append(path)
    if len(corrupt) > MAX_CORRUPT_FRACTION * len(files):
        raise DataError(f"{folder}: {len(corrupt)} of {len(files)} images cannot be read (more than "
                        f"{MAX_CORRUPT_FRACTION:.0%}), e.g. {', '.join(str(p) for p in corrupt[:3])}")
    if corrupt:
        warn(f"{folder}: skipped {len(corrupt)} unreadable image(s): {', '.join(p.name for p in corrupt[:10])}")
    grey = color == "grey" or (color == "keep" and all_grey)
    if len(set(labels)) < 2:
        raise DataError(f"{folder}: after skipping unreadable files only one class is left")
    images = _luma(pixels[:len(labels)]) if grey else pixels[:len(labels)]
    return _pack(images, np.array(labels), classes, Path(folder).name)


def _luma(rgb: np.ndarray, block: int = 4096) -> np.ndarray:
    """(N, 3, H, W) -> (N, 1, H, W): ITU-R 601 luma in PIL's own fixed point (convert("L")), so the pixels
    are what PIL gives; a block of images at a time, so the wide intermediate stays small."""
    out = np.empty((len(rgb), 1, *rgb.shape[2:]), dtype=np.uint8)
    for i in range(0, len(rgb), block):
        c = rgb[i:i + block].astype(np.uint32)
        out[i:i + block] = (c[:, 0:1] * 19595 + c[:, 1:2] * 38470 + c[:, 2:3] * 7471 + 0x8000) >> 16
    return out
