"""Atomic, durable files: resumable checkpoints (torch, weights_only) and self-describing
generator files (safetensors, which runs no code when opened)."""
from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from pathlib import Path

import msgspec
import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from cgan_core import records
from cgan_core.errors import CheckpointError, ConfigError
from cgan_core.output.safe_files import TMP_MARK, atomic_write_bytes, names, read_bytes, remove
from cgan_core.output.safe_pickle import check_checkpoint_pickle
from cgan_core.step.presets import ARCHITECTURES

CHECKPOINT_SCHEMA = 1
GENERATOR_FORMAT = "cgan-studio-generator"


ZIP_MAGIC = b"PK\x03\x04"


def atomic_write_text(path: Path, text: str, root: Path | None = None) -> None:
    atomic_write_bytes(path, text.encode(), root)


def truncate_csv_after(path: Path, step: int | None, root: Path | None = None) -> None:
    """On resume, keep a step-indexed CSV's header and the rows up to `step` (the later steps are
    trained again). Only complete rows stay: a row cut short by a kill or a full disk (no newline, or fewer
    fields than the header) goes, so the next row written cannot be glued onto it ("12" + "41,..." would
    read as step 1241)."""
    path = Path(path)
    data = read_bytes(path, root)
    if data is None:
        return
    text = data.decode("utf-8", errors="replace")
    # Lines end at "\n" only (str.splitlines also splits at a form feed or a line separator, which a class
    # name in quality.csv's header may hold); the header is one CSV record, quoted newlines and all.
    physical = re.split(r"(?<=\n)", text)
    read: list[str] = []
    header = next(csv.reader(_recording(physical, read)), None)
    lines = ["".join(read), *physical[len(read):]] if header is not None else []
    lines = [line for line in lines if line]
    if not lines or not lines[0].endswith("\n"):
        atomic_write_text(path, "", root)  # not even a whole header: the writer starts the file again
        return
    fields = len(header)
    rows = [line for line in lines[1:] if _complete_row(line, fields, None)]
    steps = [int(line.split(",", 1)[0]) for line in rows]
    # Earlier branches' rows (before the last step that goes back) are history, kept whatever `step` is.
    live = max((i for i in range(1, len(steps)) if steps[i] <= steps[i - 1]), default=0)
    kept = lines[:1] + rows[:live] + [line for line, s in zip(rows[live:], steps[live:]) if step is None or s <= step]
    if len(kept) == len(lines):
        return  # nothing to drop: the file is left as it is
    atomic_write_text(path, "".join(kept), root)


def _recording(lines: list[str], read: list[str]):
    """The lines, each added to `read` as the CSV reader takes it: the header record's own lines."""
    for line in lines:
        read.append(line)
        yield line


def _complete_row(line: str, fields: int, step: int | None) -> bool:
    if not line.endswith("\n"):
        return False
    row = next(csv.reader([line]), [])
    return len(row) == fields and row[0].isdigit() and (step is None or int(row[0]) <= step)


def remove_stale_temps(folder: Path, root: Path) -> list[Path]:
    """Delete temp files a crashed writer left behind; they are never taken for real files."""
    stale = [Path(folder) / name for name in names(Path(folder), root) if TMP_MARK in name]
    for p in stale:
        remove(p, root)
    return stale


def save_checkpoint(path: Path, state: dict, root: Path | None = None) -> None:
    buffer = io.BytesIO()
    torch.save({"schema": CHECKPOINT_SCHEMA, **state}, buffer)
    atomic_write_bytes(path, buffer.getvalue(), root)


def load_checkpoint(path: Path, root: Path | None = None) -> dict:
    """Load a checkpoint with torch.load(weights_only=True); never falls back to full unpickling. Its bytes
    are read once (inside the run folder `root`, never through a link): what is scanned is what is loaded."""
    path = Path(path)
    data = read_bytes(path, root)
    if data is None:
        raise CheckpointError(f"{path}: no such checkpoint")
    # torch.load takes a file for a zip by its first bytes; zipfile.is_zipfile finds an archive anywhere
    # (one appended to a legacy pickle would pass it and then be loaded by torch's legacy, unscanned path).
    if data[:4] != ZIP_MAGIC or not zipfile.is_zipfile(io.BytesIO(data)):
        raise CheckpointError(f"{path}: not a checkpoint (truncated or corrupt)")
    check_checkpoint_pickle(path, data)  # hostile pickles are refused before any unpickler runs
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for damaged or unsafe files
        first_line = str(exc).splitlines()[0][:200]
        raise CheckpointError(f"{path}: cannot be loaded safely ({type(exc).__name__}: {first_line})") from None
    if not isinstance(state, dict) or state.get("schema") != CHECKPOINT_SCHEMA:
        schema = state.get("schema") if isinstance(state, dict) else None
        raise CheckpointError(f"{path}: not a cgan-studio checkpoint (schema {schema})")
    try:  # its settings and counters, by their schema: past here, nothing is checked again
        header = records.convert({k: state[k] for k in records.HEADER_KEYS if k in state}, records.CheckpointHeader,
                                 str(path))
    except ConfigError as exc:
        raise CheckpointError(str(exc)) from None
    return {**state, "hparams": header.hparams.given(), "guard_settings": header.guard_settings.given(),
            "guard": msgspec.structs.asdict(header.guard), "step": header.step, "seconds": header.seconds,
            "world_size": header.world_size, "images_seen": header.images_seen}


def generator_metadata(g: nn.Module, class_names: list[str], extra: dict | None = None) -> dict[str, str]:
    kwargs = {"latent_dim": g.latent_dim, "num_classes": g.num_classes, "image_shape": list(g.image_shape)}
    kwargs.update({k: getattr(g, k) for k in ("width", "max_width") if hasattr(g, k)})
    meta = {
        "format": GENERATOR_FORMAT,
        "architecture": type(g).__name__,
        "kwargs": json.dumps(kwargs),
        "class_names": json.dumps(list(class_names)),
        "image_shape": json.dumps(list(g.image_shape)),
        "output_range": g.output_range,
        "polarity": "0=background",
    }
    meta.update({k: str(v) for k, v in (extra or {}).items()})
    return meta


def save_generator(path: Path, g: nn.Module, class_names: list[str], extra: dict | None = None,
                   root: Path | None = None) -> None:
    tensors = {k: v.detach().cpu().contiguous() for k, v in g.state_dict().items()}
    atomic_write_bytes(path, st_save(tensors, metadata=generator_metadata(g, class_names, extra)), root)


def _read_safetensors(path: Path, root: Path | None) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    data = read_bytes(path, root)
    if data is None:
        raise CheckpointError(f"{path}: no such generator file")
    try:
        header_len = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + header_len])
        if not isinstance(header, dict):
            raise ValueError("its header is not a JSON object")
        meta = header.get("__metadata__") or {}
        if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
            raise ValueError("its metadata is not an object of strings")
        tensors = st_load(data)
    except (SafetensorError, ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise CheckpointError(f"{path}: not a valid safetensors file ({exc})") from None
    return tensors, meta


def read_generator_metadata(path: Path, root: Path | None = None) -> dict[str, str]:
    """A generator file's metadata only (step, preset, best accuracy, ...); inside the run folder `root`,
    never read through a link."""
    return _read_safetensors(Path(path), root)[1]


def load_generator(path: Path, root: Path | None = None) -> tuple[nn.Module, dict]:
    """Rebuild a generator from its safetensors file alone, validating it before use (inside the run folder
    `root`, never read through a link)."""
    path = Path(path)
    tensors, meta = _read_safetensors(path, root)
    return generator_from_tensors(tensors, meta, str(path))


GENERATORS = {name: cls for name, cls in ARCHITECTURES.items() if name.endswith("Generator")}
def _checked_kwargs(kwargs, source: str) -> dict:
    """A generator's architecture arguments, by their schema (records.GeneratorKwargs), before anything is built."""
    try:
        checked = records.convert(kwargs, records.GeneratorKwargs, "kwargs").given()
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    return {**checked, "image_shape": list(checked["image_shape"])}


def generator_from_tensors(tensors: dict[str, torch.Tensor], meta: dict[str, str], source: str) -> tuple[nn.Module, dict]:
    """Build the architecture `meta` names and load `tensors` into it, after checking keys, shapes,
    dtypes and finite values. `source` names the file (or snapshot) in every error."""
    if meta.get("format") != GENERATOR_FORMAT or meta.get("architecture") not in GENERATORS:
        raise CheckpointError(f"{source}: not a cgan-studio generator (architecture {meta.get('architecture')!r})")
    try:
        kwargs = _checked_kwargs(json.loads(meta["kwargs"]), source)
        class_names = list(records.decode_json(meta["class_names"], records.ClassNames, "class_names"))
        if len(class_names) != kwargs.get("num_classes"):
            raise ValueError("class_names must list num_classes names")
        architecture = GENERATORS[meta["architecture"]]
        # Sized on the meta device first: nothing is allocated until the file's tensors match it, so the
        # model built for real is no larger than what the file itself holds.
        with torch.device("meta"):
            expected = architecture(**kwargs).state_dict()
    except (KeyError, TypeError, ValueError, RuntimeError, RecursionError, ConfigError) as exc:
        raise CheckpointError(f"{source}: bad generator metadata ({exc})") from None
    if set(tensors) != set(expected):
        missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
        raise CheckpointError(f"{source}: tensors do not match {meta['architecture']} "
                              f"(missing {missing[:3]}, unexpected {extra[:3]})")
    for key, ref in expected.items():
        t = tensors[key]
        if t.shape != ref.shape or t.dtype != ref.dtype:
            raise CheckpointError(f"{source}: {key} is {t.dtype} {tuple(t.shape)}, expected {ref.dtype} {tuple(ref.shape)}")
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise CheckpointError(f"{source}: {key} holds NaN or infinite values")
    g = architecture(**kwargs)
    g.load_state_dict(tensors, strict=True)
    info = {**meta, "class_names": class_names, "output_range": meta.get("output_range", g.output_range)}
    return g.eval(), info
