"""The latent explorer, driven as a user drives it: a snapshot of the live generator (training goes
on), class interpolation and z walks, direction sliders, the timelapse, the exports, and hostile
files refused with a dialog while the app stays up."""
from __future__ import annotations

import numpy as np
from PIL import Image

from tests.hostile import hostile_checkpoint, hostile_pickle_file


def open_explorer_on_live_run(qtbot, w):
    w.start()
    qtbot.waitUntil(lambda: w.worker is not None and w.worker.run is not None and w.run_dir is not None, timeout=60_000)
    qtbot.waitUntil(lambda: w.worker.run.step_count >= 12, timeout=60_000)
    w.show_explorer()
    qtbot.waitUntil(lambda: w.explorer.g is not None, timeout=30_000)
    return w.explorer


def test_snapshot_interpolation_walk_and_exports(qtbot, window, tmp_path):
    w = window
    ex = open_explorer_on_live_run(qtbot, w)
    assert "live snapshot" in ex.source_label.text()
    live_params = {id(p) for p in w.worker.run.trainer.sampler.parameters()}
    assert not live_params & {id(p) for p in ex.g.parameters()}  # a copy, never the training weights
    step = w.worker.run.step_count
    qtbot.waitUntil(lambda: w.worker.run.step_count > step + 3, timeout=30_000)  # training goes on
    ex.tabs.setCurrentIndex(0)
    ex.from_combo.setCurrentIndex(6)
    ex.to_combo.setCurrentIndex(1)
    ex.frames_spin.setValue(20)
    assert ex.frames.shape == (20, 28, 28, 1)
    ex.player.frame_slider.setValue(19)
    assert "20 / 20" in ex.player.view.caption
    ex.exports.scale_spin.setValue(3)
    assert ex.exports.export_gif(tmp_path / "six-to-one.gif")
    with Image.open(tmp_path / "six-to-one.gif") as gif:
        assert gif.n_frames == 20 and gif.size == (84, 84)
    ex.tabs.setCurrentIndex(1)  # z walk in the picked class
    ex.class_combo.setCurrentIndex(3)
    ex.seed_to_spin.setValue(9)
    walk = ex.frames.copy()
    assert walk.shape == (20, 28, 28, 1) and not np.array_equal(walk[0], walk[-1])
    ex.truncation.setValue(50)
    assert not np.array_equal(ex.frames[0], walk[0])  # truncation reaches every z
    ex.tabs.setCurrentIndex(3)  # same z across all classes, exported seed-004 style
    ex.columns_spin.setValue(10)
    assert ex.exports.export_grid(tmp_path / "grid.png")
    with Image.open(tmp_path / "grid.png") as grid:
        assert grid.width >= 10 * 30 * 3 and grid.height > grid.width * 0.9
    assert ex.exports.export_onnx(tmp_path / "g.onnx") and (tmp_path / "g.onnx").stat().st_size > 1000
    assert ex.exports.export_safetensors(tmp_path / "g.safetensors")
    w.stop()
    qtbot.waitUntil(lambda: not w.running, timeout=30_000)
    assert ex.exports.export_checkpoint(tmp_path / "full.pt") and (tmp_path / "full.pt").stat().st_size > 1000
    ex.compare_combo.setCurrentIndex(1)  # same z across checkpoints: the run's saved grids
    assert ex.frames is not None and len(ex.frames) >= 2 and ex.player.frame_labels[0].startswith("step")
    assert ex.exports.export_gif(tmp_path / "timelapse.gif")
    ex.close()


def test_direction_sliders_move_the_image(qtbot, window):
    w = window
    ex = open_explorer_on_live_run(qtbot, w)
    w.stop()
    qtbot.waitUntil(lambda: not w.running, timeout=30_000)
    ex.tabs.setCurrentIndex(2)
    assert ex.directions_tab.labels[0].text().startswith("PC1")
    before = ex.frames[0].copy()
    ex.directions_tab.sliders[0].setValue(25)
    assert not np.array_equal(before, ex.frames[0])
    assert ex.directions_tab.previews[0].pixmap() is not None and not ex.directions_tab.previews[0].pixmap().isNull()
    ex.directions_tab.basis_combo.setCurrentIndex(1)
    assert ex.directions_tab.labels[0].text() == "z[0]"
    ex.close()


def test_hostile_files_are_refused_in_the_gui_and_the_app_stays_up(qtbot, window, tmp_path):
    w = window
    marker = tmp_path / "MARKER"
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    hostile_checkpoint(run_dir / "checkpoints" / "step-000000003.pt", marker, protocol=4)
    hostile_pickle_file(run_dir / "generator.safetensors", marker)
    (run_dir / "config.json").write_text('{"preset": "studio-fast", "batch_size": 16}')
    (run_dir / "metrics.csv").write_text("step,epoch,d1,d2,g,lr_g,lr_d,d_real,d_fake,grad_d,grad_g,seconds\n")
    w.files.open_run(run_dir)  # the generator file is refused: the history shows without its grid, or an error
    w.show_explorer()
    assert not w.explorer.load_file(run_dir / "generator.safetensors")
    errors_before = len(w.errors)
    w.resume_dir = run_dir
    w.start()  # resuming reads the hostile checkpoint: refused, reported, nothing unpickled
    qtbot.waitUntil(lambda: not w.running, timeout=60_000)
    assert len(w.errors) > errors_before and "refused" in w.errors[-1]
    assert any("generator.safetensors" in e for e in w.errors)
    assert not marker.exists()
    assert w.isVisible()
