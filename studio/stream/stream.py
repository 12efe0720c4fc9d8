"""One stream of typed events from a run to the window, with backpressure.

The engine's events (cgan_core.run.events) and the few the studio adds below travel as one list per
delivery, through one signal, to one table in the window that maps each event type to a view. A live
run's worker fills a Mailbox from its thread; an attached run's tail and an opened run's history hand
their lists to the same table.

Backpressure: the worker never waits for the window and never queues a second notice while one is
undelivered. What the window has not taken yet coalesces in the mailbox (consecutive loss chunks merge;
of a grid, the progress, the snapshot list and the status texts only the newest is kept), so however
slow a redraw is, Qt's event queue holds at most one notice, and the window always draws the newest state.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cgan_core.run.events import LossChunk, Progress, RunFinished, SampleGrid


@dataclass(frozen=True)
class RunStarted:
    """The run is built: where it writes, and on what it trains."""

    run_dir: str
    device: str
    state_bytes: int = 0  # one full training state (what each variant of a fork holds)
    images: str = ""  # what it trains on, as the status bar says it: "64x64 px RGB"


@dataclass(frozen=True)
class Busy:
    """What the worker is doing outside training ("" when it is training or done)."""

    message: str


@dataclass(frozen=True)
class Failed:
    """The run ended with an error; the message names the file or value where it can."""

    message: str


@dataclass(frozen=True)
class QualityStatus:
    """What live quality is doing, for the quality panel."""

    message: str


@dataclass(frozen=True)
class Snapshots:
    """The steps of the healthy snapshots the guard keeps (the timeline's points)."""

    kept: tuple[int, ...]


@dataclass(frozen=True)
class Ended:
    """The worker (or the followed run) is done; `result` is the run's RunFinished, or None after an error."""

    result: RunFinished | None


# Of these only the newest matters: an older one still waiting is dropped.
NEWEST_ONLY = (SampleGrid, Progress, Snapshots, QualityStatus, Busy)


def merge_chunks(chunks: list[LossChunk]) -> LossChunk:
    last = chunks[-1]
    if len(chunks) == 1:
        return last
    return LossChunk(np.concatenate([c.steps for c in chunks]), np.concatenate([c.values for c in chunks]),
                     last.names, last.epoch, last.images_seen, last.seconds, last.images_per_second)


class _Chunks(list):
    """Loss chunks that arrived back to back, merged into one when taken."""


class Mailbox:
    """Events from a worker thread to the GUI thread: post() from the worker, take() in the GUI.
    `notify` is called (from the posting thread) only when the mailbox goes from taken to not empty."""

    def __init__(self, notify: Callable[[], None]) -> None:
        self._notify = notify
        self._lock = threading.Lock()
        self._items: list = []
        self._notified = False

    def post(self, event) -> None:
        with self._lock:
            self._add(event)
            if self._notified:
                return  # the window has a notice it has not acted on: it will take this one too
            self._notified = True
        self._notify()

    def _add(self, event) -> None:
        items = self._items
        if isinstance(event, LossChunk):
            for item in reversed(items):  # past the status-like items: they carry no order
                if isinstance(item, _Chunks):
                    item.append(event)
                    return
                if not isinstance(item, NEWEST_ONLY):
                    break  # a marker or a rollback: the chunks after it stay after it
            items.append(_Chunks([event]))
            return
        if isinstance(event, NEWEST_ONLY):
            items[:] = [item for item in items if type(item) is not type(event)]
        items.append(event)

    def take(self) -> list:
        """Everything posted since the last take, in order, coalesced."""
        with self._lock:
            items, self._items, self._notified = self._items, [], False
        return [merge_chunks(item) if isinstance(item, _Chunks) else item for item in items]

    @property
    def pending(self) -> int:
        """How many items wait (tests and the soak read it)."""
        with self._lock:
            return len(self._items)
