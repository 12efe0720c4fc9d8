"""Data: datasets that live whole on the training device (MNIST is 47 MB as uint8), read from IDX files,
CIFAR-10 binary, folders of images or checksummed downloads, and a seeded on-device batch stream.

    dataset.py   ImageDataset, the size/colour check and conversion
    idx.py       the IDX format
    mnist.py     the embedded MNIST
    folders.py   IDX folders, CIFAR-10 binary, images by class
    download.py  checksummed, resumable downloads into the cache
    registry.py  a dataset by name or folder
    stream.py    BatchStream
"""
from cgan_core.data.dataset import COLORS, SIZES, ImageDataset, check_size_and_color, convert
from cgan_core.data.mnist import load_mnist
from cgan_core.data.registry import DATASETS, dataset_folder, load_dataset
from cgan_core.data.stream import BatchStream

__all__ = ["COLORS", "DATASETS", "SIZES", "BatchStream", "ImageDataset", "check_size_and_color", "convert",
           "dataset_folder",
           "load_dataset", "load_mnist"]
