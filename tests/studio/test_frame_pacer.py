"""Training first: the loss plot's frames are spaced so that they cost a bounded share of the wall time,
and what the user asks for is drawn at once."""
from __future__ import annotations

import numpy as np

from cgan_core.run.events import LossChunk
from studio.plots.frame_pacer import FramePacer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_frames_are_spaced_by_what_they_cost_within_bounds():
    clock = Clock()
    pacer = FramePacer(fastest=0.2, slowest=0.4, budget=0.015, clock=clock)
    assert pacer.due()  # the first frame at once
    for cost in (0.006,) * 10:  # 6 ms frames: one every 0.4 s keeps them at 1.5%
        pacer.frame()
        pacer.spent(cost / 2)  # the data...
        pacer.spent(cost / 2)  # ...and the paint
        clock.now += 0.3
        assert not pacer.due() or pacer.frames == 1
        clock.now += 0.1
    assert abs(pacer.interval - 0.4) < 1e-9
    clock.now += 0.01
    assert pacer.due()
    for _ in range(30):  # cheap frames (a small plot): 5 a second, no faster
        pacer.frame()
        pacer.spent(0.001)
        clock.now += 0.2
    assert abs(pacer.interval - 0.2) < 1e-9
    for _ in range(30):  # a frame of 50 ms (a slow machine): the plot still keeps within 0.4 s of its data
        pacer.frame()
        pacer.spent(0.05)
        clock.now += 0.4
    assert abs(pacer.interval - 0.4) < 1e-9


def test_new_data_waits_for_the_pacer_and_a_toggle_is_drawn_at_once(qtbot, window):
    plot = window.loss_plot
    plot.pacer.frame_cost = 1.0  # frames that cost a second: data waits the longest interval
    steps = np.arange(1, 11, dtype=np.int64)
    window.deliver([LossChunk(steps, np.full((10, 3), 0.5, np.float32), ("d1", "d2", "g"), 0.0, 0, 0.0, 600.0)])
    plot.redraw()  # drawn now, as a frame
    drawn = plot.pacer.frames
    window.deliver([LossChunk(steps + 10, np.full((10, 3), 0.5, np.float32), ("d1", "d2", "g"), 0.0, 0, 0.0, 600.0)])
    plot._on_tick()
    assert plot.pacer.frames == drawn  # not due: the new points wait
    plot.toggles["g"].setChecked(False)  # the user asks: the next tick draws, whatever the pacer says
    plot._on_tick()
    assert plot.pacer.frames == drawn + 1 and not plot.smooth_curves["g"].isVisible()
    assert len(plot.smooth_curves["d1"].getData()[0]) == 20  # and it drew the waiting points with it
    qtbot.waitUntil(lambda: plot.pacer.due(), timeout=2_000)  # 0.4 s at most behind the data
