"""Every preset forked in the studio, as a user does it: the window trains the preset, then Try variants…
(the dialog filled and accepted), the variants train side by side, "Continue from the best" (or the
first variant when nothing measured quality), and the run trains on from it.

    xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python -m benchmarks.soak_fork_studio \
        [--seconds 60] [--steps 100] [--after 30] [--presets a,b] [--out DIR] [--screenshots DIR]

For each preset it records the step of the fork, the variant kept and how it was chosen, the run's lr D
before and after (the kept variant's rate must be the run's), the steps the run trained after the choice,
the variants' folders on disk, error dialogs (there must be none) and the guard's findings; with
--screenshots, the Variants window when they are ready and the main window after the choice.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import time
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from benchmarks.soak_studio import guard_findings, open_window
from cgan_core.run.folder_reader import read_events, variant_folders
from cgan_core.step.presets import PRESETS
from studio.tools.variants_dialog import TryVariantsDialog


def wait(app: QApplication, seconds: float, until=lambda: False) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end and not until():
        app.processEvents()
        time.sleep(0.02)
    return until()


def accept_dialog(vary: str, steps: int) -> None:
    """Fill the modal Try variants dialog once it is up, as a user types, and press Start variants."""
    dialog = next((w for w in QApplication.topLevelWidgets() if isinstance(w, TryVariantsDialog) and w.isVisible()),
                  None)
    if dialog is None:
        QTimer.singleShot(50, lambda: accept_dialog(vary, steps))
        return
    dialog.first.setCurrentIndex(dialog.first.findData("lr_d"))
    dialog.first_values.setText(vary)
    dialog.steps.setValue(steps)
    dialog.buttons.button(QDialogButtonBox.Ok).click()


def fork(app: QApplication, preset: str, args: argparse.Namespace) -> dict:
    window = open_window(preset)
    panel = window.config_panel
    window.start()
    wait(app, 120, lambda: window.run_dir is not None)
    run_dir, run = window.run_dir, lambda: window.worker.run
    wait(app, args.seconds, lambda: bool(window.errors))
    wait(app, 60, lambda: panel.try_button.isEnabled())
    lr_before = panel.hparams()["lr_d"]
    QTimer.singleShot(0, lambda: accept_dialog(args.vary, args.steps))
    panel.try_button.click()  # the modal dialog runs its own loop until accept_dialog presses Start
    view = window.variants.window
    ready = wait(app, 1800, lambda: view.best_button is not None and "waits for your choice" in view.header.text())
    fork_step = view.fork_step
    if args.screenshots is not None:
        args.screenshots.mkdir(parents=True, exist_ok=True)
        view.grab().save(str(args.screenshots / f"fork-{preset}-ready.png"))
    by_quality = view.best_button.isEnabled()
    (view.best_button if by_quality else view.columns[0].button).click()
    chosen = wait(app, 120, lambda: "went on with" in view.header.text())
    after = run().step_count if chosen else None
    wait(app, args.after, lambda: bool(window.errors))
    steps_after = run().step_count - after if chosen else 0
    lr_after = panel.hparams()["lr_d"]
    if args.screenshots is not None:
        window.grab().save(str(args.screenshots / f"fork-{preset}-after.png"))
    window.stop()
    wait(app, 300, lambda: not window.running)
    events = read_events(run_dir)
    result = {"preset": preset, "forked_at": fork_step, "ready": ready, "header": view.header.text(),
              "chosen_by": "live quality" if by_quality else "first variant (no quality measured)",
              "lr_d_before": lr_before, "lr_d_after": lr_after, "steps_after_choice": steps_after,
              "variant_folders": [p.name for p in variant_folders(run_dir, fork_step)],
              "errors": list(window.errors), **guard_findings(events),
              "run_dir": str(run_dir)}
    window.close()
    window.deleteLater()
    app.processEvents()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0, help="training before the fork")
    parser.add_argument("--steps", type=int, default=100, help="steps each variant trains")
    parser.add_argument("--vary", default="0.5x, 1x", help="the lr D values, as typed in the dialog")
    parser.add_argument("--after", type=float, default=30.0, help="seconds of training after the choice")
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--out", type=Path, default=Path("runs/soak-fork-studio"))
    parser.add_argument("--screenshots", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("CGAN_STUDIO_RUNS", str(args.out))
    app = QApplication.instance() or QApplication(["soak-fork"])
    results = []
    for name in args.presets.split(","):
        results.append(fork(app, name, args))
        print(json.dumps(results[-1]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "soak-fork-studio.json").write_text(json.dumps(results, indent=1))
    print("| preset | forked at | kept (how) | lr D before -> after | steps after | variant folders | error dialogs "
          "| the guard |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        kept = re.search(r"went on with <b>(.*?)</b>", r["header"])
        kept = kept.group(1) if kept else "-"
        guard = ", ".join(r["rollbacks"] + r["advice"]) or "-"
        print(f"| {r['preset']} | {r['forked_at']} | {kept} ({r['chosen_by']}) | {r['lr_d_before']:.2e} -> "
              f"{r['lr_d_after']:.2e} | {r['steps_after_choice']} | {len(r['variant_folders'])} | {len(r['errors'])} "
              f"| {guard} |")


if __name__ == "__main__":
    main()
