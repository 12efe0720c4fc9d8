"""The studio holds the app and nothing but the app: no training logic in studio/."""
from pathlib import Path

import studio


def test_studio_has_no_training_logic():
    for path in Path(studio.__file__).parent.rglob("*.py"):
        text = path.read_text()
        for forbidden in (".backward(", "optim.", "torch.save(", "torch.load("):
            assert forbidden not in text, f"{path.name} contains {forbidden!r}"
