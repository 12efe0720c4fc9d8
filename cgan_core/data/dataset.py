"""The dataset type: uint8 images that live whole on the training device, their class names, and the
one place image size and colour are checked and converted."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import torch

from cgan_core.errors import DataError

SIZES = (16, 28, 32, 64, 128)  # sides the networks take: 4-8 px times a power of two
COLORS = ("keep", "grey", "rgb")


def check_size_and_color(image_size: int | None, color: str) -> None:
    """The one validation of a requested image size and colour mode (CLI, studio, folders)."""
    if color not in COLORS:
        raise DataError(f"colour must be one of {', '.join(COLORS)}, got {color!r}")
    if image_size is not None and image_size not in SIZES:
        raise DataError(f"image size must be one of {', '.join(map(str, SIZES))}, got {image_size!r}")


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

    @property
    def image_label(self) -> str:
        """The images as a user reads them: "64x64 px RGB", "28x28 px grey"."""
        channels, height, width = self.image_shape
        return f"{width}x{height} px {'RGB' if channels == 3 else 'grey'}"

    def __len__(self) -> int:
        return len(self.images)

    def to(self, device: torch.device | str) -> ImageDataset:
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

    def holdout(self, every: int = 10) -> ImageDataset:
        """Every `every`-th item: the stand-in test split of a source that has none."""
        return ImageDataset(self.name, self.images[::every].clone(), self.labels[::every].clone(), list(self.class_names))


def convert(data: ImageDataset, image_size: int | None, color: str) -> ImageDataset:
    """Resize to `image_size` (square) and convert to grey or RGB; unchanged where nothing is asked."""
    check_size_and_color(image_size, color)
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
