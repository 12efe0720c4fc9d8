"""Faithful re-implementations of two tutorials' training loops, as written: the references the
engine is measured against. Same networks as the presets, none of the engine's machinery."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

from cgan_core.step.nets_conv import Seed004Discriminator, Seed004Generator
from cgan_core.step.nets_mlp import Seed002Discriminator, Seed002Generator


class PerItemMNIST(Dataset):
    """torchvision-style MNIST: each item uint8 -> PIL -> ToTensor -> Normalize((0.5,), (0.5,))."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        pil = Image.fromarray(self.images[i], mode="L")
        x = torch.from_numpy(np.asarray(pil, dtype=np.float32) / 255.0).unsqueeze(0)  # ToTensor
        return (x - 0.5) / 0.5, int(self.labels[i])  # Normalize


def seed002_reference(images: np.ndarray, labels: np.ndarray):
    """Seed 002's loop: yields after each batch; sigmoid D with nn.BCELoss, G regenerates its fakes."""
    g, d = Seed002Generator(100, 10, (1, 28, 28)), Seed002Discriminator(10, (1, 28, 28))
    loss = nn.BCELoss()
    opt_d, opt_g = torch.optim.Adam(d.parameters(), lr=2e-4), torch.optim.Adam(g.parameters(), lr=2e-4)
    loader = DataLoader(PerItemMNIST(images, labels), batch_size=100, shuffle=True)
    batch_size = 100
    while True:
        for x, digit_labels in loader:
            noise = torch.randn(batch_size, 100)
            fake_labels = torch.randint(0, 10, (batch_size,))
            generated = g(noise, fake_labels)
            true_data = x.view(batch_size, 784)
            opt_d.zero_grad()
            d_true = loss(torch.sigmoid(d(true_data, digit_labels)).view(batch_size), torch.ones(batch_size))
            d_fake = loss(torch.sigmoid(d(generated.detach(), fake_labels)).view(batch_size), torch.zeros(batch_size))
            ((d_true + d_fake) / 2).backward()
            opt_d.step()
            opt_g.zero_grad()
            generated = g(noise, fake_labels)
            g_loss = loss(torch.sigmoid(d(generated, fake_labels)).view(batch_size), torch.ones(batch_size))
            g_loss.backward()
            opt_g.step()
            yield len(x)


def seed004_reference(images: np.ndarray, labels: np.ndarray):
    """Seed 004's step, ported plainly to eager PyTorch (NCHW): D on a real half-batch, D on a fake
    half-batch, then G on a full batch through D. Yields after each step."""
    g, d = Seed004Generator(100, 10, (1, 28, 28)), Seed004Discriminator(10, (1, 28, 28))
    loss = nn.BCELoss()
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    data = (images.astype(np.float32)[:, None] - 127.5) / 127.5
    n_batch, half = 128, 64
    while True:
        ix = np.random.randint(0, len(data), half)
        x_real, y_real = torch.from_numpy(data[ix]), torch.from_numpy(labels[ix].astype(np.int64))
        opt_d.zero_grad()
        loss(torch.sigmoid(d(x_real, y_real)), torch.ones(half)).backward()
        opt_d.step()
        z, y_fake = torch.randn(half, 100), torch.randint(0, 10, (half,))
        x_fake = g(z, y_fake).detach()
        opt_d.zero_grad()
        loss(torch.sigmoid(d(x_fake, y_fake)), torch.zeros(half)).backward()
        opt_d.step()
        z, y_gan = torch.randn(n_batch, 100), torch.randint(0, 10, (n_batch,))
        opt_g.zero_grad()
        loss(torch.sigmoid(d(g(z, y_gan), y_gan)), torch.ones(n_batch)).backward()
        opt_g.step()
        yield half
