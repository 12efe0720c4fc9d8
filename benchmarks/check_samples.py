"""Score a `cgan-studio sample ... --out s.npz` file with an independent MNIST classifier
(a separate CNN trained on the real training split, never on generated data).

    .venv/bin/python -m benchmarks.check_samples s.npz
"""
from __future__ import annotations

import json
import sys

import numpy as np
import torch

from cgan_core.output.classifier import load_or_train, predict


def main(path: str) -> None:
    data = np.load(path)
    images = torch.from_numpy(data["images"]).unsqueeze(1)
    labels = torch.from_numpy(data["labels"])
    classifier, test_accuracy = load_or_train("mnist")
    predicted = predict(classifier, images)
    per_class = {int(c): round(float((predicted[labels == c] == c).float().mean()), 3) for c in labels.unique()}
    print(json.dumps({"samples": len(labels), "accuracy": round(float((predicted == labels).float().mean()), 4),
                      "per_class": per_class, "classifier_test_accuracy": round(test_accuracy, 4)}))


if __name__ == "__main__":
    main(sys.argv[1])
