"""How long a run trains: its step limit counts the run's total steps; an epoch or time budget counts from
where this invocation started (a resume with --max-seconds 60 trains for another minute)."""
from __future__ import annotations

from dataclasses import dataclass

from cgan_core.records import FinishReason


@dataclass(frozen=True)
class Budget:
    steps: int | None
    epochs: float | None
    seconds: float | None
    start_step: int = 0
    start_epoch: float = 0.0
    start_seconds: float = 0.0

    def reached(self, step: int, epoch: float, seconds: float) -> FinishReason | None:
        """The limit reached (steps, epochs or seconds), else None."""
        if self.steps is not None and step >= self.steps:
            return FinishReason.STEPS
        if self.epochs is not None and epoch - self.start_epoch >= self.epochs:
            return FinishReason.EPOCHS
        if self.seconds is not None and seconds - self.start_seconds >= self.seconds:
            return FinishReason.SECONDS
        return None

    def fraction(self, step: int, epoch: float, seconds: float) -> float | None:
        """The fraction done of the most advanced limit, or None when the run is unbounded."""
        parts = []
        if self.steps is not None:
            parts.append((step - self.start_step) / max(1, self.steps - self.start_step))
        if self.epochs is not None:
            parts.append((epoch - self.start_epoch) / self.epochs)
        if self.seconds is not None:
            parts.append((seconds - self.start_seconds) / self.seconds)
        return min(1.0, max(0.0, max(parts))) if parts else None
