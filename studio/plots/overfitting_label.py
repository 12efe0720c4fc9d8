"""D's overfitting sign beside the loss plot's controls: r_t = E[sign(D(x_real))] over the last steps
(StyleGAN2-ADA), near 0 while D cannot tell its real images from fakes, towards 1 as it learns them apart."""
from __future__ import annotations

from collections import deque

import numpy as np
from PySide6.QtWidgets import QLabel

STEPS = 100  # the mean over about this many steps: one step's sign is -1..1 in a batch of 64
WARN_STYLE, QUIET_STYLE = "color: #e0a040;", "color: #aaaaaa;"


class OverfittingLabel(QLabel):
    def __init__(self) -> None:
        super().__init__("r_t –", objectName="overfittingLabel")
        self.setToolTip("r_t: the share of real images D calls real, less the rest, over the last steps.\n"
                        "About 0 while D cannot tell real from generated; above 0.6 D has learnt its real images\n"
                        "apart (StyleGAN2-ADA's sign of D overfitting: more data, augmentation or a lower lr D).\n"
                        "aug: the probability of each augmentation of D's inputs, shown while above 0; an adaptive\n"
                        "augmentation raises it while r_t is above 0.6 and lowers it below.")
        self.values: deque = deque(maxlen=STEPS)

    def add(self, chunk) -> None:
        """A LossChunk; a run written before r_t was recorded leaves the label as it is."""
        if "r_t" not in chunk.names:
            return
        column = chunk.column("r_t")
        self.values.extend(column[np.isfinite(column)].tolist()[-STEPS:])
        if self.values:
            r_t = float(np.mean(self.values))
            p = chunk.column("aug_p")[-1] if "aug_p" in chunk.names else np.nan
            strength = f" · aug {p:.2f}" if np.isfinite(p) and p > 0 else ""
            self._show(f"r_t {r_t:.2f}{strength}", WARN_STYLE if r_t > 0.6 else QUIET_STYLE)

    def clear(self) -> None:
        self.values.clear()
        self._show("r_t –", QUIET_STYLE)

    def _show(self, text: str, style: str) -> None:
        # Only what changed: a style sheet set re-polishes the widget even when it is the same one, and this
        # runs with every chunk (5 a second), holding the interpreter lock that the training thread waits for.
        if text != self.text():
            self.setText(text)
        if style != self.styleSheet():
            self.setStyleSheet(style)
