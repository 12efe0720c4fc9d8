"""The MLP recipes of seeds 001 and 002."""
from __future__ import annotations

import math

import torch
from torch import nn

from cgan_core.step.layers import ClassEmbedding, init_normal, lrelu


def _mlp(sizes: list[int], block) -> nn.Sequential:
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        layers += block(fan_in, fan_out)
    return nn.Sequential(*layers)


class Seed001Generator(nn.Module):
    """z * embedding(label) -> 128 -> 256 -> 512 (LeakyReLU, BatchNorm) -> tanh image (seed 001)."""

    output_range = "tanh"

    def __init__(self, latent_dim: int, num_classes: int, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.latent_dim, self.num_classes, self.image_shape = latent_dim, num_classes, tuple(image_shape)
        self.label_embedding = ClassEmbedding(num_classes, latent_dim)
        # Keras BatchNormalization(momentum=0.8) keeps 0.8 of the old mean: torch momentum 0.2, eps 1e-3.
        block = lambda i, o: [nn.Linear(i, o), lrelu(), nn.BatchNorm1d(o, momentum=0.2, eps=1e-3)]
        self.body = _mlp([latent_dim, 128, 256, 512], block)
        self.out = nn.Sequential(nn.Linear(512, math.prod(image_shape)), nn.Tanh())
        init_normal(self)
        nn.init.uniform_(self.label_embedding.weight, -0.05, 0.05)  # Keras Embedding's default

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(z * self.label_embedding(c))).view(-1, *self.image_shape)


class Seed001Discriminator(nn.Module):
    """flat image * embedding(label) -> 128 -> 256 -> 512 (LeakyReLU) -> logit (seed 001)."""

    def __init__(self, num_classes: int, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        size = math.prod(image_shape)
        self.label_embedding = ClassEmbedding(num_classes, size)
        self.body = _mlp([size, 128, 256, 512], lambda i, o: [nn.Linear(i, o), lrelu()])
        self.out = nn.Linear(512, 1)
        init_normal(self)
        nn.init.uniform_(self.label_embedding.weight, -0.05, 0.05)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x.flatten(1) * self.label_embedding(labels))).squeeze(1)


class Seed002Generator(nn.Module):
    """cat(z, embedding10(label)) -> 256 -> 512 -> 1024 -> tanh image, exactly as seed 002."""

    output_range = "tanh"

    def __init__(self, latent_dim: int, num_classes: int, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.latent_dim, self.num_classes, self.image_shape = latent_dim, num_classes, tuple(image_shape)
        self.label_embedding = ClassEmbedding(num_classes, 10)
        self.body = _mlp([latent_dim + 10, 256, 512, 1024], lambda i, o: [nn.Linear(i, o), lrelu()])
        self.out = nn.Sequential(nn.Linear(1024, math.prod(image_shape)), nn.Tanh())

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = torch.cat([z, self.label_embedding(c)], 1)
        return self.out(self.body(h)).view(-1, *self.image_shape)


class Seed002Discriminator(nn.Module):
    """cat(flat image, embedding10(label)) -> 1024 -> 512 -> 256 (LeakyReLU, Dropout 0.3) -> logit."""

    def __init__(self, num_classes: int, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.label_embedding = ClassEmbedding(num_classes, 10)
        block = lambda i, o: [nn.Linear(i, o), lrelu(), nn.Dropout(0.3)]
        self.body = _mlp([math.prod(image_shape) + 10, 1024, 512, 256], block)
        self.out = nn.Linear(256, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = torch.cat([x.flatten(1), self.label_embedding(labels)], 1)
        return self.out(self.body(h)).squeeze(1)
