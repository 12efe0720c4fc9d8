"""Figures in features that the selection never saw.

Live quality, the best generator and the sweeps' objective all use the dataset's domain classifier; a
generator chosen by a network and graded by the same network can be lowered on what that network attends
to without being better (Kynkäänniemi et al. 2023). These figures use a randomly initialised CNN instead,
seeded and never trained: Naeem et al. (2020) recommend random embeddings for data far from ImageNet, it
needs no weights from anywhere, and no training (ours or a selection's) has shaped what it sees. Beside
them, the Classification Accuracy Score (Ravuri & Vinyals 2019) trains a fresh classifier on the samples
alone and tests it on the real test split, and a memorisation share compares samples with the training
images themselves (pixels). Every figure has its real-vs-real floor: the same figure for as many real
training images, against the same real test images.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cgan_core.data import ImageDataset
from cgan_core.output.classifier import predict, train_classifier
from cgan_core.output.metrics import (
    copy_threshold,
    density_coverage,
    intra_class_frechet,
    kid,
    memorised,
    precision_recall,
)

FEATURE_SEED = 0
MEMORISATION_SAMPLES = 1000  # samples compared with every training image (pixels, 14x14): a second or so
CAS_IMAGES = 10_000


class RandomFeatures(nn.Module):
    """Three seeded random convolutions (ReLU, stride 2), pooled to 2x2: 4 x width features."""

    def __init__(self, channels: int, width: int = 32, seed: int = FEATURE_SEED) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.convs = nn.ModuleList([nn.Conv2d(c_in, c_out, 3, stride=2, padding=1)
                                    for c_in, c_out in [(channels, width // 4), (width // 4, width // 2), (width // 2, width)]])
        with torch.no_grad():
            for conv in self.convs:  # He-normal from our own generator: the same network on every machine
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * np.sqrt(2.0 / conv.weight[0].numel()))
                conv.bias.zero_()
        self.requires_grad_(False)

    @torch.no_grad()
    def forward(self, images_uint8: torch.Tensor) -> torch.Tensor:
        x = images_uint8.float() / 127.5 - 1
        for conv in self.convs:
            x = F.relu(conv(x))
        return F.adaptive_avg_pool2d(x, 2).flatten(1).double()


def features(net: RandomFeatures, images: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    return torch.cat([net(images[i:i + batch]) for i in range(0, len(images), batch)])


class LiveIndependent:
    """The random network's side of live quality, computed once per run: the test split's features for
    KID, and each class's real-vs-real Fréchet distance at the live sample size (per_class training images
    of the class against the test images of it) as the per-class floor. A measurement is then the random
    network on the samples (milliseconds), ten subset KIDs and one small Fréchet distance per class."""

    def __init__(self, train: ImageDataset, test: ImageDataset, per_class: int, seed: int = 0) -> None:
        self.net = RandomFeatures(test.images.shape[1])
        self.num_classes = test.num_classes
        self.test_feats, self.test_labels = features(self.net, test.images), test.labels
        gen = torch.Generator().manual_seed(seed)
        picks = torch.cat([torch.nonzero(train.labels == c).flatten()[torch.randperm(int((train.labels == c).sum()),
                                                                                      generator=gen)[:per_class]]
                           for c in range(self.num_classes)])
        self.floor = intra_class_frechet(self.test_feats, self.test_labels, features(self.net, train.images[picks]),
                                         train.labels[picks], self.num_classes)

    def measure(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, float, np.ndarray]:
        """(KID, its spread over subsets, the per-class Fréchet distances) of uint8 samples."""
        feats = features(self.net, images)
        kid_mean, kid_spread = kid(self.test_feats, feats, subsets=10, subset_size=min(1000, len(feats) // 2))
        return kid_mean, kid_spread, intra_class_frechet(self.test_feats, self.test_labels, feats, labels,
                                                         self.num_classes)


def _pixels(images: torch.Tensor) -> torch.Tensor:
    """Images as 14x14 (or smaller) pixel vectors: a copy stays a copy, and the search stays cheap."""
    side = min(14, images.shape[-1])
    return F.adaptive_avg_pool2d(images.float() / 255.0, side).flatten(1)


def set_figures(net: RandomFeatures, images: torch.Tensor, labels: torch.Tensor, test: ImageDataset,
                test_feats: torch.Tensor, num_classes: int) -> dict:
    """KID, precision, recall, density, coverage and intra-class Fréchet distance of one set of images
    against the real test split, in the random network's features."""
    feats = features(net, images)
    kid_mean, kid_spread = kid(test_feats, feats, subsets=10, subset_size=min(1000, len(feats) // 2))
    precision, recall = precision_recall(test_feats, feats)
    density, coverage = density_coverage(test_feats, feats)
    per_class = intra_class_frechet(test_feats, test.labels, feats, labels, num_classes)
    return {"kid": kid_mean, "kid_spread": kid_spread, "precision": precision, "recall": recall,
            "density": density, "coverage": coverage, "intra_frechet": float(per_class.mean()),
            "intra_frechet_per_class": per_class.tolist()}


def classification_accuracy_score(images: torch.Tensor, labels: torch.Tensor, test: ImageDataset,
                                  class_names: list[str]) -> tuple[float, list[float]]:
    """A fresh classifier trained on `images` only (seeded), tested on the real test split:
    overall and per class (the classes the generator fails show here)."""
    # At least ~10,000 images shown, whatever the set's size: a small set is seen for more epochs.
    epochs = max(2, round(CAS_IMAGES / len(images)))
    model = train_classifier(ImageDataset("samples", images, labels, list(class_names)), epochs=epochs)
    correct = predict(model, test.images) == test.labels
    return float(correct.float().mean()), [float(correct[test.labels == c].float().mean())
                                           for c in range(len(class_names))]


def independent_figures(images: torch.Tensor, labels: torch.Tensor, train: ImageDataset, test: ImageDataset,
                        real_picks: torch.Tensor, class_names: list[str], seed: int = 0) -> dict:
    """Every figure for the generated `images` (uint8, asked to show `labels`) and, as its floor, for the
    real training images `real_picks` (as many, the same classes). The real side is as many test images
    (precision, recall, density and coverage compare sets of one size)."""
    net, k = RandomFeatures(images.shape[1]), len(class_names)
    order = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))
    side = ImageDataset(test.name, test.images[order[:len(images)]], test.labels[order[:len(images)]], list(class_names))
    side_feats = features(net, side.images)
    real_images, real_labels = train.images[real_picks], train.labels[real_picks]
    generated = set_figures(net, images, labels, side, side_feats, k)
    floor = set_figures(net, real_images, real_labels, side, side_feats, k)
    generated["cas"], per_class_cas = classification_accuracy_score(images, labels, test, class_names)
    floor["cas"], _ = classification_accuracy_score(real_images, real_labels, test, class_names)
    generated["cas_per_class"] = per_class_cas
    # Memorisation: the nearest training image of each sample against that of real unseen images.
    m = min(MEMORISATION_SAMPLES, len(test) // 2)  # half the unseen images set the threshold, half are its floor
    train_pixels, unseen = _pixels(train.images), _pixels(test.images[order[-2 * m:]])
    threshold = copy_threshold(unseen[m:], train_pixels)
    generated["memorised"] = memorised(_pixels(images[:m]), train_pixels, threshold)
    floor["memorised"] = memorised(unseen[:m], train_pixels, threshold)
    return {"features": f"random CNN (seed {FEATURE_SEED}, never trained)", "generated": _rounded(generated, class_names),
            "real_floor": _rounded(floor, class_names)}


def _rounded(figures: dict, class_names: list[str]) -> dict:
    out = {}
    for key, value in figures.items():
        if isinstance(value, list):
            out[key] = {name: round(v, 4) for name, v in zip(class_names, value)}
        else:
            out[key] = round(value, 6 if key.startswith("kid") else 4)
    return out
