"""The studio's fail paths. SIGTERM (a `kill`, a shutdown) and SIGHUP (a logout) close it as its close button does: the
run stops between steps and writes its final checkpoint."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile

import pytest

STUDIO = """
import sys
from PySide6.QtCore import QTimer
from studio.app import _application, build_window, close_on_signals
app = _application([])
w = build_window()
panel = w.config_panel
panel.data_picker.load({"dataset": "mnist", "image_size": None, "color": "keep"})
panel.preset.setCurrentText("studio-fast")
panel.batch_size.setValue(16)
panel.steps.setValue(0)
w.show()
close_on_signals(w)
app.aboutToQuit.connect(w.shutdown)
def report():
    run = w.worker.run if w.worker is not None else None
    if run is not None and run.step_count > 30:
        print("RUN", w.run_dir, flush=True)
        timer.stop()
timer = QTimer()
timer.timeout.connect(report)
timer.start(50)
QTimer.singleShot(0, w.start)
sys.exit(app.exec())
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_closes_the_studio_with_a_final_checkpoint(tmp_path, sig):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "CGAN_STUDIO_RUNS": str(tmp_path),
           "XDG_CONFIG_HOME": tempfile.mkdtemp(prefix="cgan-qsettings-")}
    proc = subprocess.Popen([sys.executable, "-c", STUDIO], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith("RUN "), proc.stderr.read() if proc.poll() is not None else line
        run_dir = line.split(" ", 1)[1].strip()
        proc.send_signal(sig)
        proc.wait(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, proc.stderr.read()
    events = [json.loads(x) for x in open(os.path.join(run_dir, "events.jsonl")).read().splitlines()]
    finished = [e for e in events if e["event"] == "finished"]
    assert finished and finished[-1]["reason"] == "stopped" and finished[-1]["step"] > 30
    saved = [e["step"] for e in events if e["event"] == "checkpoint"]
    assert saved and saved[-1] == finished[-1]["step"]  # the final state, not the one of two minutes ago


def test_stop_before_training_began_ends_the_worker_cleanly(qtbot, window, tmp_path, monkeypatch):
    """Stop pressed while the data loads: the worker ends, with no error dialog, and the window can start again."""
    monkeypatch.setenv("CGAN_STUDIO_RUNS", str(tmp_path))
    w = window
    w.start()
    w.stop()  # before the thread has even begun its loop
    qtbot.waitUntil(lambda: not w.running, timeout=60_000)
    assert not w.errors
    assert w.start()
    qtbot.waitUntil(lambda: w.worker is not None and w.worker.run is not None and w.worker.run.step_count > 3,
                    timeout=60_000)
    w.stop()
    qtbot.waitUntil(lambda: not w.running, timeout=60_000)
    assert not w.errors
