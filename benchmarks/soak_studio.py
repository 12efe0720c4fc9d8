"""Soak in the studio: every preset trains in the real window for minutes under the default guard.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/soak_studio.py --minutes 3 [--presets a,b]
        [--out DIR] [--screenshots DIR]

The window is driven as a user drives it (preset picked in the panel, Start, wait, Stop). For each preset
it records the steps reached, whether the guard paused the run (it must not), the error dialogs (there
must be none), the guard's rollbacks and advice from events.jsonl, and whether generator.safetensors was
written. With --screenshots (under Xvfb) it saves the window at the end of each run.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtWidgets import QApplication  # noqa: E402

from cgan_core.run.events import CheckpointSaved, GuardAdvice, GuardGaveUp, RolledBack  # noqa: E402
from cgan_core.run.folder_reader import generator_of, read_events  # noqa: E402
from cgan_core.step.presets import PRESETS  # noqa: E402
from studio.app import build_window  # noqa: E402


def wait(app: QApplication, seconds: float, until=lambda: False) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end and not until():
        app.processEvents()
        time.sleep(0.02)


def open_window(preset: str):
    """The studio's window shown at 1280x800 with `preset` picked in the panel on MNIST, as a user picks it (the
    preset's own batch size, latent size and learning rates), unbounded, the guard on; not started."""
    window = build_window()
    window.resize(1280, 800)
    window.show()
    panel = window.config_panel
    panel.data_picker.load({"dataset": "mnist", "image_size": None, "color": "keep"})
    # Picked afresh, so the panel takes the preset's own values: when the studio's remembered settings already
    # name this preset, picking it again changes nothing, and an earlier session's values would stay.
    panel.preset.setCurrentText(next(name for name in PRESETS if name != preset))
    panel.preset.setCurrentText(preset)
    panel.steps.setValue(0)
    panel.guard_box.setChecked(True)
    return window


def guard_findings(events: list) -> dict:
    """The guard's rollbacks and advice in a run's events, as "reason @step" texts."""
    return {"rollbacks": [f"{e.reason} @{e.from_step}" for e in events if isinstance(e, RolledBack)],
            "advice": [f"{e.reason} @{e.step}" for e in events if isinstance(e, GuardAdvice)]}


def soak(app: QApplication, preset: str, minutes: float, out: Path, shots: Path | None) -> dict:
    window = open_window(preset)
    window.start()
    wait(app, 120, lambda: window.run_dir is not None)
    run_dir = window.run_dir
    wait(app, minutes * 60, lambda: window.paused or bool(window.errors))
    paused_by_guard = window.paused
    steps = window.worker.run.step_count if window.worker is not None and window.worker.run is not None else None
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(shots / f"studio-{preset}.png"))
    window.stop()
    wait(app, 120, lambda: not window.running)
    events = read_events(run_dir)
    result = {"preset": preset, "minutes": minutes, "steps": steps, "paused_by_guard": paused_by_guard,
              "errors": list(window.errors), "notices": len(window.notices), **guard_findings(events),
              "gave_up": any(isinstance(e, GuardGaveUp) for e in events),
              "generator": generator_of(run_dir) is not None,
              "checkpoints": sum(isinstance(e, CheckpointSaved) for e in events), "run_dir": str(run_dir)}
    window.close()
    window.deleteLater()
    app.processEvents()
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--out", type=Path, default=Path("runs/soak-studio"))
    parser.add_argument("--screenshots", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("CGAN_STUDIO_RUNS", str(args.out))
    app = QApplication.instance() or QApplication(["soak"])
    results = []
    for name in args.presets.split(","):
        results.append(soak(app, name, args.minutes, args.out, args.screenshots))
        print(json.dumps(results[-1]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "soak-studio.json").write_text(json.dumps(results, indent=1))
    print("| preset | minutes | steps | paused by the guard | error dialogs | rollbacks | advice | checkpoints |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['preset']} | {r['minutes']:g} | {r['steps']} | {'yes' if r['paused_by_guard'] else 'no'} | "
              f"{len(r['errors'])} | {', '.join(r['rollbacks']) or 0} | {', '.join(r['advice']) or 0} | {r['checkpoints']} |")
