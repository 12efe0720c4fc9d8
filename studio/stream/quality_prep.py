"""Live quality in the studio, without stalling training. The domain classifier (trained once per
dataset, a minute or two on a CPU) and the fixed real features are prepared by cgan_core.run.prepare on a
plain Python thread, which checks an abort flag between batches (as Orange3's task functions do) and
hands its result back through the worker's command queue; the run then gets a SetQuality command."""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from cgan_core.errors import CganError
from cgan_core.output.quality import QualitySchedule
from cgan_core.run.commands import SetQuality
from cgan_core.run.prepare import classifier_ready, prepare_quality


@dataclass(frozen=True)
class QualitySettings:
    """The quality panel's settings: enabled None means "on when the domain classifier is cached"."""

    enabled: bool | None = None
    every: int | None = None


class Aborted(Exception):
    pass


class QualityControl:
    """Owns live quality's settings and the prepared LiveQuality (kept when quality is switched off)."""

    def __init__(self, settings: QualitySettings, send: Callable[[object], None],
                 status: Callable[[str], None]) -> None:
        self.settings, self.send, self.status = settings, send, status
        self.live = None
        self._run = None
        self._thread: threading.Thread | None = None
        self._abort = threading.Event()

    def start(self, run) -> None:
        """The run is built: its settings are settled at the loop's first command drain."""
        self._run = run
        self.send(self.settings)

    def change(self, settings: QualitySettings) -> SetQuality | None:
        """Settle new settings (worker thread); the command for the run, or None while preparing."""
        enabled, every = settings.enabled, settings.every
        if enabled is None:  # the default: on when it costs nothing to get ready
            enabled = classifier_ready(self._run.dataset)
            if not enabled:
                self.settings = QualitySettings(False, every)
                self.status("off: the domain classifier is not trained yet (a minute or two); tick to train it")
                return SetQuality(None)
        self.settings = QualitySettings(enabled, every)
        if not enabled:
            self.status("off")
            return SetQuality(None)
        if self.live is not None:
            self.status(QualitySchedule(every).label)
            return SetQuality(self.live, every)
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._prepare, name="quality-prep", daemon=True)
            self._thread.start()
        return None

    def abort(self) -> None:
        self._abort.set()

    def join(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._thread.join()

    def _progress(self, fraction: float) -> None:
        if self._abort.is_set():
            raise Aborted  # between classifier batches: a stop never waits for the whole training
        self.status(f"training the domain classifier (once): {fraction:.0%}")

    def _prepare(self) -> None:
        run = self._run
        try:
            self.status("preparing…" if classifier_ready(run.dataset) else "training the domain classifier (once)…")
            self.live = prepare_quality(run.config, run.dataset, self._progress)
            self.send(self.settings)  # the latest settings apply, now with the classifier ready
        except Aborted:
            pass
        except (CganError, OSError, RuntimeError, ValueError) as exc:
            self.status(f"unavailable: {exc}")
