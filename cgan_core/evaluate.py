"""Offline quality of a generator, measured with the dataset's own domain classifier:
conditional accuracy (overall and per class), Frechet distance of the classifier's penultimate
features against the real test split (beside the real-vs-real floor), and within-class diversity
relative to the real data."""
from __future__ import annotations

import json

import numpy as np
import torch

from .classifier import DomainClassifier, load_or_train_on
from .data import ImageDataset, load_dataset
from .guard import within_class_diversity
from .sampling import to_uint8


@torch.no_grad()
def features_and_predictions(model: DomainClassifier, images: torch.Tensor, batch: int = 1000):
    from .classifier import to_input

    feats, preds = [], []
    for i in range(0, len(images), batch):
        f = model.features(to_input(images[i : i + batch]))
        feats.append(f.double())
        preds.append(model.head(f).argmax(1))
    return torch.cat(feats), torch.cat(preds)


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """|mu_a - mu_b|^2 + tr(Sa + Sb - 2 (Sa^1/2 Sb Sa^1/2)^1/2), in float64, via symmetric eigendecompositions."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    vals, vecs = torch.linalg.eigh(cov_a)
    root_a = vecs @ torch.diag(vals.clamp_min(0).sqrt()) @ vecs.T
    middle = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp_min(0).sqrt().sum()
    return float((mu_a - mu_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * middle)


def evaluate_images(images: torch.Tensor, labels: torch.Tensor, classifier: DomainClassifier,
                    test: ImageDataset, class_names: list[str], floor_images: torch.Tensor) -> dict:
    """Scores for uint8 images (N, C, H, W) that were asked to show `labels`.

    The floor is the distance of `floor_images` (real, from another split, as many as `images`:
    Frechet estimates depend on the sample size) to the same real test split.
    """
    feats, preds = features_and_predictions(classifier, images)
    real_feats, _ = features_and_predictions(classifier, test.images)
    floor = frechet_distance(features_and_predictions(classifier, floor_images)[0], real_feats)
    k = len(class_names)
    signed = images.float() / 127.5 - 1
    real_signed = test.images.float() / 127.5 - 1
    diversity = within_class_diversity(signed, labels, k) / np.maximum(within_class_diversity(real_signed, test.labels, k), 1e-6)
    correct = preds == labels
    return {
        "samples": int(len(labels)),
        "accuracy": round(float(correct.float().mean()), 4),
        "per_class_accuracy": {class_names[c]: round(float(correct[labels == c].float().mean()), 4)
                               for c in range(k) if int((labels == c).sum())},
        "frechet_distance": round(frechet_distance(feats, real_feats), 3),
        "frechet_floor_real_vs_real": round(floor, 3),
        "diversity_vs_real": round(float(diversity.mean()), 4),
        "per_class_diversity_vs_real": {class_names[c]: round(float(diversity[c]), 4) for c in range(k)},
    }


def evaluate_generator(g: torch.nn.Module, info: dict, per_class: int = 100, seed: int = 0,
                       dataset: str = "mnist") -> dict:
    shape = json.loads(info["image_shape"]) if isinstance(info.get("image_shape"), str) else list(g.image_shape)
    options = {"image_size": int(shape[1]), "color": "grey" if shape[0] == 1 else "rgb"}
    train = load_dataset(dataset, "train", **options)
    test = load_dataset(dataset, "test", **options)
    classifier, test_accuracy = load_or_train_on(train, test)
    labels = torch.arange(g.num_classes).repeat_interleave(per_class)
    z = torch.randn(len(labels), g.latent_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        images = to_uint8(g.eval()(z, labels).float(), info["output_range"])
    picks = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[: len(labels)]
    result = evaluate_images(images, labels, classifier, test, list(info["class_names"]), train.images[picks])
    return {**result, "classifier_test_accuracy": round(test_accuracy, 4), "seed": seed, "dataset": dataset}
