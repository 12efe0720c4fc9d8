"""The checkpoint timeline: snapshots appear, a click previews one, "Roll back here" branches the run."""
from __future__ import annotations

from cgan_core.run.commands import SetGuard
from tests.studio.test_window import wait_started


def test_preview_and_manual_rollback_branch_the_curves(qtbot, window):
    w = window
    w.start()
    wait_started(qtbot, w)
    w.controller.send(SetGuard({"snapshot_every": 20}))  # sooner than the default 100, for a short test
    qtbot.waitUntil(lambda: len(w.timeline.snapshot_points.data) >= 3, timeout=60_000)
    target = int(w.timeline.snapshot_points.data[1]["x"])  # [0] is the run's start, step 0
    assert target > 0
    w.toggle_pause()
    w.timeline.select(target)
    w.timeline.previewRequested.emit(target)
    qtbot.waitUntil(lambda: w.sample_grid.step == target, timeout=10_000)
    before = w.worker.run.step_count
    w.timeline.rollback_button.click()
    qtbot.waitUntil(lambda: w.worker.run.step_count == target, timeout=10_000)
    qtbot.waitUntil(lambda: len(w.loss_plot.ghosts) == 3, timeout=10_000)  # d1, d2, g greyed after the branch
    assert int(w.loss_plot.steps[-1]) <= target < before
    assert any("manual rollback" in m.label.toPlainText() for m in w.loss_plot.markers)
    w.toggle_pause()
    qtbot.waitUntil(lambda: w.worker.run.step_count > target + 3, timeout=30_000)
    w.stop()
    qtbot.waitUntil(lambda: not w.running, timeout=30_000)
    events = (w.run_dir / "events.jsonl").read_text()
    assert '"event": "rollback"' in events and '"manual": true' in events


def test_guard_switched_off_and_edited_from_the_panel(qtbot, window):
    w = window
    w.start()
    wait_started(qtbot, w)
    w.config_panel.guard_backoff.setValue(0.25)
    qtbot.waitUntil(lambda: w.worker.run.guard.config.backoff == 0.25, timeout=10_000)
    w.config_panel.guard_box.setChecked(False)
    qtbot.waitUntil(lambda: not w.worker.run.guard.config.enabled, timeout=10_000)
    w.stop()
    qtbot.waitUntil(lambda: not w.running, timeout=30_000)


def test_opened_run_shows_its_branches(qtbot, window, tmp_path):
    """A run with a rollback, read back: greyed stretch and marker come from metrics.csv and events.jsonl."""
    from cgan_core.run.training_run import TrainingRun
    from cgan_core.step.config import TrainConfig

    run = TrainingRun(TrainConfig(batch_size=8, stats_every=5), out=tmp_path / "r", guard={"snapshot_every": 10})
    for _ in range(25):
        run.step()
    run.rollback("manual", 21, to_step=20, manual=True)
    for _ in range(5):
        run.step()
    run.finish("stopped")
    run.close()
    window.files.open_run(tmp_path / "r")
    assert len(window.loss_plot.ghosts) == 3 and int(window.loss_plot.steps[-1]) == 25
    assert any("manual rollback" in m.label.toPlainText() for m in window.loss_plot.markers)
    # and the grid: the generator the run saved last, replayed through the same table as a live run's grid
    assert window.sample_grid.step == 25 and window.sample_grid.class_names[0] == "0"


def test_the_panel_sends_the_presets_own_guard_bounds(qtbot, window):
    """mlp-label-concat's window is 120: the studio must not replace it with the default 50."""
    w = window
    w.config_panel.preset.setCurrentText("mlp-label-concat")
    assert w.config_panel.guard()["window"] == 120
    w.config_panel.guard_remedy.setCurrentIndex(1)
    w.start()
    wait_started(qtbot, w)
    assert w.worker.run.guard.config.window == 120 and w.worker.run.guard.config.remedy == "lower_lr_d"
    w.stop()
    qtbot.waitUntil(lambda: not w.running, timeout=30_000)
    w.config_panel.guard_remedy.setCurrentIndex(0)
    w.config_panel.preset.setCurrentText("studio-fast")
    assert w.config_panel.guard()["window"] == 50
