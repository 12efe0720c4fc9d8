"""GUI overhead and responsiveness, in one process. Run on a virtual screen:

    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python -m benchmarks.bench_gui --seconds 30 --rounds 2

1. Headless: the engine (studio-fast, default settings) for S seconds, with the thread count the app uses.
2. Window attached: the same for S seconds while the studio draws, and a 10 ms QTimer measures how
   late the main thread runs it (its stalls).
"""
from __future__ import annotations

import argparse
import json

import numpy as np

WARMUP = 3.0


def headless(seconds: float) -> float:
    from cgan_core.run.training_run import TrainingRun
    from cgan_core.step.config import TrainConfig

    run = TrainingRun(TrainConfig())
    start = None
    while True:
        run.step()
        if start is None and run.seconds >= WARMUP:
            start = (run.seconds, run.trainer.images_seen)
        if start and run.seconds - start[0] >= seconds:
            run.close()
            return (run.trainer.images_seen - start[1]) / (run.seconds - start[0])


def with_window(seconds: float) -> tuple[float, np.ndarray]:
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from studio.app import build_window

    window = build_window()
    window.resize(1280, 770)
    window.show()
    app = QApplication.instance()
    clock, lateness, marks = QElapsedTimer(), [], {}
    clock.start()
    last = [clock.elapsed()]

    def tick() -> None:
        now = clock.elapsed()
        if "start" in marks:
            lateness.append(now - last[0] - 10)
        last[0] = now

    def sample() -> None:
        run = window.worker.run if window.worker is not None else None
        if run is None:
            return
        if "start" not in marks and run.seconds >= WARMUP:
            marks["start"] = (run.seconds, run.trainer.images_seen)
        elif "start" in marks and run.seconds - marks["start"][0] >= seconds:
            marks["end"] = (run.seconds, run.trainer.images_seen)
            window.close()
            app.quit()

    ticker, sampler = QTimer(), QTimer()
    ticker.setTimerType(ticker.timerType().PreciseTimer)
    ticker.timeout.connect(tick)
    sampler.timeout.connect(sample)
    ticker.start(10)
    sampler.start(50)
    QTimer.singleShot(0, window.start)
    app.exec()
    (s0, i0), (s1, i1) = marks["start"], marks["end"]
    return (i1 - i0) / (s1 - s0), np.array(lateness, dtype=np.float64)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=2, help="alternating headless/window pairs (one pair is +-5%)")
    args = parser.parse_args()
    from cgan_core.step.device import leave_core_for_ui

    threads = leave_core_for_ui()  # the app's setting, so that both runs share it
    references, guis, lateness = [], [], []
    for _ in range(args.rounds):
        references.append(headless(args.seconds))
        gui, late = with_window(args.seconds)
        guis.append(gui)
        lateness.append(late)
    lateness = np.concatenate(lateness)
    result = {
        "torch_threads": threads,
        "headless_images_s": [round(r, 1) for r in references],
        "gui_images_s": [round(g, 1) for g in guis],
        "gui_over_headless": round(sum(guis) / sum(references), 3),
        "timer_lateness_ms": {"p50": float(np.percentile(lateness, 50)), "p99": float(np.percentile(lateness, 99)),
                              "max": float(lateness.max()), "ticks": int(len(lateness))},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
