"""Before Start, the panel says what the chosen settings will cost: size and memory at once, a step's time
on a click, and the refusal Start would meet where the run cannot fit."""
from __future__ import annotations

from PySide6.QtCore import Qt


def test_the_footprint_follows_the_settings_and_a_step_is_timed(window, qtbot):
    view = window.config_panel.footprint
    qtbot.waitUntil(lambda: "parameters" in view.label.text(), timeout=10_000)
    before = view.label.text()
    window.config_panel.batch_size.setValue(window.config_panel.batch_size.value() * 8)
    qtbot.waitUntil(lambda: view.label.text() != before and "parameters" in view.label.text(), timeout=10_000)
    qtbot.mouseClick(view.time_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: "s a step" in view.label.text(), timeout=60_000)
    assert "img/s" in view.label.text() and view.time_button.isEnabled()


def test_settings_that_cannot_fit_are_refused_before_start(window, qtbot):
    panel = window.config_panel
    panel.data_picker.load({"dataset": "mnist", "image_size": 128, "color": "rgb"})
    panel.preset.setCurrentText("resnet-projection")
    panel.batch_size.setValue(4096)  # the spin box's most: 385 GB at 128 px
    qtbot.waitUntil(lambda: "lower the batch size" in panel.footprint.label.text(), timeout=10_000)
    assert "--batch-size 4096" in panel.footprint.label.text() and not panel.footprint.time_button.isEnabled()
    panel.batch_size.setValue(16)
    qtbot.waitUntil(lambda: "lower the batch size" not in panel.footprint.label.text(), timeout=10_000)
    assert panel.footprint.time_button.isEnabled()


def test_an_edit_just_before_start_is_counted_for_the_run_that_starts(window, qtbot):
    view, panel = window.config_panel.footprint, window.config_panel
    qtbot.waitUntil(lambda: "parameters" in view.label.text(), timeout=10_000)
    before = view.label.text()
    panel.batch_size.setValue(24)  # Start before the count's 300 ms debounce: it is counted at Start
    window.start()
    assert view.label.text() != before and "parameters" in view.label.text() and not view.time_button.isEnabled()
    window.stop()
    qtbot.waitUntil(lambda: not window.running, timeout=30_000)
