"""Residual networks for RGB images of 16 to 128 px: the conditional GAN a practitioner would pick at this
scale (SNGAN, Miyato et al. 2018; its class conditioning as in Miyato & Koyama 2018 and BigGAN).

- G: the noise through a dense layer to a 4x4 (or 7x7 for 28 px) map, then one up-sampling residual block per
  doubling of the side, each normalised by class-conditional BatchNorm (the class sets each channel's gain
  and bias), then BatchNorm, ReLU, a 3x3 conv and tanh.
- D: one down-sampling residual block per halving, spectral norm on every weight (its Lipschitz bound keeps
  the hinge loss's D from running away), ReLU, a sum over the pixels, and the projection head:
  logit = w.h + <embed(y), h>.

The channels double as the side halves, from `width` at the full size up to `max_width`, so the cost of each
resolution stays about level. The full size's width halves as the side doubles past 32 px (StyleGAN's
channel schedule: channels = base / side), so a 64 px model adds one resolution's cost to a 32 px one instead of
multiplying it by five (flop counts and step times: BENCHMARKS.md, "Your own images at their own size").
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from cgan_core.step.layers import ClassEmbedding, embed


def doublings(side: int) -> tuple[int, int]:
    """(start side, number of doublings) with start * 2**n == side and a start of 4 to 7 (28 px: 7, 2)."""
    n = 0
    while side % 2 == 0 and side // 2 >= 4:
        side, n = side // 2, n + 1
    if n < 1 or side > 8:
        raise ValueError(f"a residual network needs a side of 4-8 px times a power of two (16, 28, 32, 64, 128), "
                         f"got {side * 2 ** n}")
    return side, n


def _sn(layer: nn.Module) -> nn.Module:
    """Xavier-uniform weights and zero biases (SNGAN's), then spectral norm: initialised before the
    power iteration starts, so its first estimate is of the weights that train."""
    nn.init.xavier_uniform_(layer.weight)
    if getattr(layer, "bias", None) is not None:
        nn.init.zeros_(layer.bias)
    return spectral_norm(layer)


WIDTH_AT_32 = 16  # channels at the full size of a 32 px model: thin, for minutes on a CPU (BENCHMARKS.md)
MIN_WIDTH = 8


def full_size_width(side: int) -> int:
    """Channels at the full size when none are named: WIDTH_AT_32 up to 32 px, then halved with each doubling
    of the side, so a larger side adds one resolution's cost (64 px: 8, 5/4 of 32 px's multiply-adds). Never
    below MIN_WIDTH: 128 px also has 8, and costs 5x 64 px rather than 4 channels for the RGB output."""
    return max(MIN_WIDTH, WIDTH_AT_32 * 32 // max(side, 32))


def _channels(width: int, max_width: int, n: int) -> list[int]:
    """Channels at each resolution, from the smallest (index 0) to the full size (index n)."""
    return [min(max_width, width * 2 ** (n - i)) for i in range(n + 1)]


# The class's gain and bias are stored divided by this and multiplied back in the forward (ProGAN's equalised
# learning rate, StyleGAN's lr multiplier): Adam moves a stored entry by about lr a step, so the class's effect
# moves this many times faster than a plain embedding's. At 2e-4 a plain one needs thousands of steps to make
# the rows of a grid differ by class; minutes on a CPU are hundreds of steps (BENCHMARKS.md).
CLASS_LR_MULTIPLIER = 10.0


class ConditionalBatchNorm(nn.Module):
    """BatchNorm without its own affine; the class gives each channel a gain (1 + ...) and a bias. The gains
    start near zero (N(0, 0.02), as in Mimicry's SNGAN) rather than at zero: the block begins almost as plain
    BatchNorm, but the class already changes the output, so the generator's first gradients reach every
    class's row. Soft conditions mix the classes' rows."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        # Named for their scaled storage: a checkpoint of the former, unscaled rows is refused, not misread.
        self.class_gain, self.class_bias = ClassEmbedding(num_classes, channels), ClassEmbedding(num_classes, channels)
        nn.init.normal_(self.class_gain.weight, 0.0, 0.02 / CLASS_LR_MULTIPLIER)
        nn.init.zeros_(self.class_bias.weight)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        gain = (self.class_gain(c) * CLASS_LR_MULTIPLIER).to(x.dtype)
        bias = (self.class_bias(c) * CLASS_LR_MULTIPLIER).to(x.dtype)
        return self.norm(x) * (1 + gain[:, :, None, None]) + bias[:, :, None, None]


class UpBlock(nn.Module):
    """x -> CBN, ReLU, 2x nearest, conv3 -> CBN, ReLU, conv3; plus the skip: conv1, 2x nearest (the same as
    SNGAN's nearest-then-conv1, since a 1x1 conv and nearest up-sampling commute, at a quarter of the cost)."""

    def __init__(self, c_in: int, c_out: int, num_classes: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = ConditionalBatchNorm(c_in, num_classes), ConditionalBatchNorm(c_out, num_classes)
        self.conv1, self.conv2 = nn.Conv2d(c_in, c_out, 3, padding=1), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.norm1(x, c)), scale_factor=2.0)
        h = self.conv2(F.relu(self.norm2(self.conv1(h), c)))
        return h + F.interpolate(self.skip(x), scale_factor=2.0)


class ResNetGenerator(nn.Module):
    output_range = "tanh"

    def __init__(self, latent_dim: int, num_classes: int, image_shape: tuple[int, int, int], width: int | None = None,
                 max_width: int = 256) -> None:
        super().__init__()
        self.latent_dim, self.num_classes, self.image_shape = latent_dim, num_classes, tuple(image_shape)
        width = width or full_size_width(image_shape[1])
        self.width, self.max_width = width, max_width  # recorded in a generator file, to rebuild it
        self.start, n = doublings(image_shape[1])
        channels = _channels(width, max_width, n)
        self.dense = nn.Linear(latent_dim, channels[0] * self.start * self.start)
        self.blocks = nn.ModuleList([UpBlock(channels[i], channels[i + 1], num_classes) for i in range(n)])
        self.out = nn.Sequential(nn.BatchNorm2d(channels[-1]), nn.ReLU(), nn.Conv2d(channels[-1], image_shape[0], 3, padding=1),
                                 nn.Tanh())
        for m in self.modules():  # SNGAN's initialisation: Xavier-uniform weights, zero biases
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = self.dense(z).view(len(z), -1, self.start, self.start)
        for block in self.blocks:
            h = block(h, c)
        return self.out(h)


class DownBlock(nn.Module):
    """x -> (ReLU unless first), conv3, ReLU, conv3, 2x2 average pool; plus the skip: average pool, conv1 (the same
    as conv1 then pool, since both are linear and a 1x1 conv acts per pixel, at a quarter of the cost). The first
    block skips the leading ReLU (the image is not an activation)."""

    def __init__(self, c_in: int, c_out: int, first: bool) -> None:
        super().__init__()
        self.first = first
        self.conv1, self.conv2 = _sn(nn.Conv2d(c_in, c_out, 3, padding=1)), _sn(nn.Conv2d(c_out, c_out, 3, padding=1))
        self.skip = _sn(nn.Conv2d(c_in, c_out, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(F.relu(self.conv1(x if self.first else F.relu(x))))
        return F.avg_pool2d(h, 2) + self.skip(F.avg_pool2d(x, 2))


class ResNetDiscriminator(nn.Module):
    def __init__(self, num_classes: int, image_shape: tuple[int, int, int], width: int | None = None,
                 max_width: int = 256) -> None:
        super().__init__()
        _, n = doublings(image_shape[1])
        width = width or full_size_width(image_shape[1])
        channels = _channels(width, max_width, n)[::-1]  # full size first
        blocks = [DownBlock(image_shape[0], channels[0], first=True)]
        blocks += [DownBlock(channels[i], channels[i + 1], first=False) for i in range(n - 1)]
        self.blocks = nn.Sequential(*blocks)
        features = channels[n - 1]
        self.linear, self.projection = _sn(nn.Linear(features, 1)), _sn(ClassEmbedding(num_classes, features))

    def forward(self, x: torch.Tensor, labels: torch.Tensor,
                class_scores: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """The logits; with class_scores, also every class's projection term <embed(c), h>: their softmax is
        D's reading of the class (the shared w.h term cancels in it)."""
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))  # a sum, not a mean: SNGAN's D sees how much of each feature
        embedding = self.projection.weight.to(h.dtype)  # read once: each read runs spectral norm's power iteration
        logits = self.linear(h).squeeze(1) + (embed(labels, embedding) * h).sum(1)
        return (logits, h @ embedding.t()) if class_scores else logits
