"""The main window: configuration, live loss plot, per-class sample grid, controls and status."""
from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from cgan_core import commands as cmd
from cgan_core.errors import CganError

from .config_panel import ConfigPanel
from .files import FileActions
from .loss_plot import LossPlot
from .quality_view import QualityView
from .run_controller import RunController
from .sample_view import SampleGridView
from .status_area import StatusArea
from .timeline import Timeline


class MainWindow(QMainWindow):
    """Lays out the views and connects them to the run controller; each part owns its own state:
    the controller the thread, worker and paused state; StatusArea the status bar; FileActions the
    File menu's work."""

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("cgan-studio")
        self.controller = RunController(self)
        self.files = FileActions(self)
        self.last_grid = None
        self.run_dir: Path | None = None
        self.resume_dir: Path | None = None
        self.errors: list[str] = []
        self.notices: list[str] = []  # the guard's advice, shown without blocking
        self.explorer = None
        self.config_panel = ConfigPanel()
        self.config_panel.hparamsEdited.connect(self._on_hparams_edited)
        self.config_panel.guardEdited.connect(self._on_guard_edited)
        self.loss_plot = LossPlot()
        self.sample_grid = SampleGridView()
        self.quality_view = QualityView()
        self.quality_view.settingsChanged.connect(self._on_quality_settings)
        self.timeline = Timeline(self.loss_plot.plot)
        self.timeline.previewRequested.connect(self._on_preview_requested)
        self.timeline.rollbackRequested.connect(self._on_rollback_requested)
        self._build_actions()
        self._build_layout()
        self.status = StatusArea(self.statusBar())
        self._connect_controller()
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
        menu.addAction(self._action("Open run…", "Ctrl+O", self.files.open_run_dialog,
                                    "Open a past run's curves and grid"))
        menu.addAction(self._action("Export grid…", "Ctrl+E", self.files.export_grid_dialog,
                                    "Write the sample grid as PNG"))
        menu.addAction(self._action("Save generator…", "Ctrl+S", self.files.save_generator_dialog,
                                    "Write generator.safetensors"))
        menu.addAction(self._action("Save best generator…", "Ctrl+Shift+S",
                                    lambda: self.files.save_generator_dialog(best=True),
                                    "Write the run's best generator so far (kept with live quality on)"))
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

    def _connect_controller(self) -> None:
        c = self.controller
        # Every receiver is a slot of an object living in the GUI thread (see RunController).
        for signal, slot in ((c.started, self._on_started), (c.losses, self.loss_plot.append), (c.grid, self.show_grid),
                             (c.hparamChanged, self._on_hparam_changed), (c.rolledBack, self._on_rolled_back),
                             (c.snapshots, self.timeline.set_snapshots), (c.guardGaveUp, self._on_guard_gave_up),
                             (c.guardAdvice, self._on_guard_advice), (c.checkpointSaved, self._on_checkpoint),
                             (c.bestSaved, self._on_best), (c.quality, self.quality_view.add_report),
                             (c.qualityStatus, self.quality_view.set_status),
                             (c.generatorSnapshot, self._on_generator_snapshot), (c.progress, self._on_progress),
                             (c.busy, self._on_busy), (c.failed, self._on_failed), (c.finished, self._on_finished),
                             (c.stateChanged, self._on_state_changed)):
            signal.connect(slot)

    # ---- state -----------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.controller.running

    @property
    def paused(self) -> bool:
        return self.controller.paused

    @property
    def worker(self):
        """The live run's worker (None when no run is live); tests read its run's public state."""
        return self.controller.worker

    @property
    def status_label(self) -> QLabel:
        return self.status.status_label

    @property
    def run_dir_label(self) -> QLabel:
        return self.status.run_dir_label

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
    def start(self, paused: bool = False) -> bool:
        """Start (or continue) a run; False when the panel's settings are refused (a dialog says why)."""
        if self.running:
            return True
        try:
            config = self.config_panel.config()
            config.sample_every = self.sample_every.value()
            config.resolved()
        except CganError as exc:
            self.show_error(str(exc))
            return False
        if self.resume_dir is None:
            self.loss_plot.clear()
            self.quality_view.clear()
        self.timeline.clear()
        self.controller.start(config, self.resume_dir, paused, self.config_panel.guard(), self.quality_view.settings())
        self.status.set_message("Starting…")
        return True

    @Slot()
    def toggle_pause(self) -> None:
        self.controller.toggle_pause()

    def step_once(self, update_d: bool = True, update_g: bool = True) -> None:
        """Train one batch: pauses a running run first, or starts a paused one."""
        if not self.running and not self.start(paused=True):
            return  # the settings were refused: the dialog says why, and there is nothing to step
        self.controller.step_once(update_d, update_g)

    @Slot()
    def stop(self) -> None:
        if self.running:
            self.controller.stop()
            self.status.set_message("Stopping…")

    @Slot(dict)
    def _on_hparams_edited(self, values: dict) -> None:
        self.controller.send(cmd.SetHParams(values))

    @Slot(dict)
    def _on_guard_edited(self, values: dict) -> None:
        self.controller.send(cmd.SetGuard(values))

    @Slot(int)
    def _on_sample_every(self, value: int) -> None:
        self.controller.send(cmd.SetGridInterval(value))

    @Slot(object)
    def _on_quality_settings(self, values) -> None:
        self.controller.set_quality(*values)

    # ---- what the run reports (all @Slot, in the GUI thread) ----------------------------------------
    @Slot()
    def _on_state_changed(self) -> None:
        if not self.running and self.run_dir is not None:
            self.resume_dir = self.run_dir  # Start again continues this run
        self._update_controls()

    @Slot(object)
    def _on_started(self, info: dict) -> None:
        self.run_dir = Path(info["run_dir"])
        self.status.set_run(str(self.run_dir), info["device"])

    @Slot(object)
    def show_grid(self, grid) -> None:
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

    @Slot(int)
    def _on_preview_requested(self, step: int) -> None:
        self.controller.send(cmd.PreviewSnapshot(step))

    @Slot(int)
    def _on_rollback_requested(self, step: int) -> None:
        """Manual rollback, with the hyperparameters now in the panel (edit them first to branch with new ones)."""
        self.controller.send(cmd.SetHParams(self.config_panel.hparams()))
        self.controller.send(cmd.RollBack(step))

    @Slot(object)
    def _on_guard_gave_up(self, event) -> None:
        self._update_controls()
        self.show_error(f"Training keeps diverging ({event.reason.replace('_', ' ')}): {event.rollbacks} rollbacks "
                        f"in a short stretch, so it is paused at step {event.step}, at its last healthy state."
                        "\n\nLower the learning rates, then Resume.")

    @Slot(object)
    def _on_guard_advice(self, event) -> None:
        """The guard sees trouble it cannot roll back from: a marker, and a note that does not block."""
        reason = event.reason.replace("_", " ")
        self.loss_plot.add_marker(event.step, f"guard: {reason}")
        applied = f"\n\nApplied: {event.applied}." if event.applied else ""
        self.notices.append(event.message)
        box = QMessageBox(QMessageBox.Information, "cgan-studio: divergence guard",
                          f"At step {event.step}: {reason}.\n\n{event.message}{applied}", QMessageBox.Ok, self)
        box.setObjectName("guardAdvice")
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.open()

    @Slot(object)
    def _on_checkpoint(self, event) -> None:
        self.status.show_checkpoint(event)

    @Slot(object)
    def _on_best(self, event) -> None:
        self.quality_view.mark_best(event.step)

    @Slot(object)
    def _on_progress(self, p) -> None:
        self.status.show_progress(p)

    @Slot(str)
    def _on_busy(self, message: str) -> None:
        self.status.show_busy(message)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.show_error(f"Training stopped with an error:\n\n{message}\n\nThe run directory keeps what was written.")

    @Slot(object)
    def _on_finished(self, result) -> None:
        if result is not None:
            self.status.set_message(f"Finished ({result.reason}) at step {result.step}.  "
                                    f"{result.summary['images_per_second']:,.0f} img/s")

    # ---- the File menu ----------------------------------------------------------------------------------
    def open_run(self, path: Path) -> None:
        self.files.open_run(path)

    def export_grid(self, path: Path) -> None:
        self.files.export_grid(path)

    def save_generator(self, path: Path) -> None:
        self.files.save_generator(path)

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
        if self.running:
            self.controller.send(cmd.CopyGenerator())
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
        if not self.controller.shutdown():
            print("cgan-studio: the training thread did not stop in time", flush=True)

    def closeEvent(self, event) -> None:
        self.shutdown()
        self._save_settings()
        super().closeEvent(event)
