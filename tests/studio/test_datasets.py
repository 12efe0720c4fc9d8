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


def test_colour_images_of_32_px_and_more_pick_the_rgb_preset_until_the_user_names_one(qtbot, tmp_path):
    from cgan_core.step.presets import get_preset
    from studio.main.config_panel import ConfigPanel

    panel = ConfigPanel()  # as a fresh window has it: no preset named yet
    qtbot.addWidget(panel)
    picker, fruit = panel.data_picker, str(write_folder(tmp_path / "fruit"))  # 40 px RGB: trains at 32
    picker.set_dataset(fruit)
    qtbot.waitUntil(lambda: panel.preset.currentText() == "resnet-projection", timeout=10_000)
    assert "Chosen for colour images of 32 px" in panel.preset.toolTip()
    assert panel.batch_size.value() == get_preset("resnet-projection").batch_size != get_preset("studio-fast").batch_size
    picker.set_dataset("mnist")  # grey 28 px: back to the usual one
    qtbot.waitUntil(lambda: panel.preset.currentText() == "studio-fast", timeout=10_000)
    panel.preset.setCurrentText("mlp-label-product")  # the user names one: it stays
    with qtbot.waitSignal(panel.footprint.planned, timeout=10_000):
        picker.set_dataset(fruit)
    assert panel.preset.currentText() == "mlp-label-product"
    # The studio's own settings remember whether the preset was named; a run's configuration names its preset.
    panel.load({"preset": "studio-fast", "dataset": fruit, "preset_named": False})
    qtbot.waitUntil(lambda: panel.preset.currentText() == "resnet-projection", timeout=10_000)
    with qtbot.waitSignal(panel.footprint.planned, timeout=10_000):
        panel.load({"preset": "studio-fast", "dataset": fruit, "image_size": None})
    assert panel.preset.currentText() == "studio-fast" and panel.preset_named
