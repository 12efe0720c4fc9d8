"""The step stats between the device and the run's readers: held as device tensors, read in one host
sync every `stats_every` steps into a LossChunk (the live curves, the guard) and rows of metrics.csv."""
from __future__ import annotations

import numpy as np
import torch

from cgan_core.run.events import LossChunk
from cgan_core.step.trainer import STAT_NAMES, StepStats


class StatsBuffer:
    def __init__(self, seconds: float, images_seen: int, every: int, report_seconds: float | None = None) -> None:
        """every: read after this many steps; report_seconds: also once this much training time has passed
        since the last read (the studio's plot stays within a second of training whatever the preset's speed)."""
        self.every, self.report_seconds = every, report_seconds
        self._pending: list[tuple[StepStats, float]] = []
        self._rate = (seconds, images_seen)  # (training seconds, images) at the last chunk
        self.images_per_second = 0.0  # over the last chunk of steps

    def add(self, stats: StepStats, epoch: float) -> None:
        self._pending.append((stats, epoch))

    def __len__(self) -> int:
        return len(self._pending)

    def due(self, seconds: float) -> bool:
        """Whether the pending stats should be read now, at `seconds` of training."""
        late = self.report_seconds is not None and seconds - self._rate[0] >= self.report_seconds
        return len(self._pending) >= self.every or late

    def clear(self) -> None:
        """Forget the stats not read yet (a rollback abandons them)."""
        self._pending = []

    def read(self, hparams: dict, seconds: float, images_seen: int) -> tuple[LossChunk, list[dict]] | None:
        """The pending stats as a chunk and as metrics.csv rows, or None when there are none."""
        if not self._pending:
            return None
        values = torch.stack([s.values for s, _ in self._pending]).cpu().numpy()  # the host sync
        steps = np.array([s.step for s, _ in self._pending], dtype=np.int64)
        epochs = [e for _, e in self._pending]
        self._pending = []
        names = list(STAT_NAMES)
        rows = [dict(zip(names, values[i].tolist()), step=int(step), epoch=epochs[i], lr_g=hparams["lr_g"],
                     lr_d=hparams["lr_d"], seconds=seconds) for i, step in enumerate(steps)]
        last_seconds, last_images = self._rate
        self.images_per_second = (images_seen - last_images) / max(seconds - last_seconds, 1e-9)
        self._rate = (seconds, images_seen)
        chunk = LossChunk(steps, values.astype(np.float32), tuple(names), epochs[-1], images_seen, seconds,
                          self.images_per_second)
        return chunk, rows
