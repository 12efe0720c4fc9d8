"""Menu items that reach the user through Qt's own dialogs, filled in as a user would (a timer finds the modal
dialog): Tools > Runs… opening a past run back into the window, and File > Save best generator…."""
from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QFileDialog

from cgan_core import paths


def _action(window, text: str) -> QAction:
    [action] = [a for a in window.findChildren(QAction) if a.text() == text]
    return action


def _answer_file_dialog(path) -> list:
    """Fill in the next modal file dialog with `path` and accept it; the list holds the dialog seen."""
    seen = []

    def fill():
        dialog = QApplication.activeModalWidget()
        seen.append(dialog)
        if isinstance(dialog, QFileDialog):
            dialog.selectFile(str(path))
            dialog.accept()
        elif dialog is not None:
            dialog.reject()
    QTimer.singleShot(0, fill)
    return seen


def test_a_run_opened_from_the_runs_view_and_its_best_generator_saved_from_the_menu(qtbot, window, tmp_path,
                                                                                    small_mnist_folder, cli_here):
    w = window
    run = paths.runs_dir() / "measured"  # where the Runs view looks first
    rc, _, err = cli_here("train", "--preset", "studio-fast", "--batch-size", 16, "--dataset", small_mnist_folder,
                          "--steps", 12, "--quality-every", 6, "--out", run)
    assert rc == 0, err
    _action(w, "Runs…").trigger()  # Tools > Runs…
    view = w.tools.runs_window
    qtbot.waitUntil(view.isVisible, timeout=5_000)
    assert "measured" in [r.name for r in view.runs]
    view.select(["measured"])
    view.open_button.click()  # back into the main window
    assert w.resume_dir == run and w.loss_plot.point_count == 12 and "step 12" in w.status.status_label.text()
    target = tmp_path / "best-copy.safetensors"
    seen = _answer_file_dialog(target)
    _action(w, "Save best generator…").trigger()  # File > Save best generator…
    assert isinstance(seen[0], QFileDialog), seen
    assert target.read_bytes() == (run / "best.safetensors").read_bytes()
    w.files.open_run(tmp_path / "nowhere")  # not a run: said, and the open run stays
    assert w.errors and w.resume_dir == run
