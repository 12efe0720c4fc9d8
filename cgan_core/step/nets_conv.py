"""Convolutional recipes: seeds 000/003 (one-hot channels), seed 004 (DCGAN with a label channel)
and studio-fast (a small generator with a projection discriminator)."""
from __future__ import annotations

import torch
from torch import nn

from cgan_core.step.layers import ClassEmbedding, as_probs, init_keras, init_normal, lrelu


def _upsample_stack(in_ch: int, widths: list[int], norm: bool) -> list[nn.Module]:
    """ConvTranspose(4, stride 2, 'same') blocks that each double the side."""
    layers: list[nn.Module] = []
    for width in widths:
        layers.append(nn.ConvTranspose2d(in_ch, width, 4, 2, 1, bias=not norm))
        layers += [nn.BatchNorm2d(width), nn.ReLU(inplace=True)] if norm else [lrelu()]
        in_ch = width
    return layers


class Seed003Generator(nn.Module):
    """cat(z, one-hot) -> dense 7x7x(latent+classes) -> convT 128 s2 x2 -> conv 7x7 sigmoid (seeds 000, 003)."""

    output_range = "sigmoid"

    def __init__(self, latent_dim: int, num_classes: int, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.latent_dim, self.num_classes, self.image_shape = latent_dim, num_classes, tuple(image_shape)
        channels, side = latent_dim + num_classes, image_shape[1] // 4
        self.dense = nn.Sequential(nn.Linear(channels, channels * side * side), lrelu())
        self.base = (channels, side, side)
        self.body = nn.Sequential(
            *_upsample_stack(channels, [128, 128], norm=False),
            nn.Conv2d(128, image_shape[0], 7, padding=3),
            nn.Sigmoid(),
        )
        init_keras(self)

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = self.dense(torch.cat([z, as_probs(c, self.num_classes)], 1))
        return self.body(h.view(-1, *self.base))


class Seed003Discriminator(nn.Module):
    """cat(image, one-hot planes) -> conv64 s2 -> conv128 s2 -> global max pool -> dense logit."""

    def __init__(self, num_classes: int, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.body = nn.Sequential(
            nn.Conv2d(image_shape[0] + num_classes, 64, 3, 2, 1), lrelu(),
            nn.Conv2d(64, 128, 3, 2, 1), lrelu(),
            nn.AdaptiveMaxPool2d(1), nn.Flatten(),
        )
        self.out = nn.Linear(128, 1)
        init_keras(self)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        planes = as_probs(labels, self.num_classes)[:, :, None, None].expand(-1, -1, *x.shape[2:])
        return self.out(self.body(torch.cat([x, planes.to(x.dtype)], 1))).squeeze(1)


class Seed004Generator(nn.Module):
    """z -> dense 128x7x7; embedding50 -> dense -> 1 channel 7x7; concat -> convT128 s2 x2 -> conv 7x7 tanh."""

    output_range = "tanh"

    def __init__(self, latent_dim: int, num_classes: int, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.latent_dim, self.num_classes, self.image_shape = latent_dim, num_classes, tuple(image_shape)
        self.side = image_shape[1] // 4
        self.label_embedding = ClassEmbedding(num_classes, 50)
        self.label_dense = nn.Linear(50, self.side * self.side)
        self.dense = nn.Sequential(nn.Linear(latent_dim, 128 * self.side * self.side), lrelu())
        self.body = nn.Sequential(
            *_upsample_stack(129, [128, 128], norm=False),
            nn.Conv2d(128, image_shape[0], 7, padding=3),
            nn.Tanh(),
        )
        init_keras(self)

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        label_plane = self.label_dense(self.label_embedding(c)).view(-1, 1, self.side, self.side)
        h = self.dense(z).view(-1, 128, self.side, self.side)
        return self.body(torch.cat([h, label_plane], 1))


class Seed004Discriminator(nn.Module):
    """embedding50 -> dense -> 1 image-sized channel; concat -> conv128 s2 x2 -> dropout 0.4 -> logit."""

    def __init__(self, num_classes: int, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        channels, height, width = image_shape
        self.plane = (1, height, width)
        self.label_embedding = ClassEmbedding(num_classes, 50)
        self.label_dense = nn.Linear(50, height * width)
        self.body = nn.Sequential(
            nn.Conv2d(channels + 1, 128, 3, 2, 1), lrelu(),
            nn.Conv2d(128, 128, 3, 2, 1), lrelu(),
            nn.Flatten(), nn.Dropout(0.4),
        )
        self.out = nn.Linear(128 * (height // 4) * (width // 4), 1)
        init_keras(self)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        plane = self.label_dense(self.label_embedding(labels)).view(-1, *self.plane)
        return self.out(self.body(torch.cat([x, plane], 1))).squeeze(1)


class FastGenerator(nn.Module):
    """studio-fast G: cat(z, class embedding) -> dense 7x7 -> two BN convT upsamplings -> tanh.

    About an eighth of seed 004's generator FLOPs: on a CPU the generator dominates step time.
    """

    output_range = "tanh"

    def __init__(self, latent_dim: int, num_classes: int, image_shape: tuple[int, int, int], width: int = 64) -> None:
        super().__init__()
        self.latent_dim, self.num_classes, self.image_shape = latent_dim, num_classes, tuple(image_shape)
        self.width, self.side = width, image_shape[1] // 4
        self.label_embedding = ClassEmbedding(num_classes, 32)
        self.dense = nn.Sequential(
            nn.Linear(latent_dim + 32, 2 * width * self.side * self.side, bias=False),
            nn.BatchNorm1d(2 * width * self.side * self.side), nn.ReLU(inplace=True),
        )
        self.body = nn.Sequential(
            *_upsample_stack(2 * width, [width, width // 2], norm=True),
            nn.Conv2d(width // 2, image_shape[0], 3, padding=1),
            nn.Tanh(),
        )
        init_normal(self)

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = self.dense(torch.cat([z, self.label_embedding(c)], 1))
        return self.body(h.view(-1, 2 * self.width, self.side, self.side))


class MinibatchStd(nn.Module):
    """Appends the within-group standard deviation of the features as one more channel (ProGAN).

    It lets D see a batch's diversity, which stops G from drawing one prototype per class. Groups
    are consecutive samples, so a batch of real images followed by fakes never mixes the two as
    long as each part is a multiple of the group size (otherwise the whole batch is one group).
    """

    def __init__(self, group: int = 4) -> None:
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        group = self.group if n % self.group == 0 else n
        y = x.reshape(n // group, group, c, h, w)
        std = torch.sqrt(y.var(dim=1, unbiased=False) + 1e-8).mean(dim=(1, 2, 3))  # (n // group,)
        std = std.repeat_interleave(group).view(n, 1, 1, 1).expand(n, 1, h, w)
        return torch.cat([x, std.to(x.dtype)], 1)


class ProjectionDiscriminator(nn.Module):
    """studio-fast D: two strided convs and a minibatch-std channel, then
    logit = w.h + <embed(y), h> (the projection discriminator of Miyato & Koyama, 2018)."""

    def __init__(self, num_classes: int, image_shape: tuple[int, int, int], width: int = 64,
                 mbstd_group: int = 4) -> None:
        super().__init__()
        channels, height, width_px = image_shape
        self.body = nn.Sequential(
            nn.Conv2d(channels, width // 2, 4, 2, 1), lrelu(),
            nn.Conv2d(width // 2, width, 4, 2, 1), lrelu(),
            *([MinibatchStd(mbstd_group)] if mbstd_group else []),
            nn.Flatten(),
        )
        features = (width + (1 if mbstd_group else 0)) * (height // 4) * (width_px // 4)
        self.linear = nn.Linear(features, 1)
        self.projection = ClassEmbedding(num_classes, features)
        init_normal(self)
        nn.init.normal_(self.projection.weight, 0.0, 0.02)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.body(x)
        return self.linear(h).squeeze(1) + (self.projection(labels) * h).sum(1)
