"""Getting live quality ready without stalling training: the domain classifier (trained once per
dataset, a minute or two on a CPU) and the fixed real features are prepared on a plain Python
thread, which checks an abort flag between chunks and hands its result to the training loop
through the worker's command queue."""
from __future__ import annotations

import threading
from typing import Callable


class Aborted(Exception):
    pass


class QualityPreparer:
    def __init__(self, train, config, on_ready: Callable, on_status: Callable[[str], None],
                 should_stop: Callable[[], bool]) -> None:
        self.train, self.config = train, config
        self.on_ready, self.on_status, self.should_stop = on_ready, on_status, should_stop
        self.thread = threading.Thread(target=self._run, name="quality-prep", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def join(self) -> None:
        if self.thread.is_alive():
            self.thread.join()

    def _progress(self, fraction: float) -> None:
        if self.should_stop():
            raise Aborted  # between classifier batches: a stop never waits for the whole training
        self.on_status(f"training the domain classifier (once): {fraction:.0%}")

    def _run(self) -> None:
        from cgan_core.data import load_dataset
        from cgan_core.errors import CganError
        from cgan_core.quality import classifier_ready, prepare_live_quality

        try:
            if not classifier_ready(self.train):
                self.on_status("training the domain classifier (once)…")
            else:
                self.on_status("preparing…")
            c = self.config
            test = load_dataset(c.dataset, "test", image_size=c.image_size, color=c.color)
            self.on_ready(prepare_live_quality(self.train, test, self._progress))
        except Aborted:
            pass
        except (CganError, OSError, RuntimeError, ValueError) as exc:
            self.on_status(f"unavailable: {exc}")
