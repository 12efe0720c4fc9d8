"""The main window: configuration, live loss plot, per-class sample grid, controls and status."""
from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QThread, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QMainWindow, QMessageBox,
                               QPushButton, QScrollArea, QSpinBox, QSplitter, QVBoxLayout, QWidget)

from cgan_core.errors import CganError

from .config_panel import ConfigPanel
from .files import FileActions
from .loss_plot import LossPlot
from .quality_view import QualityView
from .sample_view import SampleGridView
from .status_area import StatusArea
from .timeline import Timeline
from .worker import LIVE_THREADS, TrainWorker

STOP_WAIT_MS = 60_000


class MainWindow(StatusArea, FileActions, QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("cgan-studio")
        self.thread: QThread | None = None
        self.worker: TrainWorker | None = None
        self.paused = False
        self.last_grid = None
        self.run_dir: Path | None = None
        self.resume_dir: Path | None = None
        self.errors: list[str] = []
        self.explorer = None
        self.config_panel = ConfigPanel()
        self.config_panel.hparamsEdited.connect(self._on_hparams_edited)
        self.config_panel.guardEdited.connect(self._on_guard_edited)
        self.loss_plot = LossPlot()
        self.sample_grid = SampleGridView()
        self.quality_view = QualityView()
        self.quality_view.settingsChanged.connect(lambda values: self._send("quality", *values))
        self.timeline = Timeline(self.loss_plot.plot)
        self.timeline.previewRequested.connect(self._on_preview_requested)
        self.timeline.rollbackRequested.connect(self._on_rollback_requested)
        self._build_actions()
        self._build_layout()
        self._build_status_bar()
        self._restore_settings()
        self._update_controls()

    # ---- construction --------------------------------------------------------------------------
    def _action(self, text: str, shortcut: str, slot, tip: str) -> QAction:
        action = QAction(text, self)
        action.setShortcut(QKeySequence(shortcut))
        action.setShortcutContext(Qt.WindowShortcut)
        action.setToolTip(f"{tip} ({QKeySequence(shortcut).toString()})")
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        self.start_action = self._action("Start", "F5", self.start, "Start training")
        self.pause_action = self._action("Pause", "Space", self.toggle_pause, "Pause or resume training")
        self.step_action = self._action("Step", "F10", self.step_once, "Train exactly one batch")
        self.step_d_action = self._action("Step D", "Ctrl+F10", lambda: self.step_once(True, False),
                                          "Update only the discriminator for one batch")
        self.step_g_action = self._action("Step G", "Shift+F10", lambda: self.step_once(False, True),
                                          "Update only the generator for one batch")
        self.stop_action = self._action("Stop", "Shift+F5", self.stop, "Stop training (writes a final checkpoint)")
        menu = self.menuBar().addMenu("&File")
        menu.addAction(self._action("Open run…", "Ctrl+O", self._open_run_dialog, "Open a past run's curves and grid"))
        menu.addAction(self._action("Export grid…", "Ctrl+E", self._export_grid_dialog, "Write the sample grid as PNG"))
        menu.addAction(self._action("Save generator…", "Ctrl+S", self._save_generator_dialog,
                                    "Write generator.safetensors"))
        menu.addSeparator()
        menu.addAction(self._action("Quit", "Ctrl+Q", self.close, "Stop training and quit"))
        tools = self.menuBar().addMenu("&Tools")
        tools.addAction(self._action("Latent explorer…", "Ctrl+L", self.show_explorer,
                                     "Steer a copy of the generator: class and z interpolation, GIF/grid/ONNX export"))
        train = self.menuBar().addMenu("&Train")
        for action in (self.start_action, self.pause_action, self.step_action, self.step_d_action,
                       self.step_g_action, self.stop_action):
            train.addAction(action)

    def _button(self, name: str, action: QAction) -> QPushButton:
        button = QPushButton(action.text(), objectName=name)
        button.setToolTip(action.toolTip())
        button.setFocusPolicy(Qt.NoFocus)  # Space belongs to Pause, not to the focused button
        button.clicked.connect(action.trigger)
        return button

    def _build_layout(self) -> None:
        self.start_button = self._button("startButton", self.start_action)
        self.pause_button = self._button("pauseButton", self.pause_action)
        self.step_button = self._button("stepButton", self.step_action)
        self.step_d_button = self._button("stepDButton", self.step_d_action)
        self.step_g_button = self._button("stepGButton", self.step_g_action)
        self.stop_button = self._button("stopButton", self.stop_action)
        self.start_button.setStyleSheet("QPushButton { font-weight: bold; padding: 4px 18px; }")
        bar = QHBoxLayout()
        for b in (self.start_button, self.pause_button, self.step_button, self.step_d_button,
                  self.step_g_button, self.stop_button):
            bar.addWidget(b)
        bar.addStretch(1)
        scroll = QScrollArea(widgetResizable=True)
        scroll.setWidget(self.config_panel)
        scroll.setMinimumWidth(235)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.sample_every = QSpinBox(objectName="sampleEverySpin", minimum=1, maximum=100_000, value=100)
        self.sample_every.setKeyboardTracking(False)
        self.sample_every.setToolTip("Refresh the sample grid every N steps")
        self.sample_every.valueChanged.connect(self._on_sample_every)
        grid_header = QHBoxLayout()
        grid_header.addWidget(QLabel("<b>Samples</b> every"))
        grid_header.addWidget(self.sample_every)
        grid_header.addWidget(QLabel("steps"))
        grid_header.addStretch(1)
        grid_box = QWidget()
        grid_layout = QVBoxLayout(grid_box)
        grid_layout.setContentsMargins(4, 0, 0, 0)
        grid_layout.addLayout(grid_header)
        grid_layout.addWidget(self.sample_grid, 1)
        plots = QWidget()
        plots_layout = QVBoxLayout(plots)
        plots_layout.setContentsMargins(0, 0, 0, 0)
        plots_layout.addWidget(self.loss_plot, 1)
        plots_layout.addWidget(self.timeline)
        right = QSplitter(Qt.Vertical, objectName="rightSplitter")
        right.addWidget(grid_box)
        right.addWidget(self.quality_view)
        right.setSizes([360, 400])
        self.splitter = QSplitter(Qt.Horizontal, objectName="mainSplitter")
        for widget in (scroll, plots, right):
            self.splitter.addWidget(widget)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setStretchFactor(2, 2)
        self.splitter.setSizes([270, 620, 390])
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addLayout(bar)
        layout.addWidget(self.splitter, 1)
        self.setCentralWidget(central)

    # ---- state -----------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.thread is not None

    def _update_controls(self) -> None:
        self.start_action.setEnabled(not self.running)
        for action in (self.pause_action, self.stop_action):
            action.setEnabled(self.running)
        self.pause_action.setText("Resume" if self.paused else "Pause")
        self.pause_button.setText(self.pause_action.text())
        for button, action in ((self.start_button, self.start_action), (self.pause_button, self.pause_action),
                               (self.stop_button, self.stop_action)):
            button.setEnabled(action.isEnabled())
        self.config_panel.set_running(self.running)

    # ---- controls ---------------------------------------------------------------------------------
    @Slot()
    def start(self, paused: bool = False) -> None:
        if self.running:
            return
        try:
            config = self.config_panel.config()
            config.sample_every = self.sample_every.value()
            config.resolved()
        except CganError as exc:
            self.show_error(str(exc))
            return
        if self.resume_dir is None:
            self.loss_plot.clear()
        self.timeline.clear()
        self.paused = paused
        if self.resume_dir is None:
            self.quality_view.clear()
        self.worker = TrainWorker(config, resume=self.resume_dir, start_paused=paused, guard=self.config_panel.guard(),
                                  quality=self.quality_view.settings())
        self.thread = QThread(self)
        LIVE_THREADS.add(self.thread)
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.run_loop)
        w = self.worker
        # Every receiver is a slot of a QObject living in the GUI thread, so each call is queued there.
        for signal, slot in ((w.started, self._on_started), (w.losses, self._on_losses), (w.grid, self._on_grid),
                             (w.hparamChanged, self._on_hparam_changed), (w.rolledBack, self._on_rolled_back),
                             (w.snapshots, self._on_snapshots), (w.guardGaveUp, self._on_guard_gave_up),
                             (w.quality, self.quality_view.add_report), (w.qualityStatus, self.quality_view.set_status),
                             (w.generatorSnapshot, self._on_generator_snapshot), (w.progress, self._on_progress),
                             (w.busy, self._on_busy), (w.failed, self._on_failed), (w.finished, self._on_finished),
                             (w.finished, self.thread.quit)):
            signal.connect(slot)
        self.thread.finished.connect(self._on_thread_finished)
        self.thread.start()
        self.status_label.setText("Starting…")
        self._update_controls()

    @Slot()
    def toggle_pause(self) -> None:
        if self.worker is not None:
            self.paused = not self.paused
            self.worker.send("pause", self.paused)
            self._update_controls()

    def step_once(self, update_d: bool = True, update_g: bool = True) -> None:
        """Train one batch: pauses a running run first, or starts a paused one."""
        if self.worker is None:
            self.start(paused=True)
        elif not self.paused:
            self.toggle_pause()
        self.worker.send("step", update_d, update_g)

    @Slot()
    def stop(self) -> None:
        if self.worker is not None:
            self.worker.request_stop()
            self.status_label.setText("Stopping…")

    def _send(self, command: str, *args) -> None:
        """A command for the worker's loop, when a run is live (otherwise the panel just keeps the value)."""
        if self.worker is not None:
            self.worker.send(command, *args)

    @Slot(dict)
    def _on_hparams_edited(self, values: dict) -> None:
        self._send("hparams", values)

    @Slot(dict)
    def _on_guard_edited(self, values: dict) -> None:
        self._send("guard", values)

    @Slot(int)
    def _on_sample_every(self, value: int) -> None:
        self._send("sample_every", value)

    # ---- worker signals (all @Slot: cross-thread receivers) ---------------------------------------
    @Slot(object)
    def _on_started(self, info: dict) -> None:
        self.run_dir = Path(info["run_dir"])
        self.device_label.setText(f"device: {info['device']}")
        self.run_dir_label.setText(str(self.run_dir))
        self.run_dir_label.setToolTip(f"Run directory: {self.run_dir}")

    @Slot(object)
    def _on_losses(self, chunk) -> None:
        self.loss_plot.append(chunk)

    @Slot(object)
    def _on_grid(self, grid) -> None:
        self.last_grid = grid
        self.sample_grid.set_grid(grid)
        if list(grid.class_names) != self.quality_view.class_names:
            self.quality_view.set_class_names(list(grid.class_names))

    @Slot(object)
    def _on_hparam_changed(self, change) -> None:
        self.loss_plot.add_marker(change.step, change.label)

    @Slot(object)
    def _on_rolled_back(self, event) -> None:
        self.loss_plot.branch(event.to_step, event.label)
        self.timeline.add_rollback(event.to_step, event.from_step, event.label)
        self.quality_view.branch(event.to_step)
        self.config_panel.show_hparams({"lr_g": event.lr_g, "lr_d": event.lr_d})

    @Slot(object)
    def _on_snapshots(self, steps) -> None:
        self.timeline.set_snapshots(steps)

    @Slot(int)
    def _on_preview_requested(self, step: int) -> None:
        self._send("preview", step)

    @Slot(int)
    def _on_rollback_requested(self, step: int) -> None:
        """Manual rollback, with the hyperparameters now in the panel (edit them first to branch with new ones)."""
        self._send("hparams", self.config_panel.hparams())
        self._send("rollback", step)

    @Slot(object)
    def _on_guard_gave_up(self, event) -> None:
        self.paused = True
        self._update_controls()
        self.show_error(f"Training keeps diverging ({event.reason.replace('_', ' ')}): {event.rollbacks} rollbacks "
                        f"in a short stretch, so it is paused at step {event.step}.\n\nLower the learning rates, "
                        "then Resume.")

    @Slot(object)
    def _on_progress(self, p) -> None:
        self.show_progress(p)

    @Slot(str)
    def _on_busy(self, message: str) -> None:
        self.show_busy(message)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.show_error(f"Training stopped with an error:\n\n{message}\n\nThe run directory keeps what was written.")

    @Slot(object)
    def _on_finished(self, result) -> None:
        if result is not None:
            self.status_label.setText(f"Finished ({result.reason}) at step {result.step}.  "
                                      f"{result.summary['images_per_second']:,.0f} img/s")

    @Slot()
    def _on_thread_finished(self) -> None:
        LIVE_THREADS.discard(self.thread)
        self.thread.deleteLater()
        self.worker.deleteLater()
        self.thread, self.worker, self.paused = None, None, False
        self.resume_dir = self.run_dir  # Start again continues this run
        self._update_controls()

    # ---- the explorer -------------------------------------------------------------------------------
    def show_explorer(self) -> None:
        """Open the latent explorer on a snapshot of the live generator, or on the open run's file."""
        from .explorer import ExplorerWindow

        if self.explorer is None:
            self.explorer = ExplorerWindow(self)
            self.explorer.snapshotRequested.connect(self._explorer_snapshot)
            self.explorer.failed.connect(self.show_error)
        self.explorer.show()
        self.explorer.raise_()
        if self.explorer.g is None:
            self._explorer_snapshot()

    def _explorer_snapshot(self) -> None:
        if self.worker is not None:
            self.worker.send("explorer_snapshot")
        elif self.run_dir is not None and (self.run_dir / "generator.safetensors").is_file():
            self.explorer.load_file(self.run_dir / "generator.safetensors")
        else:
            self.explorer.source_label.setText("No live run: start training, or open a generator file.")

    @Slot(object)
    def _on_generator_snapshot(self, snapshot: dict) -> None:
        if self.explorer is not None:
            self.explorer.set_snapshot(snapshot)

    def show_error(self, message: str) -> None:
        self.errors.append(message)
        box = QMessageBox(QMessageBox.Critical, "cgan-studio", message, QMessageBox.Ok, self)
        box.setObjectName("errorDialog")
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.open()  # not exec(): the window keeps running while the dialog is up

    # ---- settings and closing -------------------------------------------------------------------
    def _restore_settings(self) -> None:
        settings = QSettings()
        if settings.value("geometry") is not None:
            self.restoreGeometry(settings.value("geometry"))
        if settings.value("splitter") is not None:
            self.splitter.restoreState(settings.value("splitter"))
        try:
            self.config_panel.load(json.loads(settings.value("config", "{}")))
        except (TypeError, ValueError):
            pass  # an unreadable saved configuration is ignored, not fatal

    def _save_settings(self) -> None:
        settings = QSettings()
        settings.setValue("geometry", self.saveGeometry())
        settings.setValue("splitter", self.splitter.saveState())
        config = self.config_panel.config().to_dict()
        settings.setValue("config", json.dumps(config))

    def shutdown(self) -> None:
        """Request a stop, quit the thread and wait for it. Never terminate()."""
        if self.thread is not None:
            self.worker.request_stop()
            self.thread.quit()
            if not self.thread.wait(STOP_WAIT_MS):
                print("cgan-studio: the training thread did not stop in time", flush=True)

    def closeEvent(self, event) -> None:
        self.shutdown()
        self._save_settings()
        super().closeEvent(event)
