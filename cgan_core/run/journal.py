"""journal.json: the intent of a multi-step change to a run folder (records.Intent), written atomically
before the change's first step and removed after its last. RunFiles replays one it finds when it opens the
folder: every step is safe to do twice, and the events it logs carry the intent's id, so none is logged
twice. A journal that does not parse is set aside (journal.json.refused-N) and said in one line."""
from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import msgspec

from cgan_core import records
from cgan_core.errors import CheckpointError, ConfigError
from cgan_core.output import safe_files as safe
from cgan_core.output.checkpoint import atomic_write_text
from cgan_core.run import layout

FILE = layout.JOURNAL
MAX_BYTES = 1 << 20


def new_id() -> str:
    return secrets.token_hex(8)


def begin(root: Path, intent: records.Intent) -> None:
    atomic_write_text(root / FILE, json.dumps(msgspec.to_builtins(intent)), root)


def read(root: Path, warn) -> records.Intent | None:
    try:
        data = safe.read_bytes(root / FILE, root, limit=MAX_BYTES)
        if data is None:
            return None
        if len(data) > MAX_BYTES:
            raise ConfigError(f"more than {MAX_BYTES} bytes, more than a journal holds")
        return records.decode_json(data, records.Intent, "")
    except (ConfigError, CheckpointError) as exc:  # not ours, or not a file (a link, a FIFO): set aside
        aside = root / f"{FILE}.refused-{time.time_ns()}"
        safe.move(root / FILE, aside, root)
        warn(f"{root / FILE}: not a journal this version wrote ({exc}); set aside as {aside.name}")
        return None


def clear(root: Path) -> None:
    safe.remove(root / FILE, root)


def logged(root: Path, intent_id: str) -> int:
    """How many of the intent's events events.jsonl holds already (they are appended in order)."""
    data = safe.read_bytes(root / layout.EVENTS, root) or b""
    return data.count(f'"intent": "{intent_id}"'.encode())
