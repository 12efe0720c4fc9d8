"""Loss curves whose drawing costs what the screen shows, never what the run has trained.

A live plot of 200,000 steps cannot hand 200,000 points to pyqtgraph ten times a second. Each curve here
keeps, as points arrive, the min and max of every aligned block of 2, 4, 8, ... points (a min/max
pyramid, amortised O(1) per point). A view of any step range at W pixel columns then reads between W/2
and W blocks of one level, plus O(log n) blocks at the range's ends: peak decimation (each block drawn as a
vertical stroke from its min to its max, as pyqtgraph's own 'peak' mode draws) in work bounded by W.

The smoothed curve is a trailing mean, so a new point never changes an older point's mean: it is computed
for the new points only (from the last `window` raw values) and fed to a pyramid of block means of its own.
Only a change of the window recomputes it all, once. A point costs 8 bytes of step and 20 a curve (float32
values and levels), so mlp-label-product's 3,000 steps a minute add 0.2 MB a minute. Pure numpy: testable
without a screen.
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

    @property
    def nbytes(self) -> int:
        return self._data.nbytes


def _mean_of_pair(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The mean of two blocks' means, ignoring a NaN one (a stretch of non-finite losses is a gap)."""
    return np.where(np.isnan(a), b, np.where(np.isnan(b), a, (a + b) * np.float32(0.5)))


MIN_MAX = (np.fmin, np.fmax)
MEAN = (_mean_of_pair,)


class BlockPyramid:
    """The values of one curve and, for each aligned block of 2**k of them (k >= 1), the block's
    reductions (min and max of the raw losses; the mean of the smoothed ones), kept as the points arrive.
    Non-finite values are kept as NaN and ignored by every reduction. The levels hold as many entries as
    the values: with float32 throughout a curve costs 4 bytes a point and 4 a point per reduction."""

    def __init__(self, reducers: tuple = MIN_MAX) -> None:
        self.reducers = reducers
        self.values = _Buffer(np.float32)
        self.levels: list[list[_Buffer]] = []  # level k-1 holds blocks of 2**k points, one buffer a reducer

    def __len__(self) -> int:
        return self.values.n

    @property
    def nbytes(self) -> int:
        return self.values.nbytes + sum(buffer.nbytes for level in self.levels for buffer in level)

    def extend(self, values: np.ndarray) -> None:
        values = np.asarray(values, np.float32)
        self.values.extend(np.where(np.isfinite(values), values, np.nan))
        lower = [self.values.array] * len(self.reducers)
        k = 0
        while len(lower[0]) >= 2:
            if k == len(self.levels):
                self.levels.append([_Buffer(np.float32) for _ in self.reducers])
            level, done, complete = self.levels[k], self.levels[k][0].n, len(lower[0]) // 2
            if complete > done:  # only the blocks that the new points completed
                for reduce, below, out in zip(self.reducers, lower, level):
                    pairs = below[2 * done:2 * complete].reshape(-1, 2)
                    out.extend(reduce(pairs[:, 0], pairs[:, 1]))
            lower = [buffer.array for buffer in level]
            k += 1

    def truncate(self, n: int) -> None:
        """Keep the first n values (a rollback's branch point); blocks past them are recomputed later."""
        self.values.truncate(n)
        for k, level in enumerate(self.levels):
            for buffer in level:
                buffer.truncate(n >> (k + 1))

    def blocks(self, i0: int, i1: int, columns: int) -> tuple[np.ndarray, list[np.ndarray], bool]:
        """(first index, one array a reducer, decimated) of blocks that tile values[i0:i1], columns/2 to
        `columns` of them, or the raw points themselves (decimated False) when there are no more than
        `columns`: one stroke a pixel column at most. Two pyramids of one length tile a range alike."""
        i0, i1 = max(0, i0), min(len(self), i1)
        if i1 - i0 <= columns:
            raw = self.values.array[i0:i1]
            return np.arange(i0, i1), [raw] * len(self.reducers), False
        level = min(int(np.ceil(np.log2((i1 - i0) / columns))), len(self.levels))
        size = 1 << level
        first, last = -(-i0 // size), i1 // size  # whole blocks of this size inside the range
        head, tail = self._cover(i0, first * size, level), self._cover(last * size, i1, level)
        middle = (np.arange(first, last) * size, *(b.array[first:last] for b in self.levels[level - 1]))
        newest = self.values.array[i1 - 1:i1]  # the last point itself, so the curve ends at the newest step
        parts = [*head, middle, *tail, (np.array([i1 - 1]), *[newest] * len(self.reducers))]
        joined = [np.concatenate([p[j] for p in parts]) for j in range(1 + len(self.reducers))]
        return joined[0], joined[1:], True

    def _cover(self, start: int, end: int, below: int) -> list[tuple]:
        """values[start:end] as O(below) aligned blocks smaller than 2**below, largest that fit first."""
        out = []
        while start < end:
            k = below - 1
            while k > 0 and (start % (1 << k) or start + (1 << k) > end):
                k -= 1
            if k == 0:
                value = self.values.array[start:start + 1]
                out.append((np.array([start]), *[value] * len(self.reducers)))
            else:
                j = start >> k
                out.append((np.array([start]), *(b.array[j:j + 1] for b in self.levels[k - 1])))
            start += 1 << k
        return out


def _peaks(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, decimated: bool) -> tuple[np.ndarray, np.ndarray, bool]:
    """Each block as a vertical stroke from its min to its max; True when they are strokes, not points."""
    if not decimated:  # raw points: nothing to stroke
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
        self._raw = {n: BlockPyramid(MIN_MAX) for n in self.names}
        self._smooth = {n: BlockPyramid(MEAN) for n in self.names}  # the trailing means, and their blocks'

    def __len__(self) -> int:
        return self._steps.n

    @property
    def steps(self) -> np.ndarray:
        return self._steps.array

    @property
    def nbytes(self) -> int:
        """The memory the history holds, spare capacity included."""
        curves = sum(self._raw[n].nbytes + self._smooth[n].nbytes for n in self.names)
        return self._steps.nbytes + curves

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
            self._smooth[n] = BlockPyramid(MEAN)
            self._smooth[n].extend(self._trailing_mean(n, 0, len(self)))

    def _trailing_mean(self, name: str, i0: int, i1: int) -> np.ndarray:
        """The mean of the finite values among the `window` points up to each i in [i0, i1): sums over the
        stretch these means read (window + new points), in float64, so no running sum of the whole run is kept."""
        if self.window <= 1:
            return self.values(name)[i0:i1]
        start = max(0, i0 - self.window + 1)
        stretch = self.values(name)[start:i1]
        finite = np.isfinite(stretch)
        sums = np.concatenate([[0.0], np.cumsum(np.where(finite, stretch, 0.0), dtype=np.float64)])
        counts = np.concatenate([[0], np.cumsum(finite)])
        ends = np.arange(i0 + 1, i1 + 1) - start
        starts = np.maximum(ends + start - self.window, 0) - start
        with np.errstate(invalid="ignore", divide="ignore"):
            return ((sums[ends] - sums[starts]) / (counts[ends] - counts[starts])).astype(np.float32)

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
        if not smooth:
            first, (lo, hi), decimated = self._raw[name].blocks(i0, i1, max(1, columns))
            return _peaks(self.steps[first], lo, hi, decimated)
        first, (means,), decimated = self._smooth[name].blocks(i0, i1, max(1, columns))
        if not decimated:  # the smoothed points themselves
            return self.steps[first].astype(np.float64), means, False
        # Decimated, a smoothed curve is the mean of each block's smoothed points, at its middle: one
        # line, cheap to paint at width 2, where min-max strokes would draw the noise smoothing removed.
        ends = np.append(first[1:], i1)
        middles = (first + ends - 1) // 2
        middles[0] = first[0]  # the line starts at the first step shown, and ends at the newest one
        return self.steps[middles].astype(np.float64), means, False


def decimated(x: np.ndarray, y: np.ndarray, columns: int, window: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A finished curve (a past run's, x increasing) smoothed over `window` points and decimated for a
    plot `columns` pixels wide."""
    series = LossSeries(("y",), window)
    series.append(np.arange(len(y)), {"y": y})
    index, values, _ = series.view("y", columns, smooth=window > 1)
    return np.asarray(x, np.float64)[np.round(index).astype(np.int64)], values
