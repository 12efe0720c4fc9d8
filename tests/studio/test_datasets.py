"""A folder of the user's own images trains in the studio, its class names on the grid rows; a bad
folder gives a dialog and the window stays up."""
from __future__ import annotations

import numpy as np
from PIL import Image


def write_folder(root, classes=("apple", "pear", "plum"), per_class=8):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(root / c / f"{i}.jpg")
    return root


def test_own_image_folder_trains_with_its_class_names(qtbot, window, tmp_path):
    w = window
    folder = write_folder(tmp_path / "fruit")
    picker = w.config_panel.data_picker
    picker.set_dataset(str(folder))
    picker.size.setCurrentIndex(picker.size.findData(32))
    assert w.config_panel.config().dataset == str(folder)
    w.start()
    qtbot.waitUntil(lambda: w.worker is not None and w.worker.run is not None and w.worker.run.step_count >= 6,
                    timeout=60_000)
    qtbot.waitUntil(lambda: w.sample_grid.class_names == ("apple", "pear", "plum"), timeout=30_000)
    assert w.sample_grid.array.shape[2] == 3  # RGB kept as found
    assert w.worker.run.trainer.dataset.image_shape == (3, 32, 32)
    w.stop()
    qtbot.waitUntil(lambda: not w.running, timeout=30_000)


def test_a_bad_folder_gives_a_dialog_and_the_window_stays_up(qtbot, window, tmp_path):
    w = window
    (tmp_path / "only").mkdir()
    write_folder(tmp_path / "only" / "x", classes=("single",))
    w.config_panel.data_picker.set_dataset(str(tmp_path / "only" / "x"))
    w.start()
    qtbot.waitUntil(lambda: not w.running, timeout=60_000)
    assert w.errors and "only one class" in w.errors[-1] and "single" in w.errors[-1]
    assert w.isVisible()
