"""Where the window's GUI-thread time goes while a run trains: each view switched off in turn.

    xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python -m benchmarks.window_cost_split \
        [--preset mlp-label-product] [--seconds 12] [--rounds 3]

The window trains the preset as a user starts it; after 45 s, in rounds, each condition holds for
--seconds: everything on; the views detached (the worker's notices blocked: the window idle); no loss
plot frames (its timer stopped: the deliveries still land); the sample grid hidden; the status bar hidden.
It prints the GUI thread's CPU time over the wall time and the run's img/s for each (means over the
rounds). The img/s of 12 s stretches swing by several percent with the host; the busy share does not.
"""
from __future__ import annotations

import argparse
import time

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from benchmarks.soak_studio import open_window
from benchmarks.soak_window import HostedRun, Views


def wait(seconds: float) -> None:
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="mlp-label-product")
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication(["split"])
    window = open_window(args.preset)
    source = HostedRun(window)
    window.start()
    while source.position() is None:
        wait(0.5)
    wait(45)
    views, plot = Views(window, False), window.loss_plot
    conditions = {
        "everything on": (lambda: None, lambda: None),
        "views detached": (views.detach, views.reattach),
        "no loss plot frames": (plot.timer.stop, plot.timer.start),
        "sample grid hidden": (lambda: window.sample_grid.setVisible(False), lambda: window.sample_grid.setVisible(True)),
        "status bar hidden": (lambda: window.statusBar().setVisible(False), lambda: window.statusBar().setVisible(True)),
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in conditions}
    for _ in range(args.rounds):
        for name, (off, on) in conditions.items():
            off()
            wait(1)
            start, cpu, position = time.monotonic(), time.thread_time(), source.position()
            wait(args.seconds)
            end, cpu_end, now = time.monotonic(), time.thread_time(), source.position()
            on()
            results[name].append(((cpu_end - cpu) / (end - start), (now[1] - position[1]) / (now[2] - position[2])))
    print("| condition | GUI thread busy | img/s |\n|---|---|---|")
    for name, values in results.items():
        busy, rate = (sum(v[i] for v in values) / len(values) for i in (0, 1))
        print(f"| {name} | {busy:.2%} | {rate:.0f} |")
    window.stop()
    deadline = time.monotonic() + 60
    while window.running and time.monotonic() < deadline:
        wait(0.5)
    window.close()
    app.processEvents()


if __name__ == "__main__":
    main()
