"""Live quality in the studio: the quality plot and the per-class heatmap fill during a run, the
default follows the classifier cache, and a stop aborts a classifier being trained."""
from __future__ import annotations

import time

import pytest

from cgan_core.data import ImageDataset, load_dataset
from cgan_core.output.classifier import cache_path, store_classifier, train_classifier


@pytest.fixture
def cached_classifier():
    """A quick classifier stored as the full MNIST one, so the studio finds it cached (seconds, not a minute)."""
    full = load_dataset("mnist", "train")
    subset = ImageDataset("mnist", full.images[:2000].clone(), full.labels[:2000].clone(), full.class_names)
    path = store_classifier(full, train_classifier(subset, epochs=1), 0.9)
    yield path
    path.unlink(missing_ok=True)


def wait_running(qtbot, w):
    qtbot.waitUntil(lambda: w.worker is not None and w.worker.run is not None and w.run_dir is not None, timeout=60_000)


def test_quality_plot_and_heatmap_fill_during_a_run(qtbot, window, cached_classifier):
    w, view = window, window.quality_view
    view.every.setValue(5)
    w.start()
    wait_running(qtbot, w)
    qtbot.waitUntil(lambda: len(view.reports) >= 2, timeout=60_000)
    # The plot redraws once per burst of reports: wait for the redraw that holds them all, not the report.
    plotted = lambda: len(view.accuracy_curve.getData()[0] if view.accuracy_curve.getData()[0] is not None else [])
    qtbot.waitUntil(lambda: plotted() == len(view.reports), timeout=10_000)
    assert view.check.isChecked()  # on by default: the classifier was cached
    assert [r.step % 5 for r in view.reports] == [0] * len(view.reports)
    xs, ys = view.accuracy_curve.getData()
    assert len(xs) == len(view.reports) and all(0 <= y <= 100 for y in ys)
    assert view.heatmap.mesh is not None and len(view.reports[-1].per_class) == 10
    assert "%" in view.readout.text() and "FD" in view.readout.text()
    assert (w.run_dir / "quality.csv").is_file()
    view.check.setChecked(False)  # off: no more measurements
    qtbot.waitUntil(lambda: view.status.text() == "off", timeout=10_000)
    count, step = len(view.reports), w.worker.run.step_count
    qtbot.waitUntil(lambda: w.worker.run.step_count >= step + 12, timeout=30_000)
    assert len(view.reports) == count
    w.stop()
    qtbot.waitUntil(lambda: not w.running, timeout=30_000)


def test_off_by_default_without_a_classifier_and_a_stop_aborts_its_training(qtbot, window, tmp_path, monkeypatch):
    monkeypatch.setenv("CGAN_STUDIO_CACHE", str(tmp_path / "empty-cache"))
    w, view = window, window.quality_view
    assert not cache_path(load_dataset("mnist", "train")).exists()
    w.start()
    wait_running(qtbot, w)
    qtbot.waitUntil(lambda: view.status.text().startswith("off: the domain classifier"), timeout=30_000)
    assert not view.check.isChecked()
    view.check.setChecked(True)  # the user asks for it: the classifier trains beside the run
    qtbot.waitUntil(lambda: "training the domain classifier" in view.status.text(), timeout=30_000)
    steps = w.worker.run.step_count
    qtbot.waitUntil(lambda: w.worker.run.step_count > steps + 5, timeout=30_000)  # training goes on meanwhile
    start = time.monotonic()
    w.stop()
    qtbot.waitUntil(lambda: not w.running, timeout=30_000)
    assert time.monotonic() - start < 15  # the classifier's training was aborted, not waited for
    assert not cache_path(load_dataset("mnist", "train")).exists()


def test_the_independent_figures_show_kid_with_its_spread_and_each_class_against_its_floor(qtbot):
    import numpy as np

    from cgan_core.output.quality import QualityReport
    from studio.plots.quality_view import INDEPENDENT, QualityView

    view = QualityView()
    qtbot.addWidget(view)
    reports = [QualityReport(100 * i, 0.9, (0.9,) * 10, 12.0, 3.0, 1.0, 0.1, 0.002 * i, 0.0005, (4.0,) * 9 + (8.0,), 2.0)
               for i in range(1, 6)]
    view.set_reports(reports)
    assert "FD" in view.readout.text()
    view.figures.setCurrentIndex(view.figures.findData(INDEPENDENT))
    xs, ys = view.distance.curve.getData()
    assert list(xs) == [100, 200, 300, 400, 500] and np.allclose(ys, [2, 4, 6, 8, 10])  # KID x 1000
    assert np.allclose(view.distance.spread_high.getData()[1] - view.distance.spread_low.getData()[1], 1.0)  # +- 0.5 x 1e-3
    assert view.distance.spread_band.isVisible() and "KID 10.00±0.50" in view.readout.text()
    _, cells = view._cells
    assert cells.shape == (5, 10) and np.allclose(cells[:, :9], 0.5) and np.allclose(cells[:, 9], 0.25)  # floor / FD
    assert "real floor / Fréchet distance 0.25" in view._describe_cell(0, 9)
    older = [QualityReport(100, 0.9, (0.9,) * 10, 12.0, 3.0, 1.0, 0.1)]  # measured before the independent figures
    view.set_reports(older)
    assert view._cells[1] is None and not view.heatmap.mesh.isVisible()
    assert "no independent figures" in view.readout.text()


def test_the_best_label_and_the_floor_label_never_overlap(qtbot):
    """The best generator is often the newest: its label sat on the real floor's, at the plot's bottom right."""
    from cgan_core.output.quality import QualityReport
    from studio.plots.quality_view import QualityView

    view = QualityView()
    qtbot.addWidget(view)
    view.resize(480, 360)
    view.show()
    qtbot.waitExposed(view)
    steps = range(1_000, 56_000, 1_000)
    view.set_reports([QualityReport(s, 0.6 + 0.3 * s / 56_000, (0.9,) * 10, 600.0 * 1_000 / s + 20, 5.0, 1.0, 0.1)
                      for s in steps])
    view.mark_best(55_000)
    view.redraw()
    qtbot.wait(50)
    best, floor = view.best_line.label, view.distance.floor_line.label
    assert best.isVisible() and floor.isVisible()
    assert not best.sceneBoundingRect().intersects(floor.sceneBoundingRect())
    # every class at 90%: the heatmap's colours are absolute (0% purple to 100% yellow), not the data's min-max
    assert tuple(view.heatmap.mesh.getLevels()) == (0.0, 1.0)
