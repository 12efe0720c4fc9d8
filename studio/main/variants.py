"""Try variants…: the main window's part that forks the live run. It opens the dialog with the run's
current values, sends TryVariants to the run, shows the variants' events in the Variants window, sends the
user's choice back as ChooseVariant, and keeps the window's edits that would change the waiting run off
while a fork is open. Composed into the main window with what it needs passed in."""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QDialog, QWidget

from cgan_core.run import commands as cmd
from cgan_core.run.events import Forked, VariantsReady, VariantsRefused, VariantTurn


class VariantsActions:
    def __init__(self, parent: QWidget, controller, current: Callable[[], dict],
                 fork_open: Callable[[bool], None], show_error: Callable[[str], None], loss_plot) -> None:
        """current: the run's live hyperparameters; fork_open(bool): the window's edits follow it;
        loss_plot: where a fork's marker goes."""
        self.parent, self.controller, self.current, self.loss_plot = parent, controller, current, loss_plot
        self.fork_open, self.show_error = fork_open, show_error
        self.state_bytes = 0  # one training state of the live run (RunStarted says)
        self.window = None  # the Variants window, built on first use
        self.open = False
        self.starting = False  # TryVariants sent, no variant's turn seen yet: a refusal closes the fork

    def handlers(self) -> dict:
        return {VariantTurn: self._on_turn, VariantsReady: self._on_ready, VariantsRefused: self._on_refused,
                Forked: self.on_forked}

    def try_variants(self) -> bool:
        """The dialog, then the command; False when nothing was sent (no hosted run, a fork open, cancelled)."""
        from ..tools.variants_dialog import TryVariantsDialog

        if self.controller.worker is None:
            self.show_error("Try variants forks the run training here: start (or continue) a run first. "
                            "For a run in another process: cgan-studio control RUN --vary ... --steps N")
            return False
        if self.open:
            self._view().show()
            return False
        dialog = TryVariantsDialog(self.parent, self.current(), self.state_bytes)
        if dialog.exec() != QDialog.Accepted:
            return False
        self.start(dialog.vary(), dialog.steps.value())
        return True

    def start(self, vary: tuple[str, ...], steps: int) -> None:
        self.controller.send(cmd.TryVariants(vary, steps))
        self.starting = True
        self._set_open(True)
        view = self._view()
        view.show()
        view.raise_()

    def choose(self, label: str) -> None:
        self.controller.send(cmd.ChooseVariant(label))

    def _view(self):
        from ..tools.variants_view import VariantsWindow

        if self.window is None:
            self.window = VariantsWindow(self.parent)
            self.window.chooseRequested.connect(self.choose)
        return self.window

    def _set_open(self, open_: bool) -> None:
        self.open = open_
        self.fork_open(open_)

    def _on_turn(self, event: VariantTurn) -> None:
        self.starting = False
        self._view().add_turn(event)

    def _on_ready(self, event: VariantsReady) -> None:
        view = self._view()
        view.ready(event)
        view.show()

    def on_forked(self, event: Forked) -> None:
        """A fork's marker (a live one's, or an opened run's branch), and the Variants window closed."""
        self.loss_plot.add_marker(event.step, event.label, "#56b6c2")
        if self.window is not None:
            self.window.closed(event)
        self._set_open(False)

    def _on_refused(self, event: VariantsRefused) -> None:
        if self.starting:
            self.starting = False
            self._set_open(False)  # the fork itself was refused: nothing is waiting
        self.show_error(f"Variants: {event.reason}")

    def ended(self) -> None:
        """The run ended (a Stop while its variants trained discards them)."""
        if self.open:
            self.starting = False
            self._set_open(False)
