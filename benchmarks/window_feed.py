"""A window fed as a live run feeds it, for the window's timing benchmark and its mechanism tests: loss chunks
of any length, frames timed in the GUI thread's CPU time, and a producer thread that posts chunks through the
worker's Mailbox faster than the window draws."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPointF, Qt, Signal, Slot
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from cgan_core.run.events import LossChunk, Progress
from studio.stream.stream import Mailbox

NAMES = ("d1", "d2", "g", "p_real", "p_fake")


def chunk(first: int, n: int, rng: np.random.Generator) -> LossChunk:
    steps = np.arange(first, first + n, dtype=np.int64)
    values = np.abs(rng.normal(0.7, 0.2, size=(n, len(NAMES)))).astype(np.float32)
    return LossChunk(steps, values, NAMES, first / 1000, first * 64, first / 10, 600.0)


def timed_redraw(w, first: int, rng) -> float:
    """One frame as the live window draws it: a new chunk, the curves' data, and the paint. Timed in this
    thread's CPU time (the redraw and the paint run in it): wall time also counts the moments a test on the
    other core's worker takes this one (27 ms in the suite against 13 ms alone, on a 2-core host)."""
    w.deliver([chunk(first, 10, rng)])
    start = time.thread_time()
    w.loss_plot.redraw()
    w.loss_plot.plot.viewport().repaint()
    return time.thread_time() - start


def frames(w, first: int, rng, count: int = 25) -> float:
    """The median of `count` frames after the one that rebuilds the axes' pictures."""
    timed_redraw(w, first, rng)
    return float(np.median([timed_redraw(w, first + 10 * (i + 1), rng) for i in range(count)]))


class Producer(QObject):
    """A worker stand-in: posts loss chunks into a Mailbox from its own thread, faster than the window draws."""

    ready = Signal()

    def __init__(self, first: int) -> None:
        super().__init__()
        self.mailbox = Mailbox(self.ready.emit)
        self.step, self.stop, self.posted = first, threading.Event(), 0

    def run(self) -> None:
        rng = np.random.default_rng(3)
        while not self.stop.is_set():
            self.mailbox.post(chunk(self.step, 20, rng))
            self.mailbox.post(Progress(self.step + 19, 1.0, 600.0, 60.0, None, False))
            self.step += 20
            self.posted += 1
            time.sleep(0.001)


class Drain(QObject):
    """The GUI side, as RunController is: a slot in the GUI thread takes what the mailbox holds."""

    def __init__(self, window, producer: Producer) -> None:
        super().__init__()
        self.window, self.producer, self.waiting = window, producer, []
        producer.ready.connect(self.drain)

    @Slot()
    def drain(self) -> None:
        self.waiting.append(self.producer.mailbox.pending)
        self.window.deliver(self.producer.mailbox.take())


def post_click(widget) -> None:
    """A real mouse click, queued behind whatever the event loop already holds."""
    centre = QPointF(widget.rect().center())
    for kind in (QEvent.MouseButtonPress, QEvent.MouseButtonRelease):
        event = QMouseEvent(kind, centre, widget.mapToGlobal(centre), Qt.LeftButton, Qt.LeftButton, Qt.NoModifier)
        QApplication.postEvent(widget, event)


@dataclass
class Clicks:
    latencies: list[float] = field(default_factory=list)  # seconds from a click's post to its toggle's signal
    pending: list[int] = field(default_factory=list)  # what the mailbox held at each click
    waiting: list[int] = field(default_factory=list)  # what each drain found
    posted: int = 0
    steps_drawn: int = 0


def clicks_while_streaming(w, wait: Callable[[int], None], wait_until: Callable[[Callable[[], bool]], None],
                           clicks: int = 12) -> Clicks:
    """A 200,000-step history, then `clicks` real clicks on the g toggle while a producer posts chunks faster
    than the window draws. `wait(ms)` and `wait_until(predicate)` run the event loop (qtbot's, or the
    benchmark's own)."""
    rng = np.random.default_rng(4)
    for first in range(1, 200_001, 5_000):
        w.deliver([chunk(first, 5_000, rng)])
    producer = Producer(200_001)
    drain = Drain(w, producer)
    thread = threading.Thread(target=producer.run, daemon=True)
    box = w.loss_plot.toggles["g"]
    served: list[float] = []  # when the click took effect: the toggle's own signal, not the caller's polling
    box.toggled.connect(lambda on: served.append(time.perf_counter()))
    found = Clicks()
    thread.start()
    try:
        wait(500)
        for i in range(clicks):
            start = time.perf_counter()
            post_click(box)
            wait_until(lambda i=i: len(served) > i)
            found.latencies.append(served[i] - start)
            found.pending.append(producer.mailbox.pending)
            wait(150)
    finally:
        producer.stop.set()
        thread.join(10)
    found.waiting, found.posted, found.steps_drawn = drain.waiting, producer.posted, int(w.loss_plot.steps[-1])
    return found
