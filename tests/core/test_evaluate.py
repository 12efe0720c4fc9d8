"""The offline evaluator, on a classifier trained on a small real subset (seconds, not minutes)."""
from __future__ import annotations

import pytest
import torch

from cgan_core.data import ImageDataset
from cgan_core.output.classifier import cache_path, load_or_train_on
from cgan_core.output.evaluate import evaluate_images, features_and_predictions, mean_of_draws
from cgan_core.output.metrics import frechet_distance


def test_ranks_real_above_shuffled_above_noise(classifier, small_sets):
    _, test = small_sets
    images, labels = test.images[:500], test.labels[:500]
    shuffled = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))]
    noise = torch.randint(0, 256, images.shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    names = test.class_names
    train, _ = small_sets
    floor = train.images[:500]
    real = evaluate_images(images, labels, classifier, test, names, floor)
    wrong = evaluate_images(images, shuffled, classifier, test, names, floor)
    junk = evaluate_images(noise, labels, classifier, test, names, floor)
    assert real["accuracy"] > 0.85 > 0.3 > wrong["accuracy"]  # labels matter for conditional accuracy
    assert real["frechet_distance"] < junk["frechet_distance"] / 10  # images matter for the distance
    assert wrong["frechet_distance"] < junk["frechet_distance"] / 10
    assert real["frechet_floor_real_vs_real"] < junk["frechet_distance"]
    assert 0.7 < real["diversity_vs_real"] < 1.3 and set(real["per_class_accuracy"]) == set(names)


def test_deterministic(classifier, small_sets):
    _, test = small_sets
    images, labels = test.images[:200], test.labels[:200]
    floor = small_sets[0].images[:200]
    assert evaluate_images(images, labels, classifier, test, test.class_names, floor) == \
        evaluate_images(images, labels, classifier, test, test.class_names, floor)


def test_frechet_distance_of_identical_sets_is_zero():
    x = torch.randn(500, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    assert abs(frechet_distance(x, x)) < 1e-6
    assert frechet_distance(x, x + 1.0) == pytest.approx(8.0, rel=1e-6)  # only the means moved, by 1 in 8 dims


def test_cache_is_reused_and_invalidated_when_data_changes(classifier, small_sets):
    train, test = small_sets
    path = cache_path(train)
    assert path.is_file()
    stamp = path.stat().st_mtime_ns
    load_or_train_on(train, test, epochs=1)
    assert path.stat().st_mtime_ns == stamp  # reused, not retrained
    changed = ImageDataset(train.name, train.images.clone(), train.labels, train.class_names)
    changed.images[0, 0, 0, 0] = 255
    assert cache_path(changed) != path


def test_draws_are_averaged_and_the_ratio_is_of_the_means(classifier, small_sets):
    train, test = small_sets
    names = test.class_names
    real_feats, _ = features_and_predictions(classifier, test.images)
    # Two draws of different quality: real digits, and real digits with every tenth pixel row blanked.
    damaged = test.images[:300].clone()
    damaged[:, :, ::10] = 0
    first = evaluate_images(test.images[:300], test.labels[:300], classifier, test, names, train.images[:300])
    second = evaluate_images(damaged, test.labels[:300], classifier, test, names, train.images[300:600], real_feats)
    assert second == evaluate_images(damaged, test.labels[:300], classifier, test, names, train.images[300:600])
    mean = mean_of_draws([first, second])
    fd = (first["frechet_distance"] + second["frechet_distance"]) / 2
    floor = (first["frechet_floor_real_vs_real"] + second["frechet_floor_real_vs_real"]) / 2
    assert second["frechet_distance"] > first["frechet_distance"]
    assert mean["draws"] == 2 and mean["frechet_distance"] == pytest.approx(fd, abs=1e-3)
    assert mean["frechet_floor_real_vs_real"] == pytest.approx(floor, abs=1e-3)
    assert mean["frechet_vs_floor"] == pytest.approx(fd / floor, abs=1e-3)
    assert mean["frechet_vs_floor_each_draw"] == [
        round(r["frechet_distance"] / r["frechet_floor_real_vs_real"], 3) for r in (first, second)]
    assert mean["accuracy"] == pytest.approx((first["accuracy"] + second["accuracy"]) / 2, abs=1e-4)
    assert set(mean["per_class_accuracy"]) == set(names)
