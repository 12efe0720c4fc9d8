"""The standard figures (output/metrics.py) against published implementations' numbers on fixed arrays, and
on the known cases: a set against itself, one sample repeated, training images replayed."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from cgan_core.output.metrics import (
    copy_threshold,
    density_coverage,
    intra_class_frechet,
    kid,
    memorised,
    mmd2_unbiased,
    precision_recall,
)


def fixed_arrays():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(200, 8))
    fake = rng.normal(loc=0.3, scale=1.2, size=(150, 8))
    same_size = rng.normal(loc=0.3, scale=1.2, size=(200, 8))
    return torch.tensor(real), torch.tensor(fake), torch.tensor(same_size)


# Computed once with prdc 0.2 (Naeem et al.'s own package: compute_prdc(real, fake, nearest_k=k)) and with
# torchmetrics 1.9's poly_mmd (its KernelInceptionDistance's kernel and estimator), on the arrays above.
PRDC = {3: (0.7133333333333334, 0.975, 0.56, 0.66), 5: (0.8, 0.985, 0.592, 0.83)}
TORCHMETRICS_MMD = 0.6765838297959257


@pytest.mark.parametrize("k", [3, 5])
def test_precision_recall_density_coverage_match_the_authors_package(k):
    real, fake, _ = fixed_arrays()
    assert precision_recall(real, fake, k) + density_coverage(real, fake, k) == pytest.approx(PRDC[k], abs=1e-12)


def test_the_mmd_matches_torchmetrics_and_is_unbiased():
    real, _, fake = fixed_arrays()
    assert mmd2_unbiased(real, fake) == pytest.approx(TORCHMETRICS_MMD, rel=1e-12)
    # unbiased: two samples of one distribution average to 0 (the biased estimate stays above it)
    gen = torch.Generator().manual_seed(1)
    values = [mmd2_unbiased(torch.randn(50, 4, generator=gen), torch.randn(50, 4, generator=gen)) for _ in range(200)]
    assert abs(np.mean(values)) < 3 * np.std(values) / np.sqrt(len(values))


def test_kid_separates_distributions_and_reports_its_spread():
    gen = torch.Generator().manual_seed(2)
    a, b = torch.randn(600, 16, generator=gen), torch.randn(600, 16, generator=gen)
    shifted = torch.randn(600, 16, generator=gen) + 0.5
    same, spread = kid(a, b, subsets=10, subset_size=200)
    apart, _ = kid(a, shifted, subsets=10, subset_size=200)
    assert abs(same) < 3 * spread and spread > 0 and apart > same + 10 * spread
    with pytest.raises(ValueError, match="at least 2"):
        kid(a[:1], b)


def test_one_sample_repeated_is_precise_but_covers_nothing():
    gen = torch.Generator().manual_seed(3)
    real = torch.randn(300, 8, generator=gen)
    repeated = real[:1].repeat(300, 1)  # a real point, drawn every time: mode collapse
    precision, recall = precision_recall(real, repeated)
    density, coverage = density_coverage(real, repeated)
    assert precision == 1.0 and recall < 0.02 and coverage < 0.05
    assert precision_recall(real, real) == (1.0, 1.0) and density_coverage(real, real)[1] == 1.0


def test_noise_is_bad_on_every_figure():
    gen = torch.Generator().manual_seed(4)
    real, noise = torch.randn(300, 8, generator=gen), torch.rand(300, 8, generator=gen) * 20 - 10
    precision, recall = precision_recall(real, noise)
    density, coverage = density_coverage(real, noise)
    assert precision < 0.2 and density < 0.2 and coverage < 0.5
    # Recall is fooled by wide, sparse samples (their k-NN balls swallow the real set), which is why
    # coverage, built on the real set's own balls, is reported beside it (Naeem et al. 2020).
    assert recall > 0.9
    assert kid(real, noise, subset_size=300)[0] > 1


def test_replayed_training_images_are_flagged_as_memorised():
    gen = torch.Generator().manual_seed(5)
    train, unseen, fresh = (torch.randn(500, 8, generator=gen) for _ in range(3))
    threshold = copy_threshold(unseen, train)
    assert memorised(train[:200], train, threshold) == 1.0
    assert memorised(fresh, train, threshold) < 0.05


def test_intra_class_frechet_is_per_class():
    gen = torch.Generator().manual_seed(6)
    labels = torch.arange(2).repeat_interleave(400)
    real = torch.randn(800, 4, generator=gen) + labels[:, None] * 3
    fake = torch.randn(800, 4, generator=gen) + labels[:, None] * 3
    fake[labels == 1] += 2  # class 1 drawn off its place
    per_class = intra_class_frechet(real, labels, fake, labels, 2)
    assert per_class[0] < 0.2 and per_class[1] > 3.5


def test_independent_figures_on_mnist_read_the_known_cases(small_sets, monkeypatch):
    """Random-CNN features on real digits: unseen real images sit at the floor, replayed training images
    are flagged, one image a class is precise but covers nothing, noise is bad on every figure."""
    from cgan_core.data import load_mnist
    from cgan_core.output import independent
    from cgan_core.output.independent import RandomFeatures, features, independent_figures, set_figures

    # CAS's classifiers see 4,000 images instead of 10,000: real digits still score about 0.8, well clear of
    # the 0.7 asked below, in 40% of the time.
    monkeypatch.setattr(independent, "CAS_IMAGES", 4_000)

    train, test = small_sets
    names, n = train.class_names, 300
    picks = torch.arange(n)
    replay = independent_figures(train.images[n:2 * n], train.labels[n:2 * n], train, test, picks, names)
    made, floor = replay["generated"], replay["real_floor"]
    assert made["memorised"] == 1.0 and floor["memorised"] < 0.05
    assert abs(made["precision"] - floor["precision"]) < 0.1 and abs(made["coverage"] - floor["coverage"]) < 0.1
    assert made["cas"] > 0.7 and floor["cas"] > 0.7 and set(made["cas_per_class"]) == set(names)
    net, side = RandomFeatures(1), test
    side_feats = features(net, side.images)
    unseen = load_mnist("train")  # images the small training set never held
    real = set_figures(net, unseen.images[6000:7000], unseen.labels[6000:7000], side, side_feats, 10)
    labels = torch.arange(10).repeat_interleave(100)
    firsts = torch.tensor([int(torch.nonzero(train.labels == c)[0]) for c in range(10)])
    one_each = set_figures(net, train.images[firsts].repeat_interleave(100, 0), labels, side, side_feats, 10)
    noise = (torch.rand(1000, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)
    junk = set_figures(net, noise, labels, side, side_feats, 10)
    assert real["precision"] > 0.6 and real["recall"] > 0.6 and real["coverage"] > 0.8
    # Ten real digits are as precise as real digits are against 1,000 test images (about half lie inside
    # their k-NN balls), but they cover and recall almost nothing: mode collapse shows in those two.
    assert one_each["precision"] >= 0.4 and one_each["recall"] < 0.05 and one_each["coverage"] < 0.05
    assert junk["precision"] == junk["recall"] == junk["coverage"] == 0.0
    assert junk["kid"] > 100 * real["kid"] and junk["intra_frechet"] > 5 * real["intra_frechet"]
    assert one_each["intra_frechet"] > 3 * real["intra_frechet"]
