"""The domain classifier at every size the networks take. At 128 px its dense layer over the whole 32x32
feature map (8.4 M weights) stayed at chance after its two epochs on coloured MNIST (test accuracy 0.10,
so every quality figure of a 128 px run was empty); averaged down to 8x8 first it reached 0.40
(BENCHMARKS.md, "32, 64 and 128 px after 10 CPU-minutes")."""
from __future__ import annotations

import torch

from cgan_core.output.classifier import MAX_GRID, DomainClassifier


def test_the_dense_layer_sees_at_most_an_8x8_map_and_cached_classifiers_keep_their_keys():
    for side, grid in ((28, 7), (32, 8), (64, MAX_GRID), (128, MAX_GRID)):
        model = DomainClassifier(3, 10, side)
        assert model.features[-2].in_features == 64 * grid**2
        assert model(torch.zeros(2, 3, side, side)).shape == (2, 10)
    # A classifier cached before the averaging was added (same layers, same names) still loads.
    keys = ["features.0.weight", "features.0.bias", "features.3.weight", "features.3.bias", "features.7.weight",
            "features.7.bias", "head.weight", "head.bias"]
    assert sorted(DomainClassifier(1, 10, 28).state_dict()) == sorted(keys)
