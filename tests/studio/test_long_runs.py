"""The window's cost is bounded by the screen, not by the run's length (issue: the studio stays live for
hours). A window is fed a 200,000-step history through the same events a live run sends."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject

from benchmarks.window_feed import NAMES, chunk, clicks_while_streaming, timed_redraw
from cgan_core.run.events import LossChunk, Progress
from studio.plots.series import LossSeries


def test_a_redraw_at_200k_and_1m_steps_hands_pyqtgraph_two_points_a_pixel_column(qtbot, window):
    """The mechanism behind the redraw budget (benchmarks/bench_window_budgets.py times it, alone: 10-15 ms at
    200,000 and 1,000,000 steps on the 2-core host, against 58 ms at 200,000 with every point handed over)."""
    w, rng = window, np.random.default_rng(0)
    for first in range(1, 200_001, 5_000):
        w.deliver([chunk(first, 5_000, rng)])
    assert w.loss_plot.point_count == 200_000
    timed_redraw(w, 200_001, rng)
    x, _ = w.loss_plot.smooth_curves["d1"].getData()
    assert len(x) <= 2 * w.loss_plot.plot.width() + 64  # at most two points a pixel column, not 200,000
    assert x[0] == 1 and x[-1] == 200_010  # the whole run, newest step included
    for first in range(200_011, 1_000_001, 20_000):
        w.deliver([chunk(first, 20_000, rng)])
    timed_redraw(w, 1_000_011, rng)
    for curves in (w.loss_plot.raw_curves, w.loss_plot.smooth_curves):  # the run's length costs no points
        assert all(len(c.getData()[0]) <= 2 * w.loss_plot.plot.width() + 64 for c in curves.values())


def test_a_decimated_curve_keeps_every_peak():
    """Min/max decimation: the extremes of every stretch survive, whatever the zoom."""
    rng = np.random.default_rng(1)
    series = LossSeries(("a",))
    values = rng.normal(size=100_000).astype(np.float32)
    values[77_777] = 50.0  # one spike, as a diverging step makes
    for i in range(0, 100_000, 333):
        series.append(np.arange(i, min(i + 333, 100_000)), {"a": values[i:i + 333]})
    x, y, strokes = series.view("a", 500)
    assert strokes and len(x) <= 2 * 500 + 64 and y.max() == 50.0 and y.min() == values.min()
    x, y, _ = series.view("a", 500, (70_000, 80_000))
    assert 69_000 < x[0] <= 70_000 and 80_000 <= x[-1] < 81_000 and y.max() == 50.0


def test_smoothing_is_incremental_and_matches_a_full_moving_average():
    rng = np.random.default_rng(2)
    values = rng.normal(size=5_000).astype(np.float32)
    values[100] = np.nan  # a non-finite loss is a gap, not a poison for every later mean
    series = LossSeries(("a",), window=25)
    for i in range(0, 5_000, 7):
        series.append(np.arange(i, min(i + 7, 5_000)), {"a": values[i:i + 7]})
    x, y, strokes = series.view("a", 10_000, smooth=True)
    assert not strokes  # 5,000 points fit 10,000 columns: the points themselves
    finite = np.where(np.isfinite(values), values, 0.0)
    count = np.convolve(np.isfinite(values), np.ones(25))[:5_000]
    expected = np.convolve(finite, np.ones(25))[:5_000] / count
    assert np.allclose(y, expected, atol=1e-4)


def test_the_history_costs_under_70_bytes_a_step_and_its_smoothed_blocks_are_means():
    """mlp-label-product trains 8,000 steps a minute: a history of 152 bytes a step in doubling buffers
    grew the window's RSS by 5% in 20 minutes. Now 8 bytes of step and 20 a curve (float32 values,
    min/max blocks of the raw values, mean blocks of the smoothed ones), spare capacity at most doubling it."""
    rng = np.random.default_rng(5)
    series = LossSeries(("d1", "d2", "g"), window=25)
    n = 200_000
    for i in range(0, n, 1_000):
        series.append(np.arange(i, i + 1_000), {k: rng.normal(size=1_000) for k in series.names})
    assert series.nbytes <= 2 * (8 + 3 * 20) * n + 100_000, series.nbytes / n
    smooth = series._smooth["g"]
    first, (means,), decimated = smooth.blocks(1_234, 151_234, 700)
    assert decimated and 350 <= len(first) <= 700 + 64
    ends = np.append(first[1:-1], 151_234)  # the last entry is the newest point itself
    expected = [smooth.values.array[a:b].mean() for a, b in zip(first[:-1], ends)]
    assert np.allclose(means[:-1], expected, atol=1e-5)


def test_the_epoch_bar_never_paints_inside_a_progress_event(qtbot, window):
    """QProgressBar.setValue paints at once when the bar moves, holding the GIL the training thread waits
    for (a fifth of the GUI thread's time at 120 steps a second): the bar is painted with the window."""
    from PySide6.QtCore import QEvent as E

    window.show()
    qtbot.waitExposed(window)
    bar, paints = window.status.epoch_bar, []

    class Count(QObject):
        def eventFilter(self, obj, event):
            if event.type() == E.Paint:
                paints.append(bar.value())
            return False

    counter = Count()
    bar.installEventFilter(counter)
    for i in range(1, 6):
        window.deliver([Progress(10 * i, 0.1 * i, 600.0, float(i), None, False)])
        assert not paints  # nothing painted synchronously
    qtbot.waitUntil(lambda: bool(paints) and paints[-1] == 500, timeout=2000)  # painted at the next frame
    bar.removeEventFilter(counter)


def test_new_points_repaint_the_curves_not_the_axes(qtbot, window):
    """The grid lines belong to the axes and span the plot: without a cache every new point replayed every
    tick, label and line. The axes render again only when their range changes."""
    window.show()
    qtbot.waitExposed(window)
    rng, painted = np.random.default_rng(6), []
    window.deliver([chunk(1, 500, rng)])
    window.loss_plot.redraw()
    window.loss_plot.plot.viewport().repaint()
    for side in ("left", "bottom"):
        axis = window.loss_plot.plot.getPlotItem().getAxis(side)
        axis.paint = lambda *args, axis=axis, side=side: (painted.append(side), type(axis).paint(axis, *args))
    for first in range(501, 520, 2):  # new points inside the same axis ranges
        middle = np.full((2, len(NAMES)), 0.7, np.float32)
        window.deliver([LossChunk(np.arange(first, first + 2), middle, NAMES, 0.0, 0, 0.0, 600.0)])
        window.loss_plot.redraw()
        window.loss_plot.plot.viewport().repaint()
    assert window.loss_plot.point_count == 520 and painted == []
    window.loss_plot.plot.getPlotItem().setXRange(0, 5_000, padding=0)  # a new range renders its axis again
    window.loss_plot.plot.viewport().repaint()
    assert "bottom" in painted


def test_clicks_are_served_while_chunks_arrive_faster_than_the_window_draws(qtbot, window):
    """The mechanism behind the click budget (benchmarks/bench_window_budgets.py times the latency, alone):
    every click is served while chunks keep coming, the window keeps up, and the mailbox never piles up."""
    found = clicks_while_streaming(window, qtbot.wait, lambda ready: qtbot.waitUntil(ready, timeout=5_000))
    assert len(found.latencies) == 12  # every click took effect
    assert found.posted > 1_000 and found.steps_drawn > 220_000  # chunks kept coming, and the window kept up
    assert max(found.waiting) <= 4 and max(found.pending) <= 4, (found.waiting, found.pending)  # coalesced


def test_a_branch_is_cut_once_whether_its_rows_or_its_rollback_come_first(qtbot, window):
    """Live, the RolledBack comes before the new rows; followed (attach) or opened, the rows can come first."""
    from cgan_core.run.events import RolledBack

    rng = np.random.default_rng(5)
    for rows_first in (False, True):
        plot = window.loss_plot
        plot.clear()
        plot.append(chunk(1, 30, rng))
        rollback = RolledBack(30, 20, "grad_spike", 1e-4, 1e-4)
        after = chunk(21, 5, rng)
        if rows_first:
            both = LossChunk(np.concatenate([chunk(31, 10, rng).steps, after.steps]),
                             np.concatenate([chunk(31, 10, rng).values, after.values]), NAMES, 0.0, 0, 0.0, 0.0)
            plot.append(both)
            plot.branch(rollback.to_step, rollback.label)
        else:
            plot.branch(rollback.to_step, rollback.label)
            plot.append(after)
        assert list(plot.steps) == list(range(1, 26)), rows_first
        assert len(plot.ghosts) == 3  # one greyed stretch, each of d1, d2 and g


def test_the_overfitting_sign_shows_the_last_steps_mean(qtbot, window):
    """r_t beside the loss plot's controls: the mean of the last ~100 steps, amber above 0.6; a run that did
    not record it leaves the label unknown."""
    rng = np.random.default_rng(0)
    label = window.loss_plot.overfitting
    window.deliver([chunk(1, 10, rng)])  # no r_t column: an older run
    assert label.text() == "r_t –"
    names = NAMES + ("r_t",)
    for first, value in ((11, 0.2), (111, 0.9)):
        steps = np.arange(first, first + 100, dtype=np.int64)
        values = np.column_stack([np.abs(rng.normal(0.7, 0.2, size=(100, len(NAMES)))), np.full(100, value)])
        window.deliver([LossChunk(steps, values.astype(np.float32), names, 0.0, 0, 0.0, 600.0)])
        assert label.text() == f"r_t {value:.2f}"
    assert "e0a040" in label.styleSheet()


def test_a_full_collection_walks_only_what_came_after_the_window(window):
    """A full garbage collection stops every thread while it walks the tracked objects (300 ms over the
    window's, 211-244 ms timer stalls in the hour-long soak). Building the window freezes what lives as long
    as the app, so a collection walks only what came after."""
    import gc

    assert gc.get_freeze_count() > 100_000  # Qt's wrappers, pyqtgraph, torch
    assert len(gc.get_objects()) < gc.get_freeze_count() / 4
