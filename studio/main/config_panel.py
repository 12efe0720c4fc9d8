"""The configuration panel: dataset, preset and its fields, device.

Fields that cannot change mid-run are disabled while a run is live; the live ones emit
`hparamsEdited` and apply at the next step.
"""
from __future__ import annotations

import math

import torch
from PySide6.QtCore import QSignalBlocker, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cgan_core.run.guard import GuardConfig, Remedy
from cgan_core.step.config import LIVE_FIELDS, TrainConfig
from cgan_core.step.presets import DEFAULT_PRESET, PRESETS, RGB_MIN_SIDE, canonical_name, default_preset

from .dataset_picker import DatasetPicker
from .footprint_view import FootprintView


class LogSpinBox(QDoubleSpinBox):
    """A learning-rate field: scientific notation, and each arrow step halves or doubles it."""

    def __init__(self, name: str, value: float) -> None:
        super().__init__(objectName=name, decimals=10, minimum=1e-7, maximum=1.0)
        self.setKeyboardTracking(False)  # apply on Enter or focus loss, not on every keystroke
        self.setValue(value)

    def textFromValue(self, value: float) -> str:
        return f"{value:.2e}"

    def valueFromText(self, text: str) -> float:
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text, pos):
        from PySide6.QtGui import QValidator

        try:
            value = float(text)
            ok = self.minimum() <= value <= self.maximum() and math.isfinite(value)
            return (QValidator.Acceptable if ok else QValidator.Intermediate), text, pos
        except ValueError:
            return QValidator.Intermediate, text, pos

    def stepBy(self, steps: int) -> None:
        self.setValue(self.value() * 2.0 ** steps)


def _spin(name: str, lo: int, hi: int, tip: str) -> QSpinBox:
    box = QSpinBox(objectName=name, minimum=lo, maximum=hi)
    box.setKeyboardTracking(False)
    box.setToolTip(tip)
    return box


def _fraction(name: str, tip: str) -> QDoubleSpinBox:
    box = QDoubleSpinBox(objectName=name, minimum=0.0, maximum=0.999, decimals=3, singleStep=0.05)
    box.setKeyboardTracking(False)
    box.setToolTip(tip)
    return box


def _precision_combo() -> QComboBox:
    combo = QComboBox(objectName="precisionCombo")
    # Short names: the panel is narrow at 1280 px ("auto (bf16 where native)" was cut); the tooltip says the rest.
    for text, value in (("preset's own", None), ("auto", "auto"), ("fp32", "fp32"), ("bf16", "bf16")):
        combo.addItem(text, value)
    combo.setToolTip("The training forwards' arithmetic. auto: bf16 where the device computes it natively, fp32 "
                     "elsewhere. bf16 is about 1.5x faster on CPUs with avx512_bf16 and on recent GPUs; weights, "
                     "optimizer and losses stay fp32")
    return combo


class ConfigPanel(QWidget):
    hparamsEdited = Signal(dict)
    guardEdited = Signal(dict)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._loading = False
        self.data_picker = DatasetPicker(self)
        self.dataset = self.data_picker.combo
        self.preset = self._build_preset_combo()
        self.latent_dim = _spin("latentDimSpin", 2, 1024, "Size of the noise vector z (fixed for a run)")
        self.batch_size = _spin("batchSizeSpin", 2, 4096, "Images per step (fixed for a run)")
        self.lr_g = LogSpinBox("lrGSpin", 2e-4)
        self.lr_d = LogSpinBox("lrDSpin", 2e-4)
        self.lr_g.setToolTip("Generator learning rate: applies at the next step. Arrows halve or double it.")
        self.lr_d.setToolTip("Discriminator learning rate: applies at the next step. Arrows halve or double it.")
        self.beta1 = _fraction("beta1Spin", "Adam beta1 (both networks): applies at the next step")
        self.beta2 = _fraction("beta2Spin", "Adam beta2 (both networks): applies at the next step")
        self.d_steps = _spin("dStepsSpin", 1, 20, "Discriminator updates per generator update: live")
        self.label_smoothing = _fraction("smoothingSpin", "One-sided label smoothing on real images: live")
        self.seed = _spin("seedSpin", 0, 2**31 - 1, "Random seed: same seed, same device, same losses")
        self.device = QComboBox(objectName="deviceCombo")
        self._fill_devices()
        self.precision = _precision_combo()
        self.steps = _spin("stepsSpin", 0, 10**8, "Stop after this many steps (0 = run until stopped)")
        self.steps.setSpecialValueText("unbounded")
        form_run, form_live = QFormLayout(), QFormLayout()
        for label, widget in [("Dataset", self.dataset), ("Image size", self.data_picker.size),
                              ("Colour", self.data_picker.color), ("Preset", self.preset), ("Latent dim", self.latent_dim),
                              ("Batch size", self.batch_size), ("Seed", self.seed), ("Device", self.device),
                              ("Precision", self.precision), ("Steps", self.steps)]:
            form_run.addRow(label, widget)
        form_run.addRow(self._build_footprint())
        for label, widget in [("lr G", self.lr_g), ("lr D", self.lr_d), ("beta1", self.beta1),
                              ("beta2", self.beta2), ("D steps / G step", self.d_steps),
                              ("Label smoothing", self.label_smoothing)]:
            form_live.addRow(label, widget)
        self.try_button = QPushButton("Try variants…", objectName="tryVariantsButton", enabled=False)
        self.try_button.setToolTip("Fork the run into variants of these values, train them side by side on the "
                                   "same batches, and continue from the one you choose (Ctrl+T)")
        form_live.addRow(self.try_button)
        fixed_box, live_box = QGroupBox("Run (fixed while training)"), QGroupBox("Hyperparameters (live)")
        fixed_box.setLayout(form_run)
        live_box.setLayout(form_live)
        layout = QVBoxLayout(self)
        layout.addWidget(fixed_box)
        layout.addWidget(live_box)
        layout.addWidget(self._build_guard_box())
        layout.addStretch(1)
        self.fixed_widgets = [*self.data_picker.widgets, self.preset, self.latent_dim, self.batch_size, self.seed, self.device,
                              self.precision]
        self.live_widgets = {"lr_g": self.lr_g, "lr_d": self.lr_d, "beta1": self.beta1, "beta2": self.beta2,
                             "d_steps": self.d_steps, "label_smoothing": self.label_smoothing}
        for name, widget in self.live_widgets.items():
            # One edit, one command with that one value (SetHParams(lr_d=...)); the run's HParamChange
            # comes back to show_hparams.
            widget.valueChanged.connect(lambda value, name=name: self._on_live_edit(name, value))
        for combo in self.findChildren(QComboBox):
            # Sized by a short text, not their longest item: the longest made the form wider than the panel,
            # and the fields and the cost's wrapped text ran past its right edge, clipped.
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
        self._on_preset(DEFAULT_PRESET)

    def _build_preset_combo(self) -> QComboBox:
        combo = QComboBox(objectName="presetCombo")
        for i, (name, preset) in enumerate(PRESETS.items()):
            combo.addItem(name)
            combo.setItemData(i, f"{preset.summary}\nFrom {preset.source}", 3)  # Qt.ToolTipRole
        combo.currentTextChanged.connect(self._on_preset)
        # Until the user names a preset (picks one, or opens a run), the data picks it: see _preset_for_images.
        self._preset_named, self._defaulting = False, False
        combo.currentTextChanged.connect(self._note_preset_named)
        return combo

    def _build_footprint(self) -> FootprintView:
        """What these settings will cost, before Start: counted again at every change of a fixed setting."""
        self.footprint = FootprintView(self.config)
        self.footprint.planned.connect(self._preset_for_images)
        for combo in (self.dataset, self.data_picker.size, self.data_picker.color, self.preset, self.device,
                      self.precision):
            combo.currentIndexChanged.connect(self.footprint.schedule)
        for spin in (self.latent_dim, self.batch_size):
            spin.valueChanged.connect(self.footprint.schedule)
        return self.footprint

    def _build_guard_box(self) -> QGroupBox:
        defaults = GuardConfig()
        self.guard_box = QGroupBox("Divergence guard (live)", objectName="guardGroup", checkable=True)
        self.guard_box.setToolTip("Detect divergence and roll back to the last healthy snapshot, with lower lrs")
        self.guard_window = _spin("guardWindowSpin", 1, 100_000, "Steps a sustained condition must hold")
        self.guard_g_ceiling = QDoubleSpinBox(objectName="guardGCeilingSpin", minimum=0.1, maximum=1000.0,
                                              decimals=1, singleStep=0.5)
        self.guard_g_ceiling.setToolTip("g above this for the window: generator losing (BCE default 6)")
        self.guard_backoff = QDoubleSpinBox(objectName="guardBackoffSpin", minimum=0.01, maximum=1.0,
                                            decimals=2, singleStep=0.05)
        self.guard_backoff.setToolTip("Learning rates are multiplied by this on a rollback (1 = unchanged)")
        self.guard_snapshot = _spin("guardSnapshotSpin", 1, 100_000, "Steps between healthy snapshots")
        self.guard_remedy = QComboBox(objectName="guardRemedyCombo")
        for remedy in Remedy:
            self.guard_remedy.addItem(remedy.label, remedy.value)
        self.guard_remedy.setToolTip("When the guard sees trouble it cannot roll back from (no healthy state yet), "
                                     "it advises; it may also apply this")
        self.guard_remedy.currentIndexChanged.connect(self._on_guard_edit)
        form = QFormLayout()
        for label, widget, value in [("Window", self.guard_window, defaults.window),
                                     ("g ceiling", self.guard_g_ceiling, defaults.g_ceiling),
                                     ("lr backoff", self.guard_backoff, defaults.backoff),
                                     ("Snapshot every", self.guard_snapshot, defaults.snapshot_every)]:
            widget.setKeyboardTracking(False)
            widget.setValue(value)
            widget.valueChanged.connect(self._on_guard_edit)
            form.addRow(label, widget)
        form.addRow("On advice", self.guard_remedy)
        self.guard_box.setChecked(True)
        self.guard_box.toggled.connect(self._on_guard_edit)
        self.guard_box.setLayout(form)
        return self.guard_box

    @Slot()
    def _on_guard_edit(self) -> None:
        if not self._loading:
            self.guardEdited.emit(self.guard())

    def guard(self) -> dict:
        return {"enabled": self.guard_box.isChecked(), "window": self.guard_window.value(),
                "g_ceiling": self.guard_g_ceiling.value(), "backoff": self.guard_backoff.value(),
                "snapshot_every": self.guard_snapshot.value(), "remedy": self.guard_remedy.currentData()}

    def _fill_devices(self) -> None:
        from cgan_core.step.device import pick_device

        self.device.addItem(f"auto ({pick_device('auto').type})", "auto")
        self.device.addItem("cpu", "cpu")
        if torch.cuda.is_available():
            self.device.addItem("cuda", "cuda")

    @Slot(str)
    def _on_preset(self, name: str) -> None:
        preset = PRESETS[name]
        self.preset.setToolTip(f"{preset.summary}\nFrom {preset.source}")
        # Short enough for the panel's width at 1280 px ("auto" is explained by the next item and the tooltip).
        self.precision.setItemText(0, f"preset's ({preset.precision})")
        was_loading, self._loading = self._loading, True
        try:
            self.latent_dim.setValue(preset.latent_dim)
            self.batch_size.setValue(preset.batch_size)
            for field in LIVE_FIELDS:
                self.live_widgets[field].setValue(getattr(preset, field))
            # The preset's own guard bounds (mlp-label-concat's longer window): sent as they are shown.
            bounds = GuardConfig.for_loss(preset.loss, **preset.guard)
            for widget, value in ((self.guard_window, bounds.window), (self.guard_g_ceiling, bounds.g_ceiling),
                                  (self.guard_backoff, bounds.backoff), (self.guard_snapshot, bounds.snapshot_every)):
                widget.setValue(value)
        finally:
            self._loading = was_loading

    @Slot(str)
    def _note_preset_named(self, _name: str) -> None:
        self._preset_named = self._preset_named or not self._defaulting

    @Slot(tuple)
    def _preset_for_images(self, shape: tuple) -> None:
        """The default preset for the images chosen (presets.default_preset: colour images of 32 px and more
        get the preset built for them), until the user names one."""
        if self._preset_named or not self.preset.isEnabled():  # named, or a run holds the panel
            return
        self._defaulting, name = True, default_preset(shape)
        try:
            self.preset.setCurrentText(name)
        finally:
            self._defaulting = False
        if name != DEFAULT_PRESET:
            preset = PRESETS[name]
            self.preset.setToolTip(f"{preset.summary}\nFrom {preset.source}\nChosen for colour images of {RGB_MIN_SIDE} px "
                                   "and more; pick another to keep it.")

    def _on_live_edit(self, name: str, value: float) -> None:
        if not self._loading:
            self.hparamsEdited.emit({name: int(value) if name == "d_steps" else value})

    def hparams(self) -> dict:
        values = {name: w.value() for name, w in self.live_widgets.items()}
        values["d_steps"] = int(values["d_steps"])
        return values

    def config(self) -> TrainConfig:
        picker = self.data_picker
        return TrainConfig(preset=self.preset.currentText(), dataset=picker.dataset(), image_size=picker.image_size(),
                           color=picker.color_mode(),
                           latent_dim=self.latent_dim.value(), batch_size=self.batch_size.value(),
                           seed=self.seed.value(), device=self.device.currentData(),
                           precision=self.precision.currentData(), steps=self.steps.value() or None, **self.hparams())

    def load(self, values: dict) -> None:
        """Show a saved configuration (QSettings, or an opened run) without emitting edits."""
        self._loading = True
        try:
            if canonical_name(str(values.get("preset"))) in PRESETS:  # old runs name presets by their old names
                self.preset.setCurrentText(canonical_name(values["preset"]))
            # A run's preset was named for it; the studio's last settings say whether the user named theirs.
            self._preset_named = bool(values.get("preset_named", True))
            self.data_picker.load(values)
            self.precision.setCurrentIndex(max(0, self.precision.findData(values.get("precision"))))
            for key, widget in [("latent_dim", self.latent_dim), ("batch_size", self.batch_size),
                                ("seed", self.seed), ("steps", self.steps), *self.live_widgets.items()]:
                if values.get(key) is not None:  # of its type (folder_reader.read_config), maybe past the box's range
                    widget.setValue(min(max(type(widget.value())(values[key]), widget.minimum()), widget.maximum()))
        finally:
            self._loading = False

    @property
    def preset_named(self) -> bool:
        """Whether the user named the preset, or it is the data's default (remembered with the settings)."""
        return self._preset_named

    def show_hparams(self, values: dict) -> None:
        """Show the values the run acknowledged (an edit's HParamChange, a rollback's backoff, a change sent
        by another process to an attached run) without sending them back as edits."""
        for name, value in values.items():
            with QSignalBlocker(self.live_widgets[name]):
                self.live_widgets[name].setValue(value)

    def set_running(self, running: bool, hosted: bool = False, fork_open: bool = False) -> None:
        """hosted: the live run trains here (Try variants needs its state); fork_open: the run waits at a
        fork, so its live values wait too."""
        for widget in self.fixed_widgets:
            widget.setEnabled(not running)
        self.footprint.set_running(running)
        for widget in self.live_widgets.values():
            widget.setEnabled(not fork_open)
        self.try_button.setEnabled(hosted and not fork_open)
