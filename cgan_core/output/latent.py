"""Steering a trained generator: class-to-class paths through soft conditions, slerp walks through z,
truncation, and the principal directions of the generator's response.

Every function takes a generator in eval mode and returns images in its output range; callers
convert with `sampling.to_uint8`. Nothing here touches the training weights: the studio hands in a
copy, the CLI a generator loaded from its safetensors file.
"""
from __future__ import annotations

import torch
from torch import nn


def noise(latent_dim: int, seed: int, n: int = 1) -> torch.Tensor:
    """Reproducible z: the same seed gives the same vectors on every machine (CPU generator)."""
    return torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed))


def one_hot(label: int, num_classes: int) -> torch.Tensor:
    c = torch.zeros(num_classes)
    c[label] = 1.0
    return c


def class_mix(a: int, b: int, num_classes: int, frames: int) -> torch.Tensor:
    """(frames, K) conditions from pure class a to pure class b; frame 0 and frame -1 are one-hot."""
    t = torch.linspace(0.0, 1.0, frames).unsqueeze(1)
    return (1 - t) * one_hot(a, num_classes) + t * one_hot(b, num_classes)


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation, (D,) x (D,) x (T,) -> (T, D). For Gaussian z it keeps the norm typical
    of the prior, where a straight line dips through the low-density middle."""
    t = t.view(-1, 1)
    a, b = z0 / z0.norm(), z1 / z1.norm()
    omega = torch.arccos((a * b).sum().clamp(-1 + 1e-7, 1 - 1e-7))
    if float(omega) < 1e-4:  # (nearly) the same direction: a straight line is exact enough
        return (1 - t) * z0 + t * z1
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


def truncate(z: torch.Tensor, psi: float) -> torch.Tensor:
    """The truncation trick for a N(0, I) prior: pull z toward the mean (0) by psi in [0, 1].
    psi = 1 leaves z alone; smaller values trade variety for typical, cleaner samples."""
    return z * float(psi)


@torch.no_grad()
def render(g: nn.Module, z: torch.Tensor, c: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """G(z, c) in batches; c is int labels or (N, K) probabilities."""
    outs = [g(z[i : i + batch], c[i : i + batch]).float() for i in range(0, len(z), batch)]
    return torch.cat(outs) if outs else torch.zeros(0)


def class_interpolation(g: nn.Module, z: torch.Tensor, a: int, b: int, frames: int) -> torch.Tensor:
    """One z, its condition sliding from class a to class b: (frames, C, H, W)."""
    conditions = class_mix(a, b, g.num_classes, frames)
    return render(g, z.view(1, -1).expand(frames, -1), conditions)


def z_walk(g: nn.Module, label: int, z0: torch.Tensor, z1: torch.Tensor, frames: int) -> torch.Tensor:
    """One class, z following the great circle from z0 to z1: (frames, C, H, W)."""
    zs = slerp(z0.view(-1), z1.view(-1), torch.linspace(0.0, 1.0, frames))
    return render(g, zs, torch.full((frames,), int(label), dtype=torch.int64))


def across_classes(g: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """The same z in every class: (K * n, C, H, W), one row of n per class."""
    k, n = g.num_classes, len(z)
    labels = torch.arange(k).repeat_interleave(n)
    return render(g, z.repeat(k, 1), labels)


@torch.no_grad()
def principal_directions(g: nn.Module, label: int, k: int, samples: int = 16, seed: int = 0,
                         eps: float = 1e-2) -> tuple[torch.Tensor, torch.Tensor]:
    """The k directions of z along which the generator's images change most, for one class.

    Eigenvectors of the average J^T J, where J is the Jacobian of G's output with respect to z at
    `samples` random points (finite differences: latent_dim + 1 forward passes per point, which
    works for every architecture). Returns (k, D) unit directions and their (k,) singular values.
    """
    d = g.latent_dim
    gram = torch.zeros(d, d, dtype=torch.float64)
    for z in noise(d, seed, samples):
        points = torch.cat([z.view(1, -1), z.view(1, -1) + eps * torch.eye(d)])
        out = render(g, points, torch.full((d + 1,), int(label), dtype=torch.int64)).flatten(1).double()
        jacobian = (out[1:] - out[:1]) / eps  # (D, pixels): row i is dG/dz_i
        gram += jacobian @ jacobian.T
    values, vectors = torch.linalg.eigh(gram / samples)
    order = torch.argsort(values, descending=True)[:k]
    return vectors[:, order].T.float(), values[order].clamp_min(0).sqrt().float()
