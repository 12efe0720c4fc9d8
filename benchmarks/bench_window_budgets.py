"""The window's timing budgets, measured alone (the suite keeps the mechanism tests beside them,
tests/studio/test_long_runs.py): one redraw at 200,000 and 1,000,000 steps within 20 ms of the GUI thread's
CPU time, and a click served within 100 ms while chunks arrive faster than the window draws.

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m benchmarks.bench_window_budgets

Prints one JSON line; exits 1 when a budget is not met."""
from __future__ import annotations

import json
import sys
import time

import numpy as np
from PySide6.QtWidgets import QApplication

from benchmarks.window_feed import chunk, clicks_while_streaming, frames

REDRAW_BUDGET_S = 0.020
CLICK_BUDGET_S = 0.100


def _window():
    from studio.app import build_window

    w = build_window()
    w.resize(1280, 800)
    w.show()
    _wait(300)  # shown and laid out: a repaint before that paints nothing
    return w


def _wait(ms: int) -> None:
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        QApplication.processEvents()


def _wait_until(ready, timeout: float = 5.0) -> None:
    end = time.perf_counter() + timeout
    while not ready():
        if time.perf_counter() > end:
            raise TimeoutError("a click was not served within 5 s")
        QApplication.processEvents()


def main() -> int:
    app = QApplication.instance() or QApplication(sys.argv)
    w, rng = _window(), np.random.default_rng(0)
    for first in range(1, 200_001, 5_000):
        w.deliver([chunk(first, 5_000, rng)])
    at_200k = frames(w, 200_001, rng)
    for first in range(200_261, 1_000_001, 20_000):
        w.deliver([chunk(first, 20_000, rng)])
    at_1m = frames(w, 1_000_261, rng)
    w.close()
    clicks = clicks_while_streaming(_window(), _wait, _wait_until)
    result = {"redraw_ms_200k": round(at_200k * 1000, 1), "redraw_ms_1m": round(at_1m * 1000, 1),
              "click_ms_max": round(max(clicks.latencies) * 1000, 1),
              "click_ms_median": round(float(np.median(clicks.latencies)) * 1000, 1),
              "budgets_ms": {"redraw": REDRAW_BUDGET_S * 1000, "click": CLICK_BUDGET_S * 1000}}
    met = max(at_200k, at_1m) < REDRAW_BUDGET_S and max(clicks.latencies) < CLICK_BUDGET_S
    result["met"] = met
    print(json.dumps(result))
    del app
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
