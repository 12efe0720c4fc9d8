"""What the studio remembers between sessions (QSettings): the window's geometry, the splitter and the
last-used configuration. An unreadable saved configuration is ignored, never fatal."""
from __future__ import annotations

import json

from PySide6.QtCore import QSettings

from cgan_core.step.config import written_settings


def restore(window) -> None:
    settings = QSettings()
    if settings.value("geometry") is not None:
        window.restoreGeometry(settings.value("geometry"))
    if settings.value("splitter") is not None:
        window.splitter.restoreState(settings.value("splitter"))
    try:
        saved = json.loads(settings.value("config", "{}"))
    except (TypeError, ValueError, RecursionError):
        saved = {}
    values = written_settings(saved)  # each setting by its schema, as a run's config.json: what does not fit is left out
    if isinstance(saved, dict) and isinstance(saved.get("preset_named"), bool):
        values["preset_named"] = saved["preset_named"]
    window.config_panel.load(values)


def save(window) -> None:
    settings = QSettings()
    settings.setValue("geometry", window.saveGeometry())
    settings.setValue("splitter", window.splitter.saveState())
    panel = window.config_panel
    settings.setValue("config", json.dumps({**panel.config().to_dict(), "preset_named": panel.preset_named}))
