"""How often a live plot may draw new data: training comes first.

On two cores the window shares the machine, and the interpreter lock, with the training thread; a frame
of the loss plot (the curves' data, then the paint) costs a few milliseconds whatever the run's length,
so the frame rate is the window's cost. The pacer measures what the frames cost and spaces them so that
they take at most `budget` of the wall time, between `fastest` (a cheap plot, a small window) and
`slowest` (the plot is never further behind the run than that, however slow its frames). What the user
asks for (a toggle, a zoom, Follow) is drawn at once, not paced.
"""
from __future__ import annotations

import time

FASTEST_S = 0.2   # 5 frames a second at most: a curve that moves by a pixel or two needs no more
SLOWEST_S = 0.5   # the plot within 0.5 s of the data the window holds (the soak's target is 1 s of training)
# The frames' share of the wall time: 5 ms frames come every 0.5 s. A GIL-bound training thread (the MLP
# presets) lost about twice the GUI thread's busy time (soak_window: 2.0-2.5% busy, window/headless 0.95).
BUDGET = 0.010


class FramePacer:
    def __init__(self, fastest: float = FASTEST_S, slowest: float = SLOWEST_S, budget: float = BUDGET,
                 clock=time.monotonic) -> None:
        self.fastest, self.slowest, self.budget, self.clock = fastest, slowest, budget, clock
        self.frame_cost = 0.0  # seconds a frame takes (data and paint), a running mean
        self._current = 0.0  # what the frame being drawn has cost so far
        self._last = float("-inf")
        self.frames = 0

    @property
    def interval(self) -> float:
        return min(self.slowest, max(self.fastest, self.frame_cost / self.budget))

    def due(self) -> bool:
        return self.clock() - self._last >= self.interval

    def frame(self) -> None:
        """A frame starts: the previous one's cost (its data and its paint) goes into the running mean."""
        if self.frames:
            self.frame_cost = self._current if self.frames == 1 else 0.8 * self.frame_cost + 0.2 * self._current
        self._current, self._last = 0.0, self.clock()
        self.frames += 1

    def spent(self, seconds: float) -> None:
        """Time the current frame took: building its data, painting it."""
        self._current += seconds
