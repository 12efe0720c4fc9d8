"""The studio's worker on CUDA, offscreen: the default device is the GPU where there is one, the run
streams its steps, and it stops cleanly. Part of the CUDA tier (skipped without a GPU)."""
from __future__ import annotations

import pytest
import torch

NO_GPU = "CUDA is not available (torch.cuda.is_available() is False)"
pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_GPU)]


def test_the_studio_trains_on_cuda_by_default(qtbot, window):
    w = window
    assert w.config_panel.device.currentData() == "auto"
    w.start()
    qtbot.waitUntil(lambda: w.worker is not None and w.worker.run is not None, timeout=60_000)
    qtbot.waitUntil(lambda: w.worker.run.step_count >= 10, timeout=60_000)
    assert w.worker.run.trainer.device.type == "cuda"
    qtbot.waitUntil(lambda: w.loss_plot.point_count > 0, timeout=30_000)  # its losses reached the plot
    w.controls.stop_button.click()
    qtbot.waitUntil(lambda: not w.running, timeout=60_000)
    assert "Finished" in w.status.status_label.text()
