"""Refuse a checkpoint whose pickle names anything outside a small allow-list, before loading it.

`torch.load(weights_only=True)` already refuses unknown globals while unpickling. This scan runs
first, on the raw opcodes, so that a hostile file is turned away without any unpickler touching it,
and the message can name the offending global. It resolves STACK_GLOBAL through the memo as
picklescan does; a global it cannot resolve is refused too.
"""
from __future__ import annotations

import io
import pickletools
import zipfile
from pathlib import Path

from cgan_core.errors import CheckpointError

_STORAGES = ("Float", "Double", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool")
ALLOWED_GLOBALS = frozenset({
    "collections.OrderedDict",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_parameter",
    "torch.Size",
    *(f"torch.{kind}Storage" for kind in _STORAGES),
})
_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING", "STRING"}


def pickle_globals(data: bytes) -> list[str]:
    """Every global a pickle stream imports, as 'module.name'; '?' where it cannot be resolved."""
    found, recent, memo = [], [], {}
    try:
        for op, arg, _ in pickletools.genops(data):
            name = op.name
            if name in ("GLOBAL", "INST"):
                module, _, attr = str(arg).partition(" ")
                found.append(f"{module}.{attr}")
            elif name == "STACK_GLOBAL":
                found.append(f"{recent[-2]}.{recent[-1]}" if len(recent) >= 2 and None not in recent[-2:] else "?")
            elif name in _STRING_OPS:
                recent.append(str(arg))
            elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
                memo[arg] = recent[-1] if recent else None
            elif name == "MEMOIZE":
                memo[len(memo)] = recent[-1] if recent else None
            elif name in ("BINGET", "LONG_BINGET", "GET"):
                recent.append(memo.get(arg))
            else:
                recent.append(None)  # anything else breaks a (module, name) pair
    except Exception as exc:  # a malformed stream is refused, never half-trusted
        raise ValueError(f"unreadable pickle stream ({exc})") from None
    return found


MAX_PICKLE_BYTES = 64 * 1024 * 1024  # a checkpoint's pickle is its structure; the tensors are other members


def _check_members(path: Path, members: list[zipfile.ZipInfo]) -> None:
    """torch writes each member once, uncompressed: anything else is refused before a byte is inflated."""
    names = [m.filename for m in members]
    if len(set(names)) != len(names):
        raise CheckpointError(f"{path}: refused, its archive holds a member name twice; nothing was loaded")
    for m in members:
        if m.compress_type != zipfile.ZIP_STORED:
            raise CheckpointError(f"{path}: refused, its member {m.filename[:80]} is compressed (torch stores "
                                  "members uncompressed); nothing was loaded")
        if m.filename.endswith(".pkl") and m.file_size > MAX_PICKLE_BYTES:
            raise CheckpointError(f"{path}: refused, its pickle is {m.file_size:,} bytes; nothing was loaded")


def check_checkpoint_pickle(path: Path, data: bytes | None = None) -> None:
    """Raise CheckpointError naming `path` and the global when its pickle steps outside the allow-list
    (the file's `data` when it was read already)."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path if data is None else io.BytesIO(data)) as archive:
            members = archive.infolist()
            _check_members(path, members)
            pickles = [m for m in members if m.filename.endswith(".pkl")]
            if not pickles:
                raise CheckpointError(f"{path}: not a checkpoint (no pickle inside the archive)")
            for member in pickles:
                names = pickle_globals(archive.read(member))
                refused = sorted({n for n in names if n not in ALLOWED_GLOBALS})
                if refused:
                    raise CheckpointError(f"{path}: refused, its pickle imports {', '.join(refused[:3])} "
                                          "(not on the allow-list of tensor types); nothing was loaded")
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a checkpoint (truncated or corrupt: {exc})") from None
