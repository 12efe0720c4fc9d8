"""Offline quality of a generator, measured with the dataset's own domain classifier:
conditional accuracy (overall and per class), Frechet distance of the classifier's penultimate
features against the real test split (beside the real-vs-real floor), and within-class diversity
relative to the real data."""
from __future__ import annotations

import json

import numpy as np
import torch

from cgan_core.data import ImageDataset, load_dataset
from cgan_core.output.classifier import DomainClassifier, load_or_train_on, to_input
from cgan_core.output.independent import independent_figures
from cgan_core.output.metrics import frechet_distance, within_class_diversity
from cgan_core.output.sampling import to_uint8


@torch.no_grad()
def features_and_predictions(model: DomainClassifier, images: torch.Tensor, batch: int = 1000):
    feats, preds = [], []
    for i in range(0, len(images), batch):
        f = model.features(to_input(images[i : i + batch]))
        feats.append(f.double())
        preds.append(model.head(f).argmax(1))
    return torch.cat(feats), torch.cat(preds)


def evaluate_images(images: torch.Tensor, labels: torch.Tensor, classifier: DomainClassifier,
                    test: ImageDataset, class_names: list[str], floor_images: torch.Tensor,
                    real_feats: torch.Tensor | None = None) -> dict:
    """Scores for uint8 images (N, C, H, W) that were asked to show `labels`.

    The floor is the distance of `floor_images` (real, from another split, as many as `images`:
    Frechet estimates depend on the sample size) to the same real test split. `real_feats`, the test
    split's features, may be passed in when several sets are scored against the same split.
    """
    feats, preds = features_and_predictions(classifier, images)
    if real_feats is None:
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
                       dataset: str = "mnist", draws: int = 1, independent: bool = False) -> dict:
    """Scores `draws` independent sets of `per_class` images a class (seeds seed, seed + 1, ...), each
    beside its own real floor of the same size, and reports their mean. One 1,000-image Frechet
    estimate moves by about +-15% from draw to draw (so does the floor's), too much to compare two
    good generators by; the mean of five moves by less than half of that (1/sqrt(5)).
    independent: also the field's figures in features the selection never saw (independent.py), on the
    first draw's images, each beside its real floor."""
    shape = json.loads(info["image_shape"]) if isinstance(info.get("image_shape"), str) else list(g.image_shape)
    options = {"image_size": int(shape[1]), "color": "grey" if shape[0] == 1 else "rgb"}
    train = load_dataset(dataset, "train", **options)
    test = load_dataset(dataset, "test", **options)
    classifier, test_accuracy = load_or_train_on(train, test)
    real_feats, _ = features_and_predictions(classifier, test.images)
    labels = torch.arange(g.num_classes).repeat_interleave(per_class)
    results, extra = [], {}
    for draw_seed in range(seed, seed + draws):
        z = torch.randn(len(labels), g.latent_dim, generator=torch.Generator().manual_seed(draw_seed))
        with torch.no_grad():
            images = to_uint8(g.eval()(z, labels).float(), info["output_range"])
        picks = torch.randperm(len(train), generator=torch.Generator().manual_seed(draw_seed))[: len(labels)]
        results.append(evaluate_images(images, labels, classifier, test, list(info["class_names"]),
                                       train.images[picks], real_feats))
        if independent and not extra:
            extra = {"independent": independent_figures(images, labels, train, test, picks, list(info["class_names"]),
                                                         draw_seed)}
    return {**mean_of_draws(results), "classifier_test_accuracy": round(test_accuracy, 4), "seed": seed,
            "dataset": dataset, **extra}


def mean_of_draws(results: list[dict]) -> dict:
    """The mean of `evaluate_images` results over equal-sized draws; the Frechet ratio is the ratio of
    the means (each draw's ratio is listed too, to show the spread)."""
    def mean(key: str, digits: int) -> float:
        return round(float(np.mean([r[key] for r in results])), digits)

    def mean_per_class(key: str) -> dict:
        return {name: round(float(np.mean([r[key][name] for r in results])), 4) for name in results[0][key]}

    frechet, floor = mean("frechet_distance", 3), mean("frechet_floor_real_vs_real", 3)
    return {
        "samples": results[0]["samples"], "draws": len(results),
        "accuracy": mean("accuracy", 4), "per_class_accuracy": mean_per_class("per_class_accuracy"),
        "frechet_distance": frechet, "frechet_floor_real_vs_real": floor,
        "frechet_vs_floor": round(frechet / floor, 3) if floor > 0 else None,
        "frechet_vs_floor_each_draw": [round(r["frechet_distance"] / r["frechet_floor_real_vs_real"], 3)
                                       for r in results if r["frechet_floor_real_vs_real"] > 0],
        "diversity_vs_real": mean("diversity_vs_real", 4),
        "per_class_diversity_vs_real": mean_per_class("per_class_diversity_vs_real"),
    }
