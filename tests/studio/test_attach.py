"""Attach to run…: the studio follows a run that another process writes, and steers it by files."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest


def test_attached_studio_shows_a_cli_run_and_its_lr_change_lands_at_the_acknowledged_step(qtbot, window, tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "cgan_core", "train", "--preset", "mlp-label-concat",
                             "--batch-size", "16", "--max-seconds", "120", "--out", str(run)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        qtbot.waitUntil(lambda: (run / "config.json").is_file(), timeout=60_000)
        window.config_panel.lr_g.setValue(3e-3)  # whatever the panel held before ...
        window.attach(run)
        assert window.running and window.controller.attached is not None
        assert window.config_panel.lr_g.value() == pytest.approx(2e-4)  # ... it now shows the followed run's
        qtbot.waitUntil(lambda: window.loss_plot.point_count > 50, timeout=60_000)  # its curves stream in
        qtbot.waitUntil(lambda: window.sample_grid.step > 0, timeout=60_000)  # and its grids
        window.config_panel.lr_d.setValue(1e-5)  # an edit in the panel goes to the run's control folder
        qtbot.waitUntil(lambda: any("lr D" in m.label.toPlainText() for m in window.loss_plot.markers), timeout=30_000)
        window.stop()
        qtbot.waitUntil(lambda: not window.running, timeout=60_000)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    applied = next(e for e in events if e["event"] == "control_applied" and e["command"] == "SetHParams")
    with open(run / "metrics.csv") as f:
        rows = [(int(r["step"]), float(r["lr_d"])) for r in csv.DictReader(f)]
    assert all(lr == pytest.approx(1e-5) for step, lr in rows if step > applied["step"])
    assert all(lr == pytest.approx(2e-4) for step, lr in rows if step <= applied["step"])
    assert "Finished (stopped)" in window.status.status_label.text()
    assert not any(e["event"] == "hparam" and e["name"] != "lr_d" for e in events)  # only what was edited


def test_attaching_to_a_folder_that_is_not_a_run_says_so(window, tmp_path):
    window.attach(tmp_path)
    assert not window.running and "not a run directory" in window.errors[-1]
