"""Where the loss plot's overlays go, so that neither hides what the user came to see: an event's label on the
side of its line that has room, and the legend in the corner that the drawn curves leave emptiest (matplotlib's
loc="best", counted on the points drawn: a few hundred a curve, whatever the run's length)."""
from __future__ import annotations

import numpy as np

# corner: (the legend's and the view's anchor point, the offset in pixels from that point)
CORNERS = {
    "bottom right": ((1, 1), (-10, -10)),
    "top right": ((1, 0), (-10, 10)),
    "top left": ((0, 0), (10, 10)),
    "bottom left": ((0, 1), (10, -10)),
}
COVERED_LABEL = 10**6  # a label under the legend counts as this many points: a corner with none wins
LABEL_AFTER, LABEL_BEFORE = (0, 0.5), (1, 0.5)  # a vertical line's label anchors: right or left of the line


def label_anchor(step: float, x_range: tuple[float, float]) -> tuple[float, float]:
    """A label on the side with more of the view: before the line in the view's right half (rollbacks and
    advice sit at the newest steps), after it in the left half (an early event's label is not cut off)."""
    x0, x1 = x_range
    return LABEL_BEFORE if step > (x0 + x1) / 2 else LABEL_AFTER


def corner_region(corner: str, view: tuple[tuple[float, float], tuple[float, float]],
                  size: tuple[float, float]) -> tuple[float, float, float, float]:
    """The part of the view (x0, x1, y0, y1, in data coordinates) that a legend taking `size` (fractions of the
    view's width and height, offset included) covers in `corner`."""
    (x0, x1), (y0, y1) = view
    width, height = (x1 - x0) * size[0], (y1 - y0) * size[1]
    left = "left" in corner
    top = "top" in corner  # data y grows upwards
    return (x0 if left else x1 - width, x0 + width if left else x1,
            y1 - height if top else y0, y1 if top else y0 + height)


def points_in(region: tuple[float, float, float, float], curves: list[tuple[np.ndarray, np.ndarray]]) -> int:
    x0, x1, y0, y1 = region
    count = 0
    for x, y in curves:
        with np.errstate(invalid="ignore"):
            count += int(np.count_nonzero((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)))
    return count


def overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]


def emptiest_corner(current: str, curves: list[tuple[np.ndarray, np.ndarray]],
                    view: tuple[tuple[float, float], tuple[float, float]], size: tuple[float, float],
                    labels: list[tuple[float, float, float, float]] = ()) -> str:
    """The corner whose legend would cover the fewest drawn points, and no event label (`labels`: x0, x1, y0,
    y1 in data coordinates) where a corner allows. The legend stays where it is unless another corner covers
    less, so that it does not hop between corners that are equally good."""
    counts = {}
    for corner in CORNERS:
        region = corner_region(corner, view, size)
        counts[corner] = (points_in(region, curves)
                          + COVERED_LABEL * sum(overlaps(region, label) for label in labels))
    best = min(counts, key=counts.__getitem__)
    return best if counts[best] < counts[current] else current
