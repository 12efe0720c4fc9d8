"""Take the README's screenshots of the real app: run under `xvfb-run -s "-screen 0 1280x800x24"`.

idle -> start -> 30 s of training -> halve lr D -> pause, each captured from the X screen.
"""
from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from studio.app import build_window

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")
TRAIN_SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 30.0
SCENARIO = sys.argv[3] if len(sys.argv) > 3 else "tour"  # "tour" or "rollback"


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    window = build_window()
    window.resize(1280, 770)
    window.move(0, 0)
    window.show()
    app = QApplication.instance()

    def shot(name: str) -> None:
        app.primaryScreen().grabWindow(0).save(str(OUT / f"{name}.png"))
        print("saved", OUT / f"{name}.png", flush=True)

    def lower_lr() -> None:
        window.config_panel.lr_d.setValue(window.config_panel.lr_d.value() / 2)

    def explode() -> None:  # what a slip of the keyboard does: both learning rates x1000
        panel = window.config_panel
        panel.lr_g.setValue(panel.lr_g.value() * 1000)
        panel.lr_d.setValue(panel.lr_d.value() * 1000)

    if SCENARIO == "rollback":
        plan = [(0.5, window.start), (TRAIN_SECONDS, explode), (TRAIN_SECONDS + 12, lambda: shot("rollback")),
                (TRAIN_SECONDS + 12.5, window.close)]
        for delay, action in plan:
            QTimer.singleShot(int(delay * 1000), action)
        return app.exec()
    plan = [
        (1.5, lambda: shot("idle")),
        (2.0, window.start),
        (2.0 + TRAIN_SECONDS, lambda: shot("training")),
        (2.5 + TRAIN_SECONDS, lower_lr),
        (12.5 + TRAIN_SECONDS, lambda: shot("lr-change")),
        (13.0 + TRAIN_SECONDS, window.toggle_pause),
        (15.0 + TRAIN_SECONDS, lambda: shot("paused")),
        (15.5 + TRAIN_SECONDS, window.close),
    ]
    for delay, action in plan:
        QTimer.singleShot(int(delay * 1000), action)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
