"""The dataset picker: the embedded MNIST, the downloadable sets, or a folder of the user's own
(IDX files, CIFAR-10 binary, or one subfolder of images per class), with size and colour options."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QComboBox, QFileDialog, QWidget

from cgan_core.data import DATASETS, SIZES
from cgan_core.data.download import SOURCES

CHOOSE_FOLDER = "Folder…"


class DatasetPicker:
    """Three combos for the config panel's form: dataset, image size, colour."""

    def __init__(self, parent: QWidget) -> None:
        self.parent = parent
        self.combo = QComboBox(objectName="datasetCombo")
        for name in DATASETS:
            tip = "embedded, no download" if name == "mnist" else f"downloaded once from {SOURCES[name].homepage}"
            self.combo.addItem(name, name)
            self.combo.setItemData(self.combo.count() - 1, tip, 3)  # Qt.ToolTipRole
        self.combo.addItem(CHOOSE_FOLDER, None)
        self.combo.setItemData(self.combo.count() - 1, "A folder of IDX files, CIFAR-10's binary version, or one "
                               "subfolder of images per class (png, jpg, bmp, webp)", 3)
        self.combo.activated.connect(self._on_activated)
        self._last = 0
        self.size = QComboBox(objectName="imageSizeCombo")
        self.size.addItem("as found", None)
        for value in SIZES:
            self.size.addItem(f"{value} px", value)
        self.size.setToolTip("Resize the images (square). As found: the data's own size; for a folder of images, the "
                             "size most of them have, or the largest size the networks take below it (the status "
                             "bar says which)")
        self.color = QComboBox(objectName="colorCombo")
        for value in ("keep", "grey", "rgb"):
            self.color.addItem(value, value)
        self.color.setToolTip("Keep the images' colour as found, or force greyscale or RGB")
        self.widgets = [self.combo, self.size, self.color]

    def _on_activated(self, index: int) -> None:
        if self.combo.itemData(index) is not None:
            self._last = index
            return
        path = QFileDialog.getExistingDirectory(self.parent, "Dataset folder")
        if path:
            self.set_dataset(path)
        else:
            self.combo.setCurrentIndex(self._last)

    def set_dataset(self, name: str) -> None:
        """Select a named dataset, or add a folder as an item and select it."""
        index = self.combo.findData(name)
        if index < 0:
            index = self.combo.count() - 1  # before "Folder…"
            self.combo.insertItem(index, Path(name).name or name, name)
            self.combo.setItemData(index, name, 3)
        self.combo.setCurrentIndex(index)
        self._last = index

    def dataset(self) -> str:
        return self.combo.currentData() or "mnist"

    def image_size(self) -> int | None:
        return self.size.currentData()

    def color_mode(self) -> str:
        return self.color.currentData()

    def load(self, values: dict) -> None:
        name = str(values.get("dataset") or "")
        if name in DATASETS or (name and Path(name).exists()):  # a saved folder that has gone is dropped
            self.set_dataset(name)
        self.size.setCurrentIndex(max(0, self.size.findData(values.get("image_size"))))
        self.color.setCurrentIndex(max(0, self.color.findData(values.get("color", "keep"))))
