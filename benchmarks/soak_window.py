"""The studio left training for an hour: does the window stay live? Run it alone, on a virtual screen:

    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python -m benchmarks.soak_window --minutes 60 \
        [--preset studio-fast] [--attach] [--detached-seconds 20] [--out DIR] [--screenshots DIR]

The window (1280x800) trains the preset under the default settings, started as a user starts it. Every
minute it records:
- gui_busy: the GUI thread's CPU time over the minute's wall time (time.thread_time in a GUI-thread timer);
- timer p99 / max: how late a 10 ms QTimer fires (the GUI thread's stalls, as a user's input waits);
- click ms: a real mouse click on Pause, posted behind whatever the event queue holds, until the button
  acts (input served), and pause ack ms: until the run's own paused Progress reaches the window; then
  Resume the same way;
- plot lag: the newest step the loss plot holds against the step the run has trained, in seconds of
  training; window lag: against the newest step the run has reported (its stats reach metrics.csv and
  the window every stats_every steps, 10 by default: about a second of studio-fast), the window's own part;
- img/s with the window reading the run, against headless img/s: the same run in the same minute with
  nothing reading it (--detached-seconds of each minute, spread over cycles of --cycle-seconds: the hosted
  worker's notices blocked, or the attached follower stopped), so the ratio is the window's cost at the
  run's age, not the host's drift (it moved by up to 20% between references 2 minutes apart; --calibrate
  detaches both parts, which shows the ratio's own noise) nor a younger run's speed; both rates per second
  of training without the live quality measurements, which are not training and whose cost is measured
  apart (bench_quality_cost): 0.5 s every ~17 s, they beat with the 10 s cycles and fell into the window's
  parts for three minutes running, then into the detached parts for three; nor the checkpoints and best
  generators written (a fixed cost per 1,000 steps that fell into one part or the other at random). The
  cycles alternate which part comes first, and the parts start 1 s after the Pause/Resume probe;
- RSS in MB: at the end of the minute, and the median and highest of a reading every ~5 s (a single
  reading caught transients of +-25 MB: a measurement's or a checkpoint's buffers, the heap between trims).
Before the window starts, a fresh run of the engine alone (20 s, the same torch thread count) checks that
the detached run trains as fast as the engine with no window at all.
With --attach the run is a CLI process (one torch thread, as the window's own) and the window follows it
through its run folder.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from cgan_core.run.folder_reader import last_row, read_config

ROOT = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Headless:
    """The engine alone with the window's settings, in this process: warmed up once (10 s), then kept, so
    that a reference of a few seconds between the window's minutes costs no second warm-up."""

    def __init__(self, config, guard: dict) -> None:
        from cgan_core.run.prepare import classifier_ready, prepare_quality
        from cgan_core.run.training_run import TrainingRun

        self.run = TrainingRun(config, guard=guard)
        if classifier_ready(self.run.dataset):  # live quality as the studio's "auto" has it: on when cached
            self.run.enable_quality(prepare_quality(self.run.config, self.run.dataset), None)
        while self.run.seconds < 10:
            self.run.step()

    def measure(self, minutes: float) -> float:
        """Images per training second over the next `minutes` of training."""
        start = (self.run.seconds, self.run.trainer.images_seen)
        while self.run.seconds - start[0] < minutes * 60:
            self.run.step()
        return (self.run.trainer.images_seen - start[1]) / (self.run.seconds - start[0])

    def close(self) -> None:
        self.run.close()


def host_steal() -> tuple[int, int]:
    """(steal ticks, all ticks) of the whole host from /proc/stat: time the hypervisor gave to others."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[7], sum(fields[:8])


class Probe:
    """The per-minute measurements, taken in the GUI thread as a user's session would feel them."""

    def __init__(self, window, app, attached: bool) -> None:
        from PySide6.QtCore import QElapsedTimer, QTimer

        from cgan_core.run.events import Progress

        self.window, self.app, self.attached = window, app, attached
        self.clock = QElapsedTimer()
        self.clock.start()
        self.last_tick, self.lateness, self.rss = self.clock.elapsed(), [], []
        self.ticker = QTimer()
        self.ticker.setTimerType(self.ticker.timerType().PreciseTimer)
        self.ticker.timeout.connect(self._tick)
        self.ticker.start(10)
        # (when, paused) as the run acknowledges it: a hosted run's Progress, an attached run's ControlApplied
        self.paused_seen: list[tuple[float, bool]] = []
        if attached:
            from cgan_core.run.events import ControlApplied

            kind, paused = ControlApplied, lambda e: e.command == "Pause"
        else:
            kind, paused = Progress, lambda e: e.paused
        original = window.handlers.get(kind, lambda e: None)
        window.handlers[kind] = lambda e: (self.paused_seen.append((time.perf_counter(), paused(e))), original(e))
        self.served: list[float] = []
        window.controls.pause_action.triggered.connect(lambda *_: self.served.append(time.perf_counter()))
        self.mark = (time.monotonic(), time.thread_time())
        self.steal_mark = host_steal()

    def _tick(self) -> None:
        now = self.clock.elapsed()
        self.lateness.append(now - self.last_tick - 10)
        if len(self.lateness) % 500 == 0:  # every ~5 s: one reading a minute caught transients (+-25 MB)
            self.rss.append(rss_mb())
        self.last_tick = now

    def wait(self, seconds: float, until=lambda: False) -> bool:
        """Run the event loop as the app's own does (no polling: a poll every 2 ms cost the GUI thread 4% of
        a core and took the lock from training), checking `until` every 50 ms, for at most `seconds`."""
        from PySide6.QtCore import QEventLoop, QTimer

        end = time.monotonic() + seconds
        if until() or seconds <= 0:
            return until()
        loop, check = QEventLoop(), QTimer()
        check.timeout.connect(lambda: (until() or time.monotonic() >= end) and loop.quit())
        check.start(50)
        loop.exec()
        check.stop()
        return until()

    def click(self, widget) -> float:
        """A real click posted to the event queue; seconds until the button acted."""
        from PySide6.QtCore import QEvent, QPointF, Qt
        from PySide6.QtGui import QMouseEvent
        from PySide6.QtWidgets import QApplication

        n, start = len(self.served), time.perf_counter()
        centre = QPointF(widget.rect().center())
        for kind in (QEvent.MouseButtonPress, QEvent.MouseButtonRelease):
            QApplication.postEvent(widget, QMouseEvent(kind, centre, widget.mapToGlobal(centre), Qt.LeftButton,
                                                        Qt.LeftButton, Qt.NoModifier))
        self.wait(10, lambda: len(self.served) > n)
        return (self.served[n] if len(self.served) > n else float("inf")) - start

    def pause_and_resume(self, pause: bool = True, resume: bool = True) -> tuple[float, float]:
        """(click served, run acknowledged) in ms for Pause; then Resume, waited for the same way."""
        button = self.window.controls.pause_button
        served = ack = float("nan")
        if pause:
            n, start = len(self.paused_seen), time.perf_counter()
            served = self.click(button)
            acked = self.wait(30, lambda: any(p for _, p in self.paused_seen[n:]))
            ack = next((t for t, p in self.paused_seen[n:] if p), float("inf")) - start if acked else float("inf")
        if resume:
            m = len(self.paused_seen)
            self.click(button)
            self.wait(30, lambda: any(not p for _, p in self.paused_seen[m:]))
        return served * 1000, ack * 1000

    def minute(self) -> dict:
        """The GUI thread's busy share and the timer's lateness since the last call."""
        now = (time.monotonic(), time.thread_time())
        busy = (now[1] - self.mark[1]) / max(1e-9, now[0] - self.mark[0])
        late = np.array(self.lateness or [0.0], dtype=np.float64)
        steal = host_steal()
        steal_share = (steal[0] - self.steal_mark[0]) / max(1, steal[1] - self.steal_mark[1])
        rss = np.array(self.rss or [rss_mb()])
        self.mark, self.lateness, self.steal_mark, self.rss = now, [], steal, []
        return {"gui_busy": round(busy, 3), "host_steal": round(steal_share, 4),
                "timer_p99_ms": float(np.percentile(late, 99)), "timer_max_ms": float(late.max()),
                "rss_median_mb": round(float(np.median(rss)), 1), "rss_max_mb": round(float(rss.max()), 1)}


class HostedRun:
    """Where the window's own run stands (read from the GUI thread: ints and floats, for a benchmark)."""

    def __init__(self, window) -> None:
        self.window = window

    def position(self) -> tuple[int, int, float, int] | None:
        """(step, images seen, training seconds, the newest step the run has reported: its stats are read
        from the device every stats_every steps, for metrics.csv and the window alike)."""
        worker = self.window.worker
        run = worker.run if worker is not None else None
        if run is None:
            return None
        # Training seconds without the live quality measurements (0.5 s each, every ~17 s; their cost is measured
        # apart, bench_quality_cost): at a period near the cycles' they fell into one part for minutes on end.
        # Nor the checkpoints and best generators written (0.1-0.2 s each, every 1,000 steps: ~20 s of the MLP
        # presets): each fell into one part of a 5 s cycle, +-0.5% of a minute's ratio apiece.
        seconds = run.seconds - run.quality.seconds_measuring - run.saves.seconds_writing
        return run.step_count, run.trainer.images_seen, seconds, run.step_count - len(run.stats)


class AttachedCli:
    """A CLI run in its own process, followed by the window; where it stands, from its metrics.csv."""

    def __init__(self, preset: str, out: Path, minutes: float) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "QT_QPA_PLATFORM": "offscreen"}
        self.run_dir = out / f"attached-{preset}-{int(time.time())}"
        self.process = subprocess.Popen([sys.executable, "-m", "cgan_core", "train", "--preset", preset, "--out",
                                         str(self.run_dir), "--max-seconds", str(int(minutes * 60 + 120))],
                                        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self.batch = None

    def position(self) -> tuple[int, int, float] | None:
        row = last_row(self.run_dir)  # the last whole row, read from the file's end
        if row is None:
            return None
        if self.batch is None:
            self.batch = int(read_config(self.run_dir)["batch_size"])
        return row.step, row.step * self.batch, row.seconds, row.step


class Views:
    """Stops and restarts the window's reading of the run, for the headless part of each minute."""

    def __init__(self, window, attached: bool) -> None:
        self.window, self.attached = window, attached

    def detach(self) -> None:
        if self.attached:
            self.window.controller.attached.detach()
        else:  # the worker's notices stop reaching the window; its mailbox keeps what it posts, coalesced
            self.window.worker.blockSignals(True)

    def reattach(self) -> None:
        if self.attached:
            self.window.controller.attached.start()
        else:
            self.window.worker.blockSignals(False)
            self.window.worker.eventsReady.emit()  # the notice it posted while blocked: the window takes all


def fresh_headless_reference(config, guard: dict, seconds: float) -> float:
    """A fresh run of the engine alone in this process, before the window starts: a check that the run
    with its views detached trains as fast as the engine without a window."""
    engine = Headless(config, guard)
    rate = engine.measure(seconds / 60)
    engine.close()
    return rate


def soak(args) -> tuple[list[dict], dict]:
    from PySide6.QtWidgets import QApplication

    from benchmarks.soak_studio import open_window

    app = QApplication.instance() or QApplication(["soak"])
    window = open_window(args.preset)
    panel = window.config_panel
    config, guard = panel.config(), panel.guard()
    config.sample_every = window.sample_every.value()
    probe = Probe(window, app, args.attach)
    extra = {}
    if args.attach:
        source = AttachedCli(args.preset, args.out, args.minutes + 3)
        probe.wait(120, lambda: source.position() is not None)
        probe.wait(20)  # past the start-up
        window.attach(source.run_dir)
    else:
        extra["fresh_headless_images_s"] = round(fresh_headless_reference(config, guard, 20), 1)
        print(json.dumps(extra), flush=True)
        source = HostedRun(window)
        window.start()
    probe.wait(120, lambda: source.position() is not None)
    views = Views(window, args.attach)
    rows = []
    probe.minute()
    for minute in range(1, int(args.minutes) + 1):
        end, frames = time.monotonic() + 60, window.loss_plot.pacer.frames
        click_ms, ack_ms = probe.pause_and_resume()
        probe.wait(1)  # the run back at speed and the pause's own redraws done before the parts are timed
        # The minute in cycles of --cycle-seconds: the window reading the run and the same run with nothing
        # reading it (--detached-seconds/60 of each cycle), so the host's own swings fall on both. The order
        # alternates between cycles (window first, then headless first) so that a drift within a cycle cancels.
        parts, position = {"window": [0, 0.0], "headless": [0, 0.0]}, source.position()
        shown_part = (1 - args.detached_seconds / 60) * args.cycle_seconds
        order = [("window", shown_part), ("headless", args.cycle_seconds - shown_part)]
        while time.monotonic() < end - 1:
            for kind, seconds in order:
                detached = kind == "headless" or args.calibrate
                if detached:
                    views.detach()
                probe.wait(max(0.0, min(seconds, end - time.monotonic())))
                now = source.position()
                if detached:
                    views.reattach()
                parts[kind][0] += now[1] - position[1]
                parts[kind][1] += now[2] - position[2]
                if kind == "window":  # how far behind the plot is, after a part with the window reading
                    plotted = int(window.loss_plot.steps[-1]) if window.loss_plot.point_count else 0
                    per_step = (now[2] - position[2]) / max(1, now[0] - position[0])
                    lag = ((now[0] - plotted) * per_step, max(0, now[3] - plotted) * per_step, now, plotted)
                position = now
            order.reverse()
        row = {"minute": minute, **probe.minute(), "click_ms": round(click_ms, 1), "pause_ack_ms": round(ack_ms, 1),
               "trained_step": lag[2][0], "reported_step": lag[2][3], "plotted_step": lag[3],
               "plot_lag_s": round(lag[0], 2), "window_lag_s": round(lag[1], 2), "rss_mb": round(rss_mb(), 1),
               "images_s": round(parts["window"][0] / max(1e-9, parts["window"][1]), 1),
               "headless_images_s": round(parts["headless"][0] / max(1e-9, parts["headless"][1]), 1),
               # the loss plot's frames a second (over the minute, detached parts included) and their cost
               "plot_frames_s": round((window.loss_plot.pacer.frames - frames) / 60, 2),
               "plot_frame_ms": round(window.loss_plot.pacer.frame_cost * 1000, 2)}
        row["window_over_headless"] = round(row["images_s"] / max(1e-9, row["headless_images_s"]), 3)
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.screenshots is not None and minute in (1, int(args.minutes)):
            probe.wait(1)  # the coalesced events of the headless part drawn
            args.screenshots.mkdir(parents=True, exist_ok=True)
            window.grab().save(str(args.screenshots / f"soak-{args.preset}{'-attached' if args.attach else ''}-{minute}min.png"))
    window.stop()
    probe.wait(120, lambda: not window.running)
    if args.attach:
        source.process.wait(120)
    window.close()
    app.processEvents()
    return rows, extra


def table(rows: list[dict], extra: dict) -> str:
    lines = [", ".join(f"{k}: {v}" for k, v in extra.items()), "",
             "| minute | GUI busy | timer p99 ms | timer max ms | click ms | pause ack ms | plot lag s | window lag s | "
             "img/s | headless img/s | window/headless | host steal | RSS MB at the minute | RSS MB median (max) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['minute']} | {r['gui_busy']:.0%} | {r['timer_p99_ms']:.0f} | {r['timer_max_ms']:.0f} | "
                     f"{r['click_ms']:.0f} | {r['pause_ack_ms']:.0f} | {r['plot_lag_s']:.2f} | {r['window_lag_s']:.2f} | "
                     f"{r['images_s']:.0f} | {r['headless_images_s']:.0f} | "
                     f"{r['window_over_headless']:.3f} | {r['host_steal']:.1%} | {r['rss_mb']:.0f} | "
                     f"{r['rss_median_mb']:.0f} ({r['rss_max_mb']:.0f}) |")
    return "\n".join(lines)


TARGETS = (  # issue 28's targets: (what, the row's figure, its unit, the bound, True when the bound is a floor)
    ("timer lateness p99 <= 50 ms", "timer_p99_ms", "ms", 50, False),
    ("timer lateness max <= 200 ms", "timer_max_ms", "ms", 200, False),
    ("Pause acknowledged within 1 s", "pause_ack_ms", "ms", 1000, False),
    ("plot within 1 s of training", "plot_lag_s", "s", 1.0, False),
    ("window/headless >= 0.95", "window_over_headless", "", 0.95, True),
)


def summary(rows: list[dict]) -> str:
    """Each target's range over the minutes and the minutes that held it; RSS growth after minute 5."""
    lines = ["| target (issue 28) | every minute | held |", "|---|---|---|"]
    for label, key, unit, bound, floor in TARGETS:
        values = [r[key] for r in rows]
        held = sum((v >= bound) if floor else (v <= bound) for v in values)
        lines.append(f"| {label} | {min(values):g}-{max(values):g} {unit} | {held} of {len(values)} |")
    after = [r["rss_median_mb"] for r in rows if r["minute"] >= 5]  # a minute's median: not one moment's peak
    if after:
        growth = max(after) / after[0] - 1
        lines.append(f"| RSS growth < 5% after minute 5 | {growth:+.1%} ({after[0]:.0f} -> {max(after):.0f} MB, "
                     f"medians of the minutes) | {'yes' if growth < 0.05 else 'no'} |")
    ratios = sorted(r["window_over_headless"] for r in rows)
    lines.append(f"\nwindow/headless median {ratios[len(ratios) // 2]:.3f}; GUI busy "
                 f"{min(r['gui_busy'] for r in rows):.1%}-{max(r['gui_busy'] for r in rows):.1%}")
    if all("plot_frames_s" in r for r in rows):
        lines.append(f"loss plot frames a second {min(r['plot_frames_s'] for r in rows):.2f}-"
                     f"{max(r['plot_frames_s'] for r in rows):.2f}, a frame "
                     f"{min(r['plot_frame_ms'] for r in rows):.1f}-{max(r['plot_frame_ms'] for r in rows):.1f} ms")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--preset", default="studio-fast")
    parser.add_argument("--attach", action="store_true", help="follow a CLI run instead of hosting it")
    parser.add_argument("--detached-seconds", type=float, default=20.0,
                        help="seconds of each minute trained with the window not reading the run (spread over its cycles)")
    parser.add_argument("--cycle-seconds", type=float, default=10.0,
                        help="each minute alternates the window reading the run and not, in cycles this long")
    parser.add_argument("--calibrate", action="store_true",
                        help="detach the views in both parts of each minute (past the Pause click): the ratio's own noise")
    parser.add_argument("--out", type=Path, default=Path("runs/soak-window"))
    parser.add_argument("--screenshots", type=Path)
    args = parser.parse_args()
    args.out = args.out.resolve()
    os.environ.setdefault("CGAN_STUDIO_RUNS", str(args.out))
    rows, extra = soak(args)
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"soak-window-{args.preset}{'-attached' if args.attach else ''}"
    (args.out / f"{name}.json").write_text(json.dumps({**extra, "rows": rows}, indent=1))
    print(table(rows, extra))
    print(summary(rows))


if __name__ == "__main__":
    main()
