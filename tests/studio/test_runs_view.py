"""The Runs view: fixture runs listed with their status, two overlaid and compared, a sweep ranked."""
from __future__ import annotations

import json

import pytest

from cgan_core.run.events import GuardGaveUp
from cgan_core.run.loop import train
from cgan_core.run.training_run import TrainingRun
from cgan_core.step.config import TrainConfig


def _run(folder, name, lr_g, diverged=False):
    run = TrainingRun(TrainConfig(preset="mlp-label-product", steps=12, batch_size=16, lr_g=lr_g, sample_every=100),
                      out=folder / name)
    if diverged:  # how a run the guard gave up on ends: GuardGaveUp, then RunFinished("diverged")
        for _ in range(12):
            run.step()
        run.files.log(GuardGaveUp(run.step_count, "g_explodes", 3, ""))
        list(run.finish("diverged"))
    else:
        train(run)
    run.close()
    return folder / name


@pytest.fixture
def runs_folder(tmp_path):
    _run(tmp_path, "slow", 1e-4)
    _run(tmp_path, "fast", 1e-3)
    _run(tmp_path, "exploded", 5e-2, diverged=True)
    return tmp_path


def test_the_runs_view_lists_overlays_and_compares(qtbot, runs_folder):
    from studio.tools.runs_view import RunsWindow

    view = RunsWindow(folders=[runs_folder])
    qtbot.addWidget(view)
    status = {run.name: run.status for run in view.runs}
    assert status == {"slow": "finished", "fast": "finished", "exploded": "stopped by the guard"}
    assert view.table.rowCount() == 3
    view.select(["slow", "fast"])
    assert [r.name for r in view.selected()] == sorted(["slow", "fast"], key=[r.name for r in view.runs].index)
    assert view.plot.drawn == 2
    diff_rows = {view.diff.item(r, 0).text() for r in range(view.diff.rowCount())}
    assert "lr_g" in diff_rows and "preset" not in diff_rows
    view.plot.axis.setCurrentIndex(1)  # by training time
    assert view.plot.drawn == 2
    opened = []
    view.openRequested.connect(opened.append)
    view.select(["fast"])
    view.open_button.click()
    assert opened == [runs_folder / "fast"]


def test_a_run_whose_config_json_is_hostile_opens_with_what_fits(qtbot, window, tmp_path):
    """Issue 43: config.json was read without a schema; a seed past 2^31 (one the CLI allows) or a string
    learning rate raised from the config panel and the Runs view. Each setting is now parsed alone: what
    does not fit is left out, the rest shown."""
    from studio.tools.runs_view import RunsWindow, _cells

    run = _run(tmp_path, "hostile", 1e-4)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "seed": 2**40, "lr_g": "abc", "lr_d": 3e-4, "world_size": "x",
                                                 "batch_size": [1], "preset": {"a": 1}, "latent_dim": 1e300}))
    window.files.open_run(run)
    panel = window.config_panel
    assert not window.errors and window.resume_dir == run
    assert panel.seed.value() == panel.seed.maximum() and panel.lr_d.value() == pytest.approx(3e-4)
    view = RunsWindow(folders=[tmp_path])
    qtbot.addWidget(view)
    assert _cells(view.runs[0])[1:5] == ["?", "mnist", "0", "0.0003"]


def test_a_sweep_folder_is_ranked(qtbot, tmp_path):
    from studio.tools.runs_view import RunsWindow

    sweep = tmp_path / "sweep"
    for i, lr in enumerate((1e-4, 1e-3)):
        _run(sweep, f"trial-{i:03d}", lr)
    (sweep / "sweep.json").write_text(json.dumps({"preset": "mlp-label-product", "params": ["lr_g=1e-4:1e-3:log"],
                                                  "max_seconds": 5}))
    view = RunsWindow(folders=[])
    qtbot.addWidget(view)
    view.add_folder(sweep)
    assert view.tabs.currentWidget() is view.sweep
    assert view.sweep.table.rowCount() == 2 and view.sweep.params == ["lr_g"]


def test_the_compare_images_tab_moves_every_run_with_one_slider(qtbot, tmp_path):
    """Issue 46: the selected runs' grids side by side; the slider moves every run to its nearest grid; Same
    noise draws the generators on one z."""
    from studio.tools.runs_view import RunsWindow
    from tests.core.test_compare_images import written_run

    written_run(tmp_path / "fast", 100, steps=(10, 20, 30), seed=1)
    written_run(tmp_path / "slow", 50, steps=(10, 20), seconds_a_step=3.0, seed=2)
    view = RunsWindow(folders=[tmp_path])
    qtbot.addWidget(view)
    view.select(["fast", "slow"])
    tab = view.images
    assert tab.marks == [10, 20, 30] and tab.marks[tab.slider.value()] == 20  # opens where both have a grid
    assert tab.position.text() == "step 20" and not tab.picture.pixmap().isNull()
    first = tab.picture.pixmap().toImage()
    tab.slider.setValue(0)
    assert tab.position.text() == "step 10" and tab.picture.pixmap().toImage() != first
    tab.same_noise.setChecked(True)
    assert not tab.slider.isEnabled() and tab.status.text() == "" and not tab.picture.pixmap().isNull()
    view.select(["fast"])
    assert "Select 2 to 6 runs" in tab.status.text()
