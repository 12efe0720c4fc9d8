"""Entry points of the desktop app."""
from __future__ import annotations

import sys

from PySide6.QtCore import QCoreApplication
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

import resources
from cgan_core.device import leave_core_for_ui


def _application(argv: list[str]) -> QApplication:
    app = QApplication.instance()
    if app is None:
        QCoreApplication.setOrganizationName("cgan-studio")
        QCoreApplication.setApplicationName("cgan-studio")
        app = QApplication(["cgan-studio", *argv])
    icon = resources.ICONS_DIR / "cgan-studio.svg"
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    return app


def build_window():
    """The main window, built but not shown, without entering the event loop (tests, embedding)."""
    from .window import MainWindow

    _application([])
    leave_core_for_ui()  # before the first torch op of training: the UI thread keeps a core
    return MainWindow()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    app = _application(argv)
    window = build_window()
    window.resize(1280, 800)
    window.show()
    app.aboutToQuit.connect(window.shutdown)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
