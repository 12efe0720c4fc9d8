"""Take the README's screenshots of the real app: run under `xvfb-run -s "-screen 0 1280x800x24"`.

    make_screenshots.py OUT SECONDS [tour|rollback]
        idle -> start -> SECONDS of training -> halve lr D -> pause, each captured from the X screen.
    make_screenshots.py OUT 0 explorer RUN_DIR
        the latent explorer on RUN_DIR/generator.safetensors: 6 -> 1 (GIF exported) and same z in every
        class (grid exported seed-004 style).
    make_screenshots.py OUT SECONDS folder FOLDER
        train on a folder of images (one subfolder per class) for SECONDS.
    make_screenshots.py OUT SECONDS attach [N]
        a CLI run in another process (with N: a distributed run, --nproc N), followed with Attach to run…;
        lr D halved from the panel after SECONDS / 2, captured at SECONDS.
    make_screenshots.py OUT 0 runs SWEEP_DIR
        Tools > Runs… on a sweep folder: its three best trials overlaid (runs-view), then its ranking and
        quality over two hyperparameters (sweep-view).
    make_screenshots.py OUT 0 compare FOLDER
        Tools > Runs… > Compare images on a folder of runs: its first three by name, at the last step all reached.
    make_screenshots.py OUT SECONDS variants [STEPS]
        Try variants… after SECONDS of studio-fast: lr D x0.3, x1 and x3 for STEPS steps each (400), side by
        side once ready (variants-ready), then the run 20 s after going on with lr D x0.3 (variants-promoted).
    make_screenshots.py OUT SECONDS advice
        dcgan-label-channel (D-dominated from its start, as its tutorial's own code): the guard's advice,
        captured as soon as it is shown (at most SECONDS).
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

# A fresh settings folder for every take: the window then shows the defaults (a take's own halved lr D was
# remembered by the next take's idle window), and the user's own settings are never touched.
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="cgan-screenshots-")

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from cgan_core.run.folder_reader import generator_path
from studio.app import build_window

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")
TRAIN_SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 30.0
SCENARIO = sys.argv[3] if len(sys.argv) > 3 else "tour"  # tour, rollback, explorer or folder
ARGUMENT = sys.argv[4] if len(sys.argv) > 4 else ""


def explorer_plan(window, grab) -> list:
    def open_explorer() -> None:
        window.show_explorer()
        ex = window.explorer
        ex.load_file(generator_path(Path(ARGUMENT)))
        ex.resize(1000, 640)
        ex.move(0, 0)
        ex.from_combo.setCurrentIndex(6)
        ex.to_combo.setCurrentIndex(1)
        ex.frames_spin.setValue(50)
        ex.player.frame_slider.setValue(24)

    def export_and_compare() -> None:
        ex = window.explorer
        ex.exports.export_gif(OUT / "six-to-one.gif")
        ex.tabs.setCurrentIndex(3)
        ex.columns_spin.setValue(10)
        ex.exports.export_grid(OUT / "grid-seed004-style.png")

    # The explorer's own window, not the screen: without a window manager the main window can stay on top.
    return [(0.5, open_explorer), (2.0, lambda: grab(window.explorer, "explorer-classes")), (2.5, export_and_compare),
            (4.0, lambda: grab(window.explorer, "explorer-compare")), (4.5, window.explorer_close_all)]


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

    def grab(widget, name: str) -> None:  # one window, not the whole screen
        widget.grab().save(str(OUT / f"{name}.png"))
        print("saved", OUT / f"{name}.png", flush=True)

    def lower_lr() -> None:
        window.config_panel.lr_d.setValue(window.config_panel.lr_d.value() / 2)

    def explode() -> None:  # what a slip of the keyboard does: both learning rates x1000
        panel = window.config_panel
        panel.lr_g.setValue(panel.lr_g.value() * 1000)
        panel.lr_d.setValue(panel.lr_d.value() * 1000)

    window.explorer_close_all = lambda: (window.explorer and window.explorer.close(), window.close())
    if SCENARIO == "explorer":
        for delay, action in explorer_plan(window, grab):
            QTimer.singleShot(int(delay * 1000), action)
        return app.exec()
    if SCENARIO == "runs":  # the Runs view on a sweep folder: its three best trials compared, then the ranking
        from studio.tools.runs_view import RunsWindow

        runs = RunsWindow(window, [Path(ARGUMENT)])
        best = sorted(runs.runs, key=lambda r: -(r.best_accuracy or 0))[:3]
        plan = [(0.5, lambda: (runs.show(), runs.raise_(), runs.select([r.name for r in best]))),
                (2.5, lambda: grab(runs, "runs-view")), (3.0, lambda: runs.add_folder(Path(ARGUMENT))),
                (5.0, lambda: grab(runs, "sweep-view")), (5.5, window.close)]
        for delay, action in plan:
            QTimer.singleShot(int(delay * 1000), action)
        return app.exec()
    if SCENARIO == "compare":  # Runs… > Compare images on a folder of runs: its first three, side by side
        from studio.tools.runs_view import RunsWindow

        runs = RunsWindow(window, [Path(ARGUMENT)])
        names = sorted(r.name for r in runs.runs)[:3]
        plan = [(0.5, lambda: (runs.show(), runs.raise_(), runs.select(names),
                               runs.tabs.setCurrentWidget(runs.images))),
                (2.5, lambda: grab(runs, "compare-images")), (3.0, window.close)]
        for delay, action in plan:
            QTimer.singleShot(int(delay * 1000), action)
        return app.exec()
    if SCENARIO == "folder":
        window.config_panel.data_picker.set_dataset(ARGUMENT)
        plan = [(0.5, window.start), (TRAIN_SECONDS, lambda: shot("own-folder")), (TRAIN_SECONDS + 0.5, window.close)]
        for delay, action in plan:
            QTimer.singleShot(int(delay * 1000), action)
        return app.exec()
    if SCENARIO == "attach":
        import subprocess
        import tempfile

        run_dir = Path(tempfile.mkdtemp(prefix="attach-")) / "cli-run"
        ranks = ["--nproc", ARGUMENT] if ARGUMENT else []  # attach N: a distributed run of N processes
        cli = subprocess.Popen([sys.executable, "-m", "cgan_core", "train", "--max-seconds", str(TRAIN_SECONDS * 2),
                                *ranks, "--out", str(run_dir)], stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        name = f"attached-{ARGUMENT}-ranks" if ARGUMENT else "attached"
        plan = [(12.0, lambda: window.attach(run_dir)), (TRAIN_SECONDS / 2, lower_lr),
                (TRAIN_SECONDS, lambda: shot(name)), (TRAIN_SECONDS + 0.5, window.stop),
                (TRAIN_SECONDS + 5, lambda: (cli.wait(30), window.close()))]
        for delay, action in plan:
            QTimer.singleShot(int(delay * 1000), action)
        return app.exec()
    if SCENARIO == "advice":
        window.config_panel.preset.setCurrentText("dcgan-label-channel")
        poll = QTimer(window)
        poll.timeout.connect(lambda: window.notices and (poll.stop(), QTimer.singleShot(1500, lambda: (
            shot("guard-advice"), window.close()))))
        plan = [(0.5, window.start), (0.6, lambda: poll.start(500)), (TRAIN_SECONDS, window.close)]
        for delay, action in plan:
            QTimer.singleShot(int(delay * 1000), action)
        return app.exec()
    if SCENARIO == "variants":
        def when_ready() -> None:
            view = window.variants.window
            if view is not None and "waits for your choice" in view.header.text():
                poll.stop()
                view.resize(1100, 760)
                QTimer.singleShot(1000, lambda: (grab(view, "variants-ready"), view.columns[0].button.click()))
                QTimer.singleShot(21_000, lambda: (grab(view, "variants-chosen"), grab(window, "variants-promoted"),
                                                   window.close()))
        poll = QTimer(window)
        poll.timeout.connect(when_ready)
        fork = lambda: (window.variants.start(("lr_d=0.3x,1x,3x",), int(ARGUMENT or 400)), poll.start(500))
        QTimer.singleShot(500, window.start)
        QTimer.singleShot(int(TRAIN_SECONDS * 1000), fork)
        return app.exec()
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
