"""Reader for the IDX format of MNIST-like data (gzip or raw), with checks that name the file."""
from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np

from cgan_core.errors import DataError

# IDX magic: two zero bytes, a type code (0x08 = uint8), then the number of dimensions.
_UINT8 = 0x08


def read_bytes(path: Path) -> bytes:
    """The decompressed content of a .gz file, or the raw content of any other file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: cannot decompress ({exc})") from None


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes into a uint8 array with the dimensions the header declares."""
    if len(data) < 4:
        raise DataError(f"{name}: too short to be an IDX file ({len(data)} bytes)")
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != _UINT8 or not 1 <= ndim <= 4:
        raise DataError(f"{name}: bad IDX magic 0x{data[:4].hex()} (expected 0x000008 then 1-4 dims)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name}: header truncated ({len(data)} of {header} bytes)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    if any(d == 0 for d in dims):
        raise DataError(f"{name}: a dimension is zero {dims}")
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected:
        raise DataError(f"{name}: length {len(data)} bytes does not match dimensions {dims} ({expected} bytes)")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def read_idx(path: Path, expected_md5: str | None = None) -> np.ndarray:
    """Read an IDX file; when `expected_md5` is given, check it against the decompressed bytes."""
    data = read_bytes(path)
    if expected_md5 is not None:
        digest = hashlib.md5(data).hexdigest()
        if digest != expected_md5:
            raise DataError(f"{path}: checksum mismatch (MD5 {digest}, expected {expected_md5}); the file is corrupt")
    return parse_idx(data, str(path))


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> None:
    """Write a uint8 array as IDX (used for fixtures and exports)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, _UINT8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.tobytes()
    Path(path).write_bytes(gzip.compress(payload) if compress else payload)
