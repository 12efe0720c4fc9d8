"""The field's standard figures of a generator, on features of real and generated images (N, D):

- kid: Kernel Inception Distance (Bińkowski et al. 2018), the unbiased MMD² with the cubic polynomial
  kernel k(x, y) = (x.y / D + 1)^3, as a mean and spread over random subsets; unbiased at the small
  sample counts a live figure uses, where the Fréchet distance is not.
- precision_recall: improved precision and recall (Kynkäänniemi et al. 2019): a sample is within the other
  set's manifold when it lies inside the k-nearest-neighbour ball of one of its points.
- density_coverage (Naeem et al. 2020): density counts how many real balls hold each sample (robust to
  real outliers, and above 1 when samples crowd the dense regions); coverage is the share of real points
  whose ball holds at least one sample (diversity that the generator's outliers cannot fake).
- frechet_distance: the Fréchet distance between two sets of features (the FID's formula, any features).
- intra_class_frechet: the Fréchet distance within each class, the standard figure of a conditional GAN.
- within_class_diversity: the spread of each class's samples in pixels.
- memorised: the share of samples closer to a training image than all but 1% of real unseen images are
  (copy_threshold).

Pure torch, float64 distances, no weights: what the features are is the caller's choice (evaluate.py's
classifier, independent.py's random network). Nothing here imports the rest of output/.
"""
from __future__ import annotations

import numpy as np
import torch


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """|mu_a - mu_b|^2 + tr(Sa + Sb - 2 (Sa^1/2 Sb Sa^1/2)^1/2), in float64, via symmetric eigendecompositions."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    vals, vecs = torch.linalg.eigh(cov_a)
    root_a = vecs @ torch.diag(vals.clamp_min(0).sqrt()) @ vecs.T
    middle = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp_min(0).sqrt().sum()
    return float((mu_a - mu_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * middle)


def within_class_diversity(images: torch.Tensor, labels: torch.Tensor, num_classes: int) -> np.ndarray:
    """Mean per-pixel standard deviation across the samples of each class, (num_classes,)."""
    return np.array([float(images[labels == c].float().std(0).mean()) if int((labels == c).sum()) > 1 else 0.0
                     for c in range(num_classes)])


def _kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a @ b.T / a.shape[1] + 1) ** 3


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    """The unbiased estimate of the squared MMD between two samples with the KID kernel."""
    m, n = len(x), len(y)
    kxx, kyy, kxy = _kernel(x, x), _kernel(y, y), _kernel(x, y)
    within = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1)) + (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
    return float(within - 2 * kxy.mean())


def kid(real: torch.Tensor, fake: torch.Tensor, subsets: int = 10, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """(mean, standard deviation) of the unbiased MMD² over `subsets` random subsets of each set."""
    real, fake = real.double(), fake.double()
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        raise ValueError(f"KID needs at least 2 samples a set, got {len(real)} real and {len(fake)} generated")
    gen = torch.Generator().manual_seed(seed)
    values = [mmd2_unbiased(real[torch.randperm(len(real), generator=gen)[:size]],
                            fake[torch.randperm(len(fake), generator=gen)[:size]]) for _ in range(subsets)]
    return float(np.mean(values)), float(np.std(values))


CHUNK = 1024  # rows of a distance matrix at a time: 10,000 x 10,000 in float64 would be 800 MB
CHUNK_BYTES = 2**27  # ...and fewer rows against a long reference (60,000 training images: 279 rows, 134 MB)


def _rows(reference: torch.Tensor) -> int:
    return max(16, min(CHUNK, CHUNK_BYTES // (8 * max(1, len(reference)))))


def _radii(points: torch.Tensor, k: int) -> torch.Tensor:
    """Each point's distance to its k-th nearest other point."""
    return torch.cat([torch.cdist(points[i:i + CHUNK], points).kthvalue(k + 1, dim=1).values  # 1st: itself
                      for i in range(0, len(points), CHUNK)])


def _ball_counts(balls: torch.Tensor, radii: torch.Tensor, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(how many balls hold each point, whether each ball holds any point), for balls (centre, radius)."""
    per_point, per_ball = [], torch.zeros(len(balls), dtype=torch.bool)
    for i in range(0, len(points), CHUNK):
        inside = torch.cdist(points[i:i + CHUNK], balls) <= radii.unsqueeze(0)
        per_point.append(inside.sum(1))
        per_ball |= inside.any(0)
    return torch.cat(per_point), per_ball


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Precision: the share of samples inside the real manifold; recall: the share of real points inside
    the generated one (each manifold the union of its k-NN balls)."""
    real, fake = real.double(), fake.double()
    precision = (_ball_counts(real, _radii(real, k), fake)[0] > 0).double().mean()
    recall = (_ball_counts(fake, _radii(fake, k), real)[0] > 0).double().mean()
    return float(precision), float(recall)


def density_coverage(real: torch.Tensor, fake: torch.Tensor, k: int = 5) -> tuple[float, float]:
    """Density: the mean count of real k-NN balls holding a sample, over k; coverage: the share of real
    balls that hold at least one sample."""
    real, fake = real.double(), fake.double()
    per_sample, per_real = _ball_counts(real, _radii(real, k), fake)
    return float(per_sample.double().mean() / k), float(per_real.double().mean())


def intra_class_frechet(real: torch.Tensor, real_labels: torch.Tensor, fake: torch.Tensor,
                        fake_labels: torch.Tensor, num_classes: int) -> np.ndarray:
    """The Fréchet distance between the real and generated features of each class, (num_classes,); NaN for a
    class with fewer than two images on either side (a small folder's stand-in test split may lack one)."""
    def one(c: int) -> float:
        a, b = fake[fake_labels == c].double(), real[real_labels == c].double()
        return frechet_distance(a, b) if min(len(a), len(b)) >= 2 else float("nan")
    return np.array([one(c) for c in range(num_classes)])


def nearest_distances(points: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Each point's distance to its nearest neighbour in `reference`."""
    points, reference = points.double(), reference.double()
    rows = _rows(reference)
    return torch.cat([torch.cdist(points[i:i + rows], reference).min(1).values for i in range(0, len(points), rows)])


def copy_threshold(unseen: torch.Tensor, train: torch.Tensor, quantile: float = 0.01) -> float:
    """The distance to the nearest training image that only `quantile` of real unseen images come under."""
    return float(torch.quantile(nearest_distances(unseen, train), quantile))


def memorised(fake: torch.Tensor, train: torch.Tensor, threshold: float) -> float:
    """The share of samples nearer a training image than `threshold` (copy_threshold): about its
    quantile for a generator that does not copy, 1 for one that replays its training set."""
    return float((nearest_distances(fake, train) < threshold).double().mean())
