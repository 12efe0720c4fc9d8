"""Hostile files for the loading-safety tests: checkpoints whose unpickling would write a marker file."""
from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import torch


class WritesMarker:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('unpickled')",)


def hostile_checkpoint(path: Path, marker: Path, protocol: int = 2) -> Path:
    """A torch zip checkpoint. protocol 2 is what torch.save writes (GLOBAL opcodes); protocol 4 uses
    STACK_GLOBAL with memoised strings, which a naive scanner misses."""
    buffer = io.BytesIO()
    torch.save({"schema": 1, "step": 3, "payload": torch.zeros(2)}, buffer)
    buffer.seek(0)
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(path, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.endswith("data.pkl"):
                data = pickle.dumps({"schema": 1, "step": 3, "evil": WritesMarker(marker)}, protocol=protocol)
            target.writestr(item, data)
    return path


def hostile_pickle_file(path: Path, marker: Path) -> Path:
    """A bare pickle (what a `.pt` or a renamed `.safetensors` from an untrusted source may be)."""
    path.write_bytes(pickle.dumps(WritesMarker(marker)))
    return path
