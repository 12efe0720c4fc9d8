"""The loss plot's overlays never hide what the user came to see: event labels stay inside the plot, and the
legend sits where no curve is drawn (the 20-minute soaks' screenshots showed both defects)."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF

from cgan_core.run.events import LossChunk
from tests.studio.test_long_runs import NAMES, chunk


def settle(qtbot, plot) -> None:
    """The curves handed over and the view auto-ranged on them, as a frame of the live window does."""
    for _ in range(3):
        plot._dirty = True
        plot.redraw()
        plot.plot.viewport().repaint()
        qtbot.wait(20)


def test_event_labels_stay_inside_the_plot_at_either_end(qtbot, window):
    plot = window.loss_plot
    window.deliver([chunk(1, 1000, np.random.default_rng(0))])
    settle(qtbot, plot)
    early = plot.add_marker(15, "guard advice: D dominance")  # the dcgan soak's advice at step 250 of 3,300
    late = plot.add_marker(990, "rollback: D dominance")
    settle(qtbot, plot)
    inside = plot.plot.getPlotItem().getViewBox().sceneBoundingRect()
    for line in (early, late):
        box = line.label.sceneBoundingRect()
        assert inside.left() <= box.left() and box.right() <= inside.right(), (line.value(), box, inside)
    box = plot.plot.getPlotItem().getViewBox()
    line_x = {line: box.mapViewToScene(QPointF(line.value(), 0)).x() for line in (early, late)}
    assert early.label.sceneBoundingRect().left() >= line_x[early] - 1  # after its line
    assert late.label.sceneBoundingRect().right() <= line_x[late] + 1  # before its line
    for line in (early, late):  # the curves fill every corner: the legend goes where no label is
        assert not plot.legend.sceneBoundingRect().intersects(line.label.sceneBoundingRect()), plot.legend_corner


def test_an_empty_quality_plot_shows_no_distance_numbers(qtbot, window):
    """Auto-ranged on nothing, the distance axis read -400 to 400 before any measurement."""
    axis = window.quality_view.distance
    assert not axis.axis.style["showValues"]
    assert tuple(axis.box.viewRange()[1]) == (0.0, 1.0)


def test_labels_change_side_when_the_run_grows_past_them(qtbot, window):
    plot = window.loss_plot
    rng = np.random.default_rng(1)
    window.deliver([chunk(1, 100, rng)])
    settle(qtbot, plot)
    line = plot.add_marker(95, "lr D x0.5")  # at the newest steps: before the line
    settle(qtbot, plot)
    inside = plot.plot.getPlotItem().getViewBox().sceneBoundingRect()
    assert line.label.sceneBoundingRect().right() <= inside.right()
    before = line.label.anchors[0]
    window.deliver([chunk(101, 2000, rng)])  # now near the start: after the line
    settle(qtbot, plot)
    assert tuple(line.label.anchors[0]) != tuple(before)
    assert inside.left() <= line.label.sceneBoundingRect().left()


def drawn_points_under_legend(plot) -> int:
    box = plot.plot.getPlotItem().getViewBox()
    legend = plot.legend.sceneBoundingRect()
    count = 0
    for curve in (*plot.raw_curves.values(), *plot.smooth_curves.values()):
        x, y = curve.getData()
        if not curve.isVisible() or x is None:
            continue
        for px, py in zip(x[::2], y[::2]):
            count += legend.contains(box.mapViewToScene(QPointF(float(px), float(py))))
    return count


def test_the_legend_leaves_the_corner_the_curves_fill(qtbot, window):
    """Losses that fall from 3 to 0.1 fill the top left and the bottom right corners (where the legend was)."""
    plot = window.loss_plot
    steps = np.arange(1, 3001, dtype=np.int64)
    falling = np.linspace(3.0, 0.1, len(steps))
    values = np.column_stack([falling] * len(NAMES)).astype(np.float32)
    window.deliver([LossChunk(steps, values, NAMES, 0.0, 0, 0.0, 600.0)])
    settle(qtbot, plot)
    assert plot.legend_corner in ("top right", "bottom left")
    assert drawn_points_under_legend(plot) == 0
    corner = plot.legend_corner
    settle(qtbot, plot)
    assert plot.legend_corner == corner  # it stays put while nothing changes
