"""Train > Try variants…: what to fork the live run into. One or two hyperparameters, each with its values
("0.3x, 1x, 3x" scales the run's current value; a number sets it), one variant for each combination, and
the steps each variant trains. The dialog checks the choice with the engine's own parser as it is typed,
and says how many variants that is and what they hold in memory before anything starts."""
from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cgan_core.errors import UsageError
from cgan_core.run.fork import MAX_HORIZON, parse_vary
from cgan_core.step.config import LIVE_FIELDS

NAMES = {"lr_d": "lr D", "lr_g": "lr G", "beta1": "beta1", "beta2": "beta2", "d_steps": "D steps / G step",
         "label_smoothing": "label smoothing"}
NO_SECOND = "(none)"


class TryVariantsDialog(QDialog):
    def __init__(self, parent: QWidget | None, current: dict, state_bytes: int) -> None:
        """current: the run's live hyperparameters (what "1x" means); state_bytes: one training state."""
        super().__init__(parent)
        self.setWindowTitle("Try variants")
        self.current, self.state_bytes = current, state_bytes
        self.first, self.first_values = self._axis("variantsFirst", "lr_d", "0.3x, 1x, 3x")
        self.second, self.second_values = self._axis("variantsSecond", NO_SECOND, "0.5x, 1x")
        self.second.insertItem(0, NO_SECOND, None)
        self.second.setCurrentIndex(0)
        self.steps = QSpinBox(objectName="variantsSteps", minimum=1, maximum=MAX_HORIZON, value=500, singleStep=100)
        self.steps.setToolTip("Steps each variant trains from the run's state, on the same batches and noise")
        self.summary = QLabel(objectName="variantsSummary", wordWrap=True)
        form = QFormLayout()
        form.addRow("Vary", self._row(self.first, self.first_values))
        form.addRow("and", self._row(self.second, self.second_values))
        form.addRow("Steps each", self.steps)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.buttons.button(QDialogButtonBox.Ok).setText("Start variants")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        intro = QLabel("Each variant starts from the run's current state and trains on the same batches and "
                       "noise, so only these values differ. The run waits meanwhile; then continue from the one "
                       "you choose, or keep the run as it was.", wordWrap=True)
        layout = QVBoxLayout(self)
        for part in (intro, form, self.summary, self.buttons):
            (layout.addLayout if isinstance(part, QFormLayout) else layout.addWidget)(part)
        for signal in (self.first.currentIndexChanged, self.second.currentIndexChanged, self.first_values.textChanged,
                       self.second_values.textChanged):
            signal.connect(self._check)
        self._check()

    def _axis(self, name: str, chosen: str, values: str) -> tuple[QComboBox, QLineEdit]:
        combo = QComboBox(objectName=f"{name}Name")
        for key in LIVE_FIELDS:
            combo.addItem(NAMES.get(key, key), key)
        combo.setCurrentIndex(max(0, combo.findData(chosen)))
        edit = QLineEdit(values, objectName=f"{name}Values")
        edit.setToolTip("Comma-separated: 0.5x scales the run's current value, a number sets it")
        return combo, edit

    @staticmethod
    def _row(combo: QComboBox, edit: QLineEdit) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(combo)
        row.addWidget(edit, 1)
        return row

    def vary(self) -> tuple[str, ...]:
        """The choice as `--vary` texts, e.g. ("lr_d=0.3x,1x,3x",)."""
        axes = [(self.first.currentData(), self.first_values.text())]
        if self.second.currentData() is not None:
            axes.append((self.second.currentData(), self.second_values.text()))
        return tuple(f"{name}={''.join(values.split())}" for name, values in axes)

    def _check(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.Ok)
        try:
            specs = parse_vary(list(self.vary()), self.current)
        except UsageError as exc:
            self.summary.setText(f"<span style='color:#e06c75'>{exc}</span>")
            ok.setEnabled(False)
            return
        memory = self.state_bytes * len(specs) / 2**20
        self.summary.setText(f"{len(specs)} variants: {'; '.join(s.label for s in specs)}. "
                             f"They hold {memory:,.0f} MB while they train ({memory / len(specs):,.0f} MB each).")
        ok.setEnabled(True)
