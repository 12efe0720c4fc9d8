"""Try variants… in the studio: the dialog checks the choice and says what it costs; the variants train
side by side in the Variants window (a grid and a curve each) while the run and its edits wait; a click
continues the run from one of them."""
from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from studio.tools.variants_dialog import TryVariantsDialog
from tests.studio.test_window import wait_started


def test_the_dialog_checks_the_variants_and_says_what_they_hold(qtbot):
    current = {"lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999, "d_steps": 1, "label_smoothing": 0.0}
    dialog = TryVariantsDialog(None, current, 3 * 2**20)
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(QDialogButtonBox.Ok)
    assert dialog.vary() == ("lr_d=0.3x,1x,3x",) and ok.isEnabled()
    assert "3 variants" in dialog.summary.text() and "9 MB" in dialog.summary.text()
    dialog.first_values.setText("0.5x, fast")
    assert not ok.isEnabled() and "not a number" in dialog.summary.text()
    dialog.first_values.setText("0.5x, 1x, 2x")
    dialog.second.setCurrentIndex(dialog.second.findData("lr_g"))
    assert not ok.isEnabled() and "6 variant(s); a fork compares 2 to 4" in dialog.summary.text()
    dialog.first_values.setText("1x,0.5x")
    assert dialog.vary() == ("lr_d=1x,0.5x", "lr_g=0.5x,1x") and ok.isEnabled()
    assert "lr_d 0.5x, lr_g 0.5x" in dialog.summary.text()


def test_variants_tried_from_the_menu_train_side_by_side_and_the_run_goes_on_from_the_one_clicked(qtbot, window):
    w = window
    assert not w.config_panel.try_button.isEnabled()  # nothing to fork before a run
    assert not w.variants.try_variants() and "start (or continue) a run first" in w.errors[-1]  # said, not sent
    w.start()
    wait_started(qtbot, w)
    qtbot.waitUntil(lambda: w.worker.run.step_count >= 5 and w.config_panel.try_button.isEnabled(), timeout=30_000)
    assert w.variants.state_bytes > 0
    lr_d = w.config_panel.hparams()["lr_d"]

    def fill_and_accept():  # the dialog the menu item opens, as a user fills it in
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, TryVariantsDialog), dialog
        dialog.first_values.setText("1x, 0.3x, 3x")
        dialog.steps.setValue(30)
        dialog.buttons.button(QDialogButtonBox.Ok).click()
    QTimer.singleShot(0, fill_and_accept)
    assert w.controls.try_action.isEnabled()
    w.controls.try_action.trigger()  # Train > Try variants…: the dialog runs modal until accepted
    assert not w.config_panel.lr_d.isEnabled() and not w.controls.step_button.isEnabled()
    view = w.variants.window
    qtbot.waitUntil(lambda: view.best_button is not None and "waits for your choice" in view.header.text(),
                    timeout=120_000)
    fork_step = view.fork_step
    assert w.worker.run.step_count == fork_step  # the run waited at the fork
    assert len(view.columns) == 3 and view.drawn == 3
    assert all(not c.grid.is_blank() and c.button.isEnabled() for c in view.columns)
    assert all("30 steps" in c.status.text() for c in view.columns)
    view.columns[1].button.click()  # "lr_d 0.3x"
    qtbot.waitUntil(lambda: "went on with" in view.header.text(), timeout=30_000)
    qtbot.waitUntil(lambda: w.worker.run.step_count > fork_step + 35, timeout=60_000)
    assert abs(w.config_panel.hparams()["lr_d"] - 0.3 * lr_d) < 1e-12  # the panel shows the run's new rate
    assert w.config_panel.lr_d.isEnabled() and w.controls.step_button.isEnabled()
    assert any("forked into 3, went on with lr_d 0.3x" in m.label.toPlainText() for m in w.loss_plot.markers)
    # the variant's steps, then the run's own from there, are the run's curve
    qtbot.waitUntil(lambda: int(w.loss_plot.steps[-1]) > fork_step + 30, timeout=30_000)
    steps = w.loss_plot.steps
    assert list(steps[(steps > fork_step - 3) & (steps <= fork_step + 31)]) == list(range(fork_step - 2, fork_step + 32))
    w.stop()
    qtbot.waitUntil(lambda: not w.running, timeout=30_000)
    assert len([p for p in (w.run_dir / "variants" / f"step-{fork_step}").iterdir() if p.is_dir()]) == 3


def test_a_variants_status_shows_every_line_it_holds(qtbot):
    """The status under each grid holds steps, D's outputs, live quality and "best": the grids took the height
    and left it one line, so the quality and the "best" mark were cut off."""
    from PySide6.QtWidgets import QApplication

    from studio.tools.variants_view import VariantsWindow

    view = VariantsWindow()
    qtbot.addWidget(view)
    view._start(621, 100)
    for index, label in enumerate(("lr_d 0.5x", "lr_d 1x")):
        view._add_column(index, label)
        view.columns[index].status.setText("100 / 100 steps")  # as its turns leave it
    view.show()
    qtbot.waitExposed(view)
    QApplication.processEvents()
    for column in view.columns:  # room for the results before they come: the layout does not jump or cut them
        assert column.status.height() >= 4 * column.status.fontMetrics().lineSpacing()
    for column in view.columns:  # then ready: what each variant reached
        column.status.setText("100 steps, 613 img/s<br>D(real) 0.52, D(fake) 0.48<br>"
                              "accuracy 98.1%, Fréchet 12.30<br><b>best by live quality</b>")
    qtbot.wait(50)
    for column in view.columns:
        status = column.status
        assert status.height() >= status.heightForWidth(status.width()), (status.height(), status.heightForWidth(status.width()))
