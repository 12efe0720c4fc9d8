"""The studio window driven as a user drives it, with a real engine on tiny settings."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from cgan_core.output.checkpoint import load_generator


def wait_started(qtbot, w, timeout=60_000):
    qtbot.waitUntil(lambda: w.worker is not None and w.worker.run is not None and w.run_dir is not None, timeout=timeout)


def run_steps(w) -> int:
    return w.worker.run.step_count


def test_start_streams_curves_and_grid(qtbot, window):
    w = window
    with qtbot.waitSignal(w.controls.start_action.triggered, timeout=1000):
        w.controls.start_button.click()
    qtbot.waitUntil(lambda: w.loss_plot.point_count >= 20, timeout=60_000)
    qtbot.waitUntil(lambda: not w.sample_grid.is_blank(), timeout=30_000)
    assert w.sample_grid.array.shape[0] > 10 * 28  # ten rows of digits
    qtbot.waitUntil(lambda: w.loss_plot.smooth_curves["d1"].getData()[0] is not None, timeout=5_000)
    assert len(w.loss_plot.smooth_curves["d1"].getData()[0]) > 0  # drawn, not only buffered
    assert not w.config_panel.batch_size.isEnabled()  # fixed fields are locked while live
    assert w.config_panel.lr_g.isEnabled()
    assert "step" in w.status.status_label.text() and w.status.run_dir_label.text()
    w.controls.stop_button.click()
    qtbot.waitUntil(lambda: not w.running, timeout=30_000)
    assert w.config_panel.batch_size.isEnabled()
    assert "Finished" in w.status.status_label.text()


def round_trip(qtbot, w) -> int:
    """Send the loop a command that it answers (CopyGenerator: a GeneratorCopy event) and wait for the answer:
    the step count then is where the loop stands, not a count read while a step may still come."""
    from cgan_core.run import commands as cmd
    from cgan_core.run.events import GeneratorCopy

    answers, original = [], w.handlers[GeneratorCopy]
    w.handlers[GeneratorCopy] = lambda e: (answers.append(run_steps(w)), original(e))
    try:
        w.controller.send(cmd.CopyGenerator())
        qtbot.waitUntil(lambda: bool(answers), timeout=10_000)
    finally:
        w.handlers[GeneratorCopy] = original
    return answers[0]


def test_pause_stops_and_step_advances_exactly_one(qtbot, window):
    w = window
    w.start()
    wait_started(qtbot, w)
    qtbot.waitUntil(lambda: run_steps(w) >= 3, timeout=30_000)
    w.controls.pause_button.click()
    assert w.controls.pause_button.text() == "Resume"
    qtbot.waitUntil(lambda: "PAUSED" in w.status.status_label.text(), timeout=10_000)  # the run's own Progress
    paused_at = run_steps(w)
    assert round_trip(qtbot, w) == paused_at  # the paused loop answers a command, and has not stepped
    w.controls.step_button.click()
    qtbot.waitUntil(lambda: run_steps(w) == paused_at + 1, timeout=10_000)
    assert round_trip(qtbot, w) == paused_at + 1  # one step, then paused again
    qtbot.waitUntil(lambda: int(w.loss_plot.steps[-1]) == paused_at + 1, timeout=5_000)  # the point is shown
    g_before = [p.clone() for p in w.worker.run.trainer.g.parameters()]
    w.controls.step_d_button.click()
    qtbot.waitUntil(lambda: run_steps(w) == paused_at + 2, timeout=10_000)
    assert all(torch.equal(a, b) for a, b in zip(g_before, w.worker.run.trainer.g.parameters()))
    w.controls.pause_button.click()  # resume
    qtbot.waitUntil(lambda: run_steps(w) > paused_at + 5, timeout=30_000)
    w.stop()
    qtbot.waitUntil(lambda: not w.running, timeout=30_000)


def test_live_lr_change_reaches_optimizer_and_draws_marker(qtbot, window):
    w = window
    w.start()
    wait_started(qtbot, w)
    qtbot.waitUntil(lambda: run_steps(w) >= 2, timeout=30_000)
    w.config_panel.lr_d.setValue(1e-5)
    opt = w.worker.run.trainer.opt_d
    qtbot.waitUntil(lambda: opt.param_groups[0]["lr"] == pytest.approx(1e-5), timeout=10_000)
    qtbot.waitUntil(lambda: len(w.loss_plot.markers) == 1, timeout=10_000)
    assert "lr D 4e-4 -> 1e-5" in w.loss_plot.markers[0].label.toPlainText()
    w.stop()
    qtbot.waitUntil(lambda: not w.running, timeout=30_000)
    events = (w.run_dir / "events.jsonl").read_text()
    assert '"lr_d"' in events


def test_error_in_worker_shows_dialog_and_app_stays_up(qtbot, window, tmp_path):
    from PySide6.QtWidgets import QMessageBox

    bad_run = tmp_path / "bad-run"
    (bad_run / "checkpoints").mkdir(parents=True)
    (bad_run / "checkpoints" / "step-000000010.pt").write_bytes(b"garbage")
    window.resume_dir = bad_run  # continuing a run whose only checkpoint is corrupt fails in the worker
    window.start()
    qtbot.waitUntil(lambda: window.findChild(QMessageBox, "errorDialog") is not None, timeout=30_000)
    assert "step-000000010.pt" in window.errors[-1]
    qtbot.waitUntil(lambda: not window.running, timeout=30_000)
    assert window.isVisible() and window.controls.start_action.isEnabled()


def test_bad_value_shows_dialog(qtbot, window, tmp_path):
    from PySide6.QtWidgets import QMessageBox

    window.config_panel.steps.setValue(0)
    window.config_panel.preset.setCurrentText("dcgan-label-channel")
    window.config_panel.batch_size.setValue(2)
    window.config_panel.latent_dim.setValue(2)
    window.start()  # tiny but valid: starts
    wait_started(qtbot, window)
    window.stop()
    qtbot.waitUntil(lambda: not window.running, timeout=30_000)
    window.errors.clear()
    gone = tmp_path / "my-images"
    gone.mkdir()
    window.config_panel.data_picker.set_dataset(str(gone))  # picked with "Folder…", then deleted
    gone.rmdir()
    window.start()
    assert not window.running and len(window.errors) == 1 and "my-images: no such folder" in window.errors[0]
    assert window.findChild(QMessageBox, "errorDialog") is not None
    window.step_once()  # used to crash: it sent the step to a worker that the refused start never made
    assert not window.running and len(window.errors) == 2 and "no such folder" in window.errors[1]
    assert window.isVisible() and window.controls.start_action.isEnabled()
    window.config_panel.data_picker.set_dataset("mnist")


def test_open_run_export_grid_and_save_generator(qtbot, window, tmp_path):
    w = window
    w.config_panel.steps.setValue(12)
    w.start()
    qtbot.waitUntil(lambda: w.run_dir is not None, timeout=60_000)
    qtbot.waitUntil(lambda: not w.running, timeout=60_000)
    run_dir = w.run_dir
    w.files.save_generator(tmp_path / "g.safetensors")
    g, info = load_generator(tmp_path / "g.safetensors")
    assert info["class_names"][0] == "0"
    w.files.export_grid(tmp_path / "grid.png")
    assert (tmp_path / "grid.png").stat().st_size > 200
    w.loss_plot.clear()
    w.files.open_run(run_dir)
    assert w.loss_plot.point_count == 12
    assert w.resume_dir == run_dir and "step 12" in w.status.status_label.text()
    w.config_panel.steps.setValue(15)
    w.start()  # continues the opened run
    qtbot.waitUntil(lambda: w.worker is not None, timeout=5_000)
    qtbot.waitUntil(lambda: not w.running, timeout=60_000)
    assert w.loss_plot.point_count == 15


CLOSE_SCRIPT = r"""
import sys
from PySide6.QtCore import QTimer
from studio.app import build_window
from PySide6.QtWidgets import QApplication
w = build_window()
w.config_panel.batch_size.setValue(16)
w.show()
QTimer.singleShot(0, w.start)
def close_when_training():
    if w.worker is not None and w.worker.run is not None and w.worker.run.step_count > 3:
        w.close()
    else:
        QTimer.singleShot(100, close_when_training)
QTimer.singleShot(100, close_when_training)
rc = QApplication.instance().exec()
print("steps", w.run_dir)
sys.exit(rc)
"""


def test_closing_during_training_exits_cleanly(tmp_path):
    result = subprocess.run([sys.executable, "-c", CLOSE_SCRIPT], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert "QThread" not in result.stderr and "Destroyed while thread" not in result.stderr
    run_dir = result.stdout.split("steps", 1)[1].strip()
    from pathlib import Path

    assert list((Path(run_dir) / "checkpoints").glob("step-*.pt"))  # the stop wrote a final checkpoint


def test_settings_remember_geometry_and_last_values(qtbot):
    from studio.app import build_window

    first = build_window()
    qtbot.addWidget(first)
    first.config_panel.preset.setCurrentText("mlp-label-concat")
    first.config_panel.lr_d.setValue(3e-5)
    first.show()
    default_height = first.size().height()
    first.resize(900, 520)
    assert first.size().height() == 520 != default_height
    first.splitter.setSizes([300, 500, 300])
    first.close()
    second = build_window()
    qtbot.addWidget(second)
    assert second.config_panel.preset.currentText() == "mlp-label-concat"
    assert second.config_panel.lr_d.value() == pytest.approx(3e-5)
    # The height comes back; the width is clamped to the offscreen screen (800 px) by restoreGeometry.
    assert second.size().height() == 520
    second.config_panel.preset.setCurrentText("studio-fast")  # leave the defaults for later tests
    second.close()


def test_worker_events_reach_the_window_in_the_gui_thread(qtbot, window):
    """Status, quality and grid updates must run in the GUI thread, never in the worker's."""
    import threading

    from cgan_core.run.events import LossChunk, Progress, SampleGrid
    from studio.stream.stream import Busy

    w, seen = window, []
    for kind in (Progress, Busy, LossChunk, SampleGrid):
        original = w.handlers[kind]
        w.handlers[kind] = lambda e, _o=original: (seen.append(threading.current_thread() is threading.main_thread()),
                                                   _o(e))
    w.start()
    qtbot.waitUntil(lambda: len(seen) >= 5, timeout=60_000)
    w.stop()
    qtbot.waitUntil(lambda: not w.running, timeout=30_000)
    assert all(seen), seen


def test_the_tensorboard_toggle_writes_event_files_beside_the_run(qtbot, window):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    w = window
    w.controls.tensorboard_action.setChecked(True)
    w.config_panel.steps.setValue(10)
    w.start()
    qtbot.waitUntil(lambda: w.run_dir is not None, timeout=60_000)
    qtbot.waitUntil(lambda: not w.running, timeout=60_000)
    board = EventAccumulator(str(w.run_dir / "tensorboard"), size_guidance={"scalars": 0})
    board.Reload()
    assert [e.step for e in board.Scalars("loss/d1")] == list(range(1, 11))
    assert "samples" in board.Tags()["images"]
