"""The window's controls: the training actions with their shortcuts, the menus and the button bar.
Owns the actions and buttons and keeps them in step with the run's state (running, paused)."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QMainWindow, QPushButton


class Controls:
    def __init__(self, window: QMainWindow) -> None:
        self.window = w = window
        self.start_action = self._action("Start", "F5", w.start, "Start training")
        self.pause_action = self._action("Pause", "Space", w.toggle_pause, "Pause or resume training")
        self.step_action = self._action("Step", "F10", w.step_once, "Train exactly one batch")
        self.step_d_action = self._action("Step D", "Ctrl+F10", lambda: w.step_once(True, False),
                                          "Update only the discriminator for one batch")
        self.step_g_action = self._action("Step G", "Shift+F10", lambda: w.step_once(False, True),
                                          "Update only the generator for one batch")
        self.stop_action = self._action("Stop", "Shift+F5", w.stop, "Stop training (writes a final checkpoint)")
        self.training = (self.start_action, self.pause_action, self.step_action, self.step_d_action,
                         self.step_g_action, self.stop_action)
        self._build_menus()
        names = ("startButton", "pauseButton", "stepButton", "stepDButton", "stepGButton", "stopButton")
        buttons = [self._button(name, action) for name, action in zip(names, self.training)]
        (self.start_button, self.pause_button, self.step_button, self.step_d_button, self.step_g_button,
         self.stop_button) = buttons
        self.start_button.setStyleSheet("QPushButton { font-weight: bold; padding: 4px 18px; }")
        self.bar = QHBoxLayout()
        for button in buttons:
            self.bar.addWidget(button)
        self.bar.addStretch(1)

    def _build_menus(self) -> None:
        w, files = self.window, self.window.files
        menu = w.menuBar().addMenu("&File")
        menu.addAction(self._action("Open run…", "Ctrl+O", files.open_run_dialog, "Open a past run's curves and grid"))
        menu.addAction(self._action("Attach to run…", "Ctrl+Shift+O", files.attach_dialog,
                                    "Follow and steer a live run that another process writes (a CLI or torchrun job)"))
        menu.addAction(self._action("Export grid…", "Ctrl+E", files.export_grid_dialog, "Write the sample grid as PNG"))
        menu.addAction(self._action("Save generator…", "Ctrl+S", files.save_generator_dialog,
                                    "Write generator.safetensors"))
        menu.addAction(self._action("Save best generator…", "Ctrl+Shift+S",
                                    lambda: files.save_generator_dialog(best=True),
                                    "Write the run's best generator so far (kept with live quality on)"))
        menu.addSeparator()
        menu.addAction(self._action("Quit", "Ctrl+Q", w.close, "Stop training and quit"))
        tools = w.menuBar().addMenu("&Tools")
        tools.addAction(self._action("Runs…", "Ctrl+R", w.tools.show_runs,
                                     "Compare past runs side by side, and a sweep's trials ranked"))
        tools.addAction(self._action("Latent explorer…", "Ctrl+L", w.tools.show_explorer,
                                     "Steer a copy of the generator: class and z interpolation, GIF/grid/ONNX export"))
        train = w.menuBar().addMenu("&Train")
        for action in self.training:
            train.addAction(action)
        train.addSeparator()
        self.try_action = self._action("Try variants…", "Ctrl+T", w.variants.try_variants,
                                       "Fork the run into variants of its live hyperparameters, compare them on the "
                                       "same batches, and continue from the one you choose")
        train.addAction(self.try_action)
        train.addSeparator()
        self.tensorboard_action = QAction("Write TensorBoard logs", w, checkable=True)
        self.tensorboard_action.setToolTip("Also write the next runs' curves, grids, quality and settings as "
                                           "TensorBoard event files in RUN/tensorboard (needs the tensorboard package)")
        train.addAction(self.tensorboard_action)

    def _action(self, text: str, shortcut: str, slot, tip: str) -> QAction:
        action = QAction(text, self.window)
        action.setShortcut(QKeySequence(shortcut))
        action.setShortcutContext(Qt.WindowShortcut)
        action.setToolTip(f"{tip} ({QKeySequence(shortcut).toString()})")
        action.triggered.connect(slot)
        self.window.addAction(action)
        return action

    @staticmethod
    def _button(name: str, action: QAction) -> QPushButton:
        button = QPushButton(action.text(), objectName=name)
        button.setToolTip(action.toolTip())
        button.setFocusPolicy(Qt.NoFocus)  # Space belongs to Pause, not to the focused button
        button.clicked.connect(action.trigger)
        return button

    def update(self, running: bool, paused: bool, hosted: bool = False, fork_open: bool = False) -> None:
        """hosted: the live run trains here (a fork needs its state); fork_open: the run waits at a fork."""
        self.start_action.setEnabled(not running)
        for action in (self.pause_action, self.stop_action):
            action.setEnabled(running)
        self.try_action.setEnabled(hosted and not fork_open)
        for action in (self.step_action, self.step_d_action, self.step_g_action):
            action.setEnabled(not fork_open)
        self.pause_action.setText("Resume" if paused else "Pause")
        self.pause_button.setText(self.pause_action.text())
        for button, action in ((self.start_button, self.start_action), (self.pause_button, self.pause_action),
                               (self.stop_button, self.stop_action), (self.step_button, self.step_action),
                               (self.step_d_button, self.step_d_action), (self.step_g_button, self.step_g_action)):
            button.setEnabled(action.isEnabled())
