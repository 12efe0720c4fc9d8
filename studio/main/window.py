"""The main window: configuration, live loss plot, per-class sample grid, controls and status."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QMainWindow,
    QVBoxLayout,
    QWidget,
)

from cgan_core.errors import CganError
from cgan_core.output.quality import QualityReport
from cgan_core.run import commands as cmd
from cgan_core.run.events import (
    BestSaved,
    CheckpointSaved,
    GeneratorCopy,
    GuardAdvice,
    GuardGaveUp,
    HParamChange,
    LossChunk,
    Progress,
    RolledBack,
    RunFinished,
    SampleGrid,
    reason_label,
)

from ..plots.loss_plot import LossPlot
from ..plots.quality_view import QualityView
from ..plots.sample_view import SampleGridView
from ..stream.run_controller import RunController
from ..stream.stream import Busy, Failed, QualityStatus, RunStarted, Snapshots
from . import settings
from .config_panel import ConfigPanel
from .controls import Controls
from .dialogs import Dialogs
from .files import FileActions
from .layout import main_splitter, sample_every_spin
from .status_area import StatusArea
from .timeline import Timeline
from .tool_windows import ToolWindows
from .variants import VariantsActions


class MainWindow(QMainWindow):
    """Lays out the views and connects them to the run controller; each part owns its own state:
    the controller the thread, worker and paused state; StatusArea the status bar; FileActions the
    File menu's work."""

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("cgan-studio")
        self.controller = RunController(self)
        self.files = FileActions(self, self.controller, lambda: (self.run_dir, self.last_grid), self.show_run,
                                 self.attach, self.show_error)
        self.last_grid = None
        self.run_dir: Path | None = None
        self.resume_dir: Path | None = None
        self.dialogs = Dialogs(self)
        self.errors, self.notices = self.dialogs.errors, self.dialogs.notices  # what was said, in order
        self.config_panel = ConfigPanel()
        # Edits that are commands as they are: each becomes the run's command of its type.
        self.config_panel.hparamsEdited.connect(lambda values: self.controller.send(cmd.SetHParams(values)))
        self.config_panel.guardEdited.connect(lambda values: self.controller.send(cmd.SetGuard(values)))
        self.loss_plot = LossPlot()
        self.sample_grid = SampleGridView()
        self.quality_view = QualityView()
        self.quality_view.settingsChanged.connect(lambda values: self.controller.set_quality(*values))
        self.timeline = Timeline(self.loss_plot.plot)
        self.timeline.previewRequested.connect(lambda step: self.controller.send(cmd.PreviewSnapshot(step)))
        self.timeline.rollbackRequested.connect(self._on_rollback_requested)
        self.tools = ToolWindows(self, self.controller, lambda: self.run_dir, self.files.open_run, self.show_error)
        self.variants = VariantsActions(self, self.controller, self.config_panel.hparams, self._on_fork_open,
                                        self.show_error, self.loss_plot)
        self.config_panel.try_button.clicked.connect(self.variants.try_variants)
        self.controls = Controls(self)
        self.sample_every = sample_every_spin()
        self.sample_every.valueChanged.connect(lambda every: self.controller.send(cmd.SetGridInterval(every)))
        self.splitter = main_splitter(self.config_panel, self.loss_plot, self.timeline, self.sample_grid,
                                      self.sample_every, self.quality_view)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addLayout(self.controls.bar)
        layout.addWidget(self.splitter, 1)
        self.setCentralWidget(central)
        self.status = StatusArea(self.statusBar())
        self.handlers = self._handlers()
        self.controller.events.connect(self.deliver)
        self.controller.stateChanged.connect(self._on_state_changed)
        settings.restore(self)
        self._update_controls()

    def _handlers(self) -> dict:
        """Each event type and the view that shows it: the one place where events meet views."""
        return {RunStarted: self._on_started, LossChunk: self.loss_plot.append, SampleGrid: self.show_grid,
                HParamChange: self._on_hparam_changed, RolledBack: self._on_rolled_back,
                **self.variants.handlers(),
                Snapshots: lambda e: self.timeline.set_snapshots(e.kept), GuardGaveUp: self._on_guard_gave_up,
                GuardAdvice: self._on_guard_advice, CheckpointSaved: self.status.show_checkpoint,
                BestSaved: lambda e: self.quality_view.mark_best(e.step), QualityReport: self.quality_view.add_report,
                QualityStatus: lambda e: self.quality_view.set_status(e.message),
                GeneratorCopy: self.tools.show_generator_copy, Progress: self.status.show_progress,
                Busy: lambda e: self.status.show_busy(e.message), Failed: self._on_failed,
                RunFinished: self._on_finished}

    @Slot(object)
    def deliver(self, events: list) -> None:
        """Show a list of typed events: a live run's, an attached run's, or an opened run's history."""
        for event in events:
            handler = self.handlers.get(type(event))
            if handler is not None:
                handler(event)

    # ---- state -----------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """A run is live: hosted here (the controller's thread) or followed (attached)."""
        return self.controller.running

    @property
    def paused(self) -> bool:
        return self.controller.paused

    @property
    def worker(self):
        """The live run's worker (None when no run is live); tests read its run's public state."""
        return self.controller.worker

    def _clear_views(self) -> None:
        for view in (self.loss_plot, self.quality_view, self.timeline):
            view.clear()

    def _update_controls(self) -> None:
        self.controls.update(self.running, self.paused, self.controller.worker is not None, self.variants.open)
        self.config_panel.set_running(self.running, self.controller.worker is not None, self.variants.open)

    def _on_fork_open(self, open_: bool) -> None:
        """While a fork is open the run waits at it: what would change the run waits too."""
        self._update_controls()


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
        self.controller.start(config, self.resume_dir, paused, self.config_panel.guard(), self.quality_view.settings(),
                              self.controls.tensorboard_action.isChecked())
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

    def attach(self, run_dir: Path) -> None:
        """Follow a live run that another process writes, and steer it through its control folder."""
        if self.running:
            self.show_error("Stop the current run before attaching to another.")
            return
        try:
            self.controller.attach(Path(run_dir))
        except CganError as exc:
            self.show_error(str(exc))
            return
        self._clear_views()
        self.config_panel.load(self.controller.attached.config)  # its settings, so an edit changes only itself
        self.run_dir = Path(run_dir)
        self.status.show_attached(self.run_dir, self.controller.attached.config)

    def show_run(self, history, events: list) -> None:
        """An opened run (read-only) through the same table as a live one's events; Start continues it."""
        self._clear_views()
        self.deliver(events)
        self.loss_plot.redraw()
        self.config_panel.load(history.config)
        self.run_dir = self.resume_dir = history.run_dir
        self.status.set_run(str(history.run_dir))
        last = int(history.steps[-1]) if len(history.steps) else 0
        self.status.set_message(f"Opened run at step {last} (read-only). Start (F5) continues it.")

    # ---- what the run reports (all @Slot, in the GUI thread) ----------------------------------------
    @Slot()
    def _on_state_changed(self) -> None:
        if not self.running:
            self.variants.ended()
            if self.run_dir is not None:
                self.resume_dir = self.run_dir  # Start again continues this run
        self._update_controls()

    def _on_started(self, event: RunStarted) -> None:
        self.run_dir = Path(event.run_dir)
        self.variants.state_bytes = event.state_bytes
        self.status.set_run(event.run_dir, f"{event.device}, {event.images}" if event.images else event.device)

    def show_grid(self, grid) -> None:
        self.last_grid = grid
        self.sample_grid.set_grid(grid)
        if list(grid.class_names) != self.quality_view.class_names:
            self.quality_view.set_class_names(list(grid.class_names))

    def _on_hparam_changed(self, change) -> None:
        self.loss_plot.add_marker(change.step, change.label)
        self.config_panel.show_hparams({change.name: change.new})  # also changes made elsewhere (attached)

    def _on_rolled_back(self, event) -> None:
        self.loss_plot.branch(event.to_step, event.label)
        self.timeline.add_rollback(event.to_step, event.from_step, event.label)
        self.quality_view.branch(event.to_step)
        self.config_panel.show_hparams({"lr_g": event.lr_g, "lr_d": event.lr_d})

    @Slot(int)
    def _on_rollback_requested(self, step: int) -> None:
        """Manual rollback, with the hyperparameters now in the panel (edit them first to branch with new ones)."""
        self.controller.send(cmd.SetHParams(self.config_panel.hparams()))
        self.controller.send(cmd.RollBack(step))

    def _on_guard_gave_up(self, event) -> None:
        self._update_controls()
        self.show_error(f"Training keeps diverging ({reason_label(event.reason)}): {event.rollbacks} rollbacks "
                        f"in a short stretch, so it is paused at step {event.step}, at its last healthy state."
                        "\n\nLower the learning rates, then Resume.")

    def _on_guard_advice(self, event) -> None:
        """The guard sees trouble it cannot roll back from: a marker, and a note that does not block."""
        reason = reason_label(event.reason)
        self.loss_plot.add_marker(event.step, f"guard advice: {reason}", "#e5c07b")
        applied = f"\n\nApplied: {event.applied}." if event.applied else ""
        self.dialogs.notice(event.message, f"At step {event.step}: {reason}.\n\n{event.message}{applied}")

    def _on_failed(self, event: Failed) -> None:
        self.show_error(f"Training stopped with an error:\n\n{event.message}\n\nThe run directory keeps what was written.")

    def _on_finished(self, result: RunFinished) -> None:
        if result is not None:
            self.status.set_message(f"Finished ({result.reason}) at step {result.step}.  "
                                    f"{result.summary['images_per_second']:,.0f} img/s")

    @property
    def explorer(self):
        """The latent explorer window, once opened (tests read it)."""
        return self.tools.explorer

    def show_explorer(self) -> None:
        self.tools.show_explorer()

    def show_error(self, message: str) -> None:
        self.dialogs.error(message)

    # ---- settings and closing -------------------------------------------------------------------
    def shutdown(self) -> None:
        """Request a stop, quit the thread and wait for it. Never terminate()."""
        if not self.controller.shutdown():
            print("cgan-studio: the training thread did not stop in time", flush=True)

    def closeEvent(self, event) -> None:
        self.shutdown()
        settings.save(self)
        super().closeEvent(event)
