"""Entry points of the desktop app."""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import signal
import socket
import sys

from PySide6.QtCore import QCoreApplication, QObject, QSocketNotifier, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

import resources
from cgan_core.step.device import leave_core_for_ui


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
    from .main.window import MainWindow

    _application([])
    leave_core_for_ui()  # before the first torch op of training: the UI thread keeps a core
    window = MainWindow()
    trim_heap_every(window)
    freeze_long_lived_objects()
    return window


def freeze_long_lived_objects() -> None:
    """Collect once, then move every object alive now (Qt's wrappers, pyqtgraph, torch: about 220,000) out of
    the collector's sight. A full collection stops every thread while it walks the tracked objects; over
    these it took 300 ms, and the hour-long soak saw the GUI's 10 ms timer fire 211-244 ms late at the
    minutes where one ran. Frozen objects are still freed when their last reference goes; only cycles
    among them wait, and the collection just before leaves none."""
    gc.collect()
    gc.freeze()


TRIM_SECONDS = 60


def trim_heap_every(parent: QObject, seconds: float = TRIM_SECONDS) -> QTimer | None:
    """Hand the memory that freed arrays leave in glibc's heaps back to the system once a minute. The
    training thread allocates each event's numpy copies and the GUI thread frees them, in the arena of the
    thread that allocated them; glibc returns such memory only from the top of a heap, so without this the
    window's resident size crept up by 7.6% over an hour with nothing retained (BENCHMARKS.md). A trim
    takes a few milliseconds. None where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        trim = None
    if trim is None:
        return None
    timer = QTimer(parent)
    timer.timeout.connect(lambda: trim(0))
    timer.start(int(seconds * 1000))
    return timer


_WAKE_SOCKETS: list = []


def close_on_signals(window, signals: tuple = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)) -> QSocketNotifier:
    """SIGTERM (a `kill`, a shutdown), SIGHUP (a logout) and Ctrl-C close the window as its close button
    does: the run stops between steps and writes its final checkpoint. Python runs a signal handler only
    between bytecodes, never while Qt's event loop waits in C++, so the signal wakes the loop through a
    socket (signal.set_wakeup_fd) and the window is closed from the loop."""
    reader, writer = socket.socketpair()
    for end in (reader, writer):
        end.setblocking(False)
    signal.set_wakeup_fd(writer.fileno())
    for number in signals:
        signal.signal(number, lambda *_: None)  # the wake-up byte does the work
    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Read, window)

    def on_signal() -> None:
        try:
            reader.recv(64)
        except OSError:
            pass
        window.close()

    notifier.activated.connect(on_signal)
    _WAKE_SOCKETS.append((reader, writer))  # alive as long as the process: the wake-up fd must stay open
    return notifier


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    app = _application(argv)
    window = build_window()
    window.resize(1280, 800)
    window.show()
    close_on_signals(window)
    app.aboutToQuit.connect(window.shutdown)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
