"""Loss curves whose drawing costs what the screen shows, never what the run has trained.

A live plot of 200,000 steps cannot hand 200,000 points to pyqtgraph ten times a second. Each curve here
keeps, as points arrive, the min and max of every aligned block of 2, 4, 8, ... points (a min/max
pyramid, amortised O(1) per point). A view of any step range at W pixel columns then reads between W/2
and W blocks of one level, plus O(log n) blocks at the range's ends: peak decimation (each block drawn as a
vertical stroke from its min to its max, as pyqtgraph's own 'peak' mode draws) in work bounded by W.

The smoothed curve is a trailing mean, so a new point never changes an older point's mean: it is computed
for the new points only (from running sums of the finite values) and fed to a pyramid of its own. Only a
change of the window recomputes it all, once. Pure numpy: testable without a screen.
"""
from __future__ import annotations

import numpy as np


class _Buffer:
    """A growable 1-D array: appends amortised O(1), truncation O(1), views never copied."""

    def __init__(self, dtype) -> None:
        self._data = np.zeros(256, dtype)
        self.n = 0

    def extend(self, values: np.ndarray) -> None:
        need = self.n + len(values)
        if need > len(self._data):
            grown = np.zeros(max(need, 2 * len(self._data)), self._data.dtype)
            grown[:self.n] = self._data[:self.n]
            self._data = grown
        self._data[self.n:need] = values
        self.n = need

    def truncate(self, n: int) -> None:
        self.n = min(self.n, max(0, n))

    @property
    def array(self) -> np.ndarray:
        return self._data[:self.n]


class _RunningSum:
    """Values with the running sum of their finite ones and their count (leading 0): the mean of any
    stretch in two subtractions. `keep_values` False keeps only the sums (the raw values live elsewhere)."""

    def __init__(self, keep_values: bool = True) -> None:
        self.values = _Buffer(np.float32) if keep_values else None
        self.sums, self.counts = _Buffer(np.float64), _Buffer(np.int64)
        self.sums.extend(np.zeros(1))
        self.counts.extend(np.zeros(1, np.int64))

    def extend(self, values: np.ndarray) -> None:
        values = np.asarray(values, np.float32)
        finite = np.isfinite(values)
        if self.values is not None:
            self.values.extend(values)
        self.sums.extend(self.sums.array[-1] + np.cumsum(np.where(finite, values, 0.0), dtype=np.float64))
        self.counts.extend(self.counts.array[-1] + np.cumsum(finite, dtype=np.int64))

    def truncate(self, n: int) -> None:
        if self.values is not None:
            self.values.truncate(n)
        self.sums.truncate(n + 1)
        self.counts.truncate(n + 1)

    def means(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """The mean of the finite values in each [start, end); NaN where there are none."""
        sums, counts = self.sums.array, self.counts.array
        with np.errstate(invalid="ignore", divide="ignore"):
            return ((sums[ends] - sums[starts]) / (counts[ends] - counts[starts])).astype(np.float32)


class MinMaxPyramid:
    """The values of one curve and the (min, max) of each aligned block of 2**k of them, k >= 1.
    Non-finite values are kept as NaN and ignored by every min and max (a NaN loss is a gap)."""

    def __init__(self) -> None:
        self.values = _Buffer(np.float32)
        self.levels: list[tuple[_Buffer, _Buffer]] = []  # level k-1 holds blocks of 2**k points

    def __len__(self) -> int:
        return self.values.n

    def extend(self, values: np.ndarray) -> None:
        values = np.asarray(values, np.float32)
        self.values.extend(np.where(np.isfinite(values), values, np.nan))
        lower_min = lower_max = self.values.array
        k = 0
        while len(lower_min) >= 2:
            if k == len(self.levels):
                self.levels.append((_Buffer(np.float32), _Buffer(np.float32)))
            mins, maxs = self.levels[k]
            done, complete = mins.n, len(lower_min) // 2
            if complete > done:  # only the blocks that the new points completed
                lo = lower_min[2 * done:2 * complete].reshape(-1, 2)
                hi = lower_max[2 * done:2 * complete].reshape(-1, 2)
                mins.extend(np.fmin(lo[:, 0], lo[:, 1]))
                maxs.extend(np.fmax(hi[:, 0], hi[:, 1]))
            lower_min, lower_max = mins.array, maxs.array
            k += 1

    def truncate(self, n: int) -> None:
        """Keep the first n values (a rollback's branch point); blocks past them are recomputed later."""
        self.values.truncate(n)
        for k, (mins, maxs) in enumerate(self.levels):
            mins.truncate(n >> (k + 1))
            maxs.truncate(n >> (k + 1))

    def blocks(self, i0: int, i1: int, columns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(first index, min, max) of blocks that tile values[i0:i1], columns/2 to `columns` of them (the
        raw points themselves when there are no more than `columns`): one stroke a pixel column at most."""
        i0, i1 = max(0, i0), min(len(self), i1)
        if i1 - i0 <= columns:
            raw = self.values.array[i0:i1]
            return np.arange(i0, i1), raw, raw
        level = min(int(np.ceil(np.log2((i1 - i0) / columns))), len(self.levels))
        size = 1 << level
        first, last = -(-i0 // size), i1 // size  # whole blocks of this size inside the range
        head, tail = self._cover(i0, first * size, level), self._cover(last * size, i1, level)
        mins, maxs = self.levels[level - 1]
        middle = (np.arange(first, last) * size, mins.array[first:last], maxs.array[first:last])
        newest = self.values.array[i1 - 1:i1]  # the last point itself, so the curve ends at the newest step
        parts = [*head, middle, *tail, (np.array([i1 - 1]), newest, newest)]
        return tuple(np.concatenate([p[j] for p in parts]) for j in range(3))

    def _cover(self, start: int, end: int, below: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """values[start:end] as O(below) aligned blocks smaller than 2**below, largest that fit first."""
        out = []
        while start < end:
            k = below - 1
            while k > 0 and (start % (1 << k) or start + (1 << k) > end):
                k -= 1
            if k == 0:
                value = self.values.array[start:start + 1]
                out.append((np.array([start]), value, value))
            else:
                mins, maxs = self.levels[k - 1]
                j = start >> k
                out.append((np.array([start]), mins.array[j:j + 1], maxs.array[j:j + 1]))
            start += 1 << k
        return out


def _peaks(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Each block as a vertical stroke from its min to its max; True when they are strokes, not points."""
    if lo is hi:  # raw points: nothing to stroke
        return x.astype(np.float64), lo, False
    return np.repeat(x.astype(np.float64), 2), np.column_stack([lo, hi]).ravel(), True


class LossSeries:
    """The steps and named curves of a run's live line, each curve raw and smoothed, decimated on read.

    Steps strictly increase. A chunk whose first step is not past the last one starts a branch: the
    points from that step on are handed back as the abandoned stretch (history.split_branches's rule, so
    a live run, an attached one and an opened one agree)."""

    def __init__(self, names: tuple[str, ...], window: int = 1) -> None:
        self.names = tuple(names)
        self.window = max(1, int(window))
        self._steps = _Buffer(np.int64)
        self._raw = {n: MinMaxPyramid() for n in self.names}
        self._smooth = {n: _RunningSum() for n in self.names}
        # Of the raw values, for the trailing means: the values themselves are the raw pyramid's.
        self._sums = {n: _RunningSum(keep_values=False) for n in self.names}

    def __len__(self) -> int:
        return self._steps.n

    @property
    def steps(self) -> np.ndarray:
        return self._steps.array

    def values(self, name: str) -> np.ndarray:
        return self._raw[name].values.array

    def append(self, steps: np.ndarray, columns: dict[str, np.ndarray]) -> list[tuple[np.ndarray, dict]]:
        """Add a chunk; returns the stretches it abandoned (steps, columns), one per branch it starts."""
        steps = np.asarray(steps, np.int64)
        bounds = [0, *(np.nonzero(np.diff(steps) <= 0)[0] + 1).tolist(), len(steps)]
        abandoned = []
        for a, b in zip(bounds[:-1], bounds[1:]):
            if b > a:
                gone = self._append_branch(steps[a:b], {n: np.asarray(columns[n])[a:b] for n in self.names})
                abandoned += [gone] if gone is not None else []
        return abandoned

    def _append_branch(self, steps: np.ndarray, columns: dict[str, np.ndarray]) -> tuple[np.ndarray, dict] | None:
        """Strictly increasing steps; the points from steps[0] on, when there are any, are abandoned."""
        abandoned = None
        if len(self) and steps[0] <= self.steps[-1]:
            abandoned = self.cut(int(np.searchsorted(self.steps, steps[0])))
        self._steps.extend(steps)
        for n in self.names:
            values = np.asarray(columns[n], np.float32)
            self._raw[n].extend(values)
            self._sums[n].extend(values)
            self._smooth[n].extend(self._trailing_mean(n, len(self) - len(steps), len(self)))
        return abandoned

    def cut(self, keep: int) -> tuple[np.ndarray, dict] | None:
        """Keep the first `keep` points; returns the points removed (None when there were none)."""
        if keep >= len(self):
            return None
        gone = (self.steps[keep:].copy(), {n: self.values(n)[keep:].copy() for n in self.names})
        self._steps.truncate(keep)
        for n in self.names:
            self._raw[n].truncate(keep)
            self._smooth[n].truncate(keep)
            self._sums[n].truncate(keep)
        return gone

    def cut_after(self, step: int) -> tuple[np.ndarray, dict] | None:
        return self.cut(int(np.searchsorted(self.steps, step, side="right")))

    def set_window(self, window: int) -> None:
        """A new smoothing window: the one time every smoothed point is recomputed."""
        window = max(1, int(window))
        if window == self.window:
            return
        self.window = window
        for n in self.names:
            self._smooth[n] = _RunningSum()
            self._smooth[n].extend(self._trailing_mean(n, 0, len(self)))

    def _trailing_mean(self, name: str, i0: int, i1: int) -> np.ndarray:
        """The mean of the finite values among the `window` points up to each i in [i0, i1)."""
        if self.window <= 1:
            return self.values(name)[i0:i1]
        ends = np.arange(i0 + 1, i1 + 1)
        return self._sums[name].means(np.maximum(ends - self.window, 0), ends)

    def index_range(self, x0: float, x1: float) -> tuple[int, int]:
        """The points in [x0, x1], with one more on each side so that lines reach the view's edges."""
        i0 = int(np.searchsorted(self.steps, x0, side="left")) - 1
        i1 = int(np.searchsorted(self.steps, x1, side="right")) + 1
        return max(0, i0), min(len(self), i1)

    def view(self, name: str, columns: int, x_range: tuple[float, float] | None = None,
             smooth: bool = False) -> tuple[np.ndarray, np.ndarray, bool]:
        """(x, y, strokes) of one curve over x_range (all of it when None), at most ~2*columns points;
        strokes: the points pair up as (min, max) strokes of decimated blocks."""
        i0, i1 = (0, len(self)) if x_range is None else self.index_range(*x_range)
        first, lo, hi = self._raw[name].blocks(i0, i1, max(1, columns))
        if not smooth:
            return _peaks(self.steps[first], lo, hi)
        means = self._smooth[name]
        if lo is hi:  # not decimated: the smoothed points themselves
            return self.steps[first].astype(np.float64), means.values.array[first], False
        # Decimated, a smoothed curve is the mean of each block's smoothed points, at its middle: one
        # line, cheap to paint at width 2, where min-max strokes would draw the noise smoothing removed.
        ends = np.append(first[1:], i1)
        middles = (first + ends - 1) // 2
        middles[0] = first[0]  # the line starts at the first step shown, and ends at the newest one
        return self.steps[middles].astype(np.float64), means.means(first, ends), False


def decimated(x: np.ndarray, y: np.ndarray, columns: int, window: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A finished curve (a past run's, x increasing) smoothed over `window` points and decimated for a
    plot `columns` pixels wide."""
    series = LossSeries(("y",), window)
    series.append(np.arange(len(y)), {"y": y})
    index, values, _ = series.view("y", columns, smooth=window > 1)
    return np.asarray(x, np.float64)[np.round(index).astype(np.int64)], values
