"""cgan_core: the training engine of cgan-studio. Pure PyTorch and numpy; it never imports Qt."""

__version__ = "0.1.0"
