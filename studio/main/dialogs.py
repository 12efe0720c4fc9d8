"""The window's messages: errors (a dialog that names the file or value) and the guard's notes (a dialog
that does not block). Each message is also kept, in order, for tests and for the soak's report."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget


class Dialogs:
    def __init__(self, parent: QWidget) -> None:
        self.parent = parent
        self.errors: list[str] = []
        self.notices: list[str] = []  # the guard's advice

    def error(self, message: str) -> None:
        self.errors.append(message)
        self._open(QMessageBox.Critical, message, "errorDialog")

    def notice(self, message: str, text: str) -> None:
        """`message` is kept; `text` (the message with its context) is shown."""
        self.notices.append(message)
        self._open(QMessageBox.Information, text, "guardAdvice")

    def _open(self, icon, text: str, name: str) -> None:
        box = QMessageBox(icon, "cgan-studio", text, QMessageBox.Ok, self.parent)
        box.setObjectName(name)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.open()  # not exec(): the window keeps running while the dialog is up
