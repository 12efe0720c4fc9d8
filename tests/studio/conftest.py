"""pytest-qt set-up for the studio: offscreen, private QSettings, and no thread left running."""
from __future__ import annotations

import gc
import os
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="cgan-qsettings-")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _private_settings(tmp_path):
    """Each test starts from no remembered settings: what one test leaves in QSettings never reaches another."""
    from PySide6.QtCore import QSettings

    QSettings.setPath(QSettings.NativeFormat, QSettings.UserScope, str(tmp_path / "qsettings"))
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(tmp_path / "qsettings"))
    yield


@pytest.fixture(autouse=True)
def _no_dangling_qthreads(qtbot):
    """Fail any test that leaves a training QThread running (as napari's _dangling_qthreads)."""
    yield
    from studio.stream.worker import LIVE_THREADS

    running = [t for t in list(LIVE_THREADS) if t.isRunning()]
    for thread in running:  # clean up so later tests are not blamed, then fail this one
        thread.quit()
        thread.wait(30_000)
    gc.collect()  # see the window fixture: dead widgets go now, not inside a later paint event
    assert not running, f"{len(running)} QThread(s) left running"


@pytest.fixture
def window(qtbot, tmp_path):
    from studio.app import build_window

    w = build_window()
    qtbot.addWidget(w)
    panel = w.config_panel
    panel.data_picker.load({"dataset": "mnist", "image_size": None, "color": "keep"})  # whatever QSettings held
    panel.preset.setCurrentText("studio-fast")
    panel.batch_size.setValue(16)
    panel.steps.setValue(0)  # unbounded, whatever an earlier test left in QSettings
    panel.guard_box.setChecked(True)
    w.sample_every.setValue(5)
    w.resize(1280, 800)
    w.show()
    yield w
    w.shutdown()
    w.tools.close()
    w.close()
    w.deleteLater()
    qtbot.wait(10)
    # Collect dead windows now, between tests: a collection that happens to run inside a later paint
    # event could delete a widget under the painter.
    gc.collect()
