"""The hostile inputs of the fault campaign (bench_faults.py): control-folder entries a live run must refuse,
and generator and checkpoint files every loader must refuse in one line without running or allocating them."""
from __future__ import annotations

import io
import json
import math
import os
import pickle
import zipfile
from pathlib import Path

import torch
from safetensors.torch import save as st_save


def _text(text: str):
    return lambda path, outside: path.write_text(text)


def _bytes(data: bytes):
    return lambda path, outside: path.write_bytes(data)


def _link_to_outside(path: Path, outside: Path) -> None:
    os.symlink(outside / "secret.json", path)  # a valid stop command, outside the run folder


def _link_to_system(path: Path, outside: Path) -> None:
    os.symlink("/etc/passwd", path)


def _fifo(path: Path, outside: Path) -> None:
    os.mkfifo(path)


def _folder(path: Path, outside: Path) -> None:
    path.mkdir()
    (path / "inner.json").write_text('{"command": "stop"}')


def _command(name: str, **fields):
    return _text(json.dumps({"command": name, **fields}))


HOSTILE_CONTROL = {
    "01-link-outside.json": _link_to_outside,
    "02-link-system.json": _link_to_system,
    "03-fifo.json": _fifo,
    "04-folder.json": _folder,
    "05-too-big.json": _text('{"command": "pause", "pad": "' + "x" * 200_000 + '"}'),
    "06-deep.json": _text("[" * 200_000 + "]" * 200_000),
    "07-not-json.json": _text("stop, please"),
    "08-array.json": _text('["stop"]'),
    "09-unknown.json": _command("format_disk"),
    "10-lr-huge.json": _command("set_hparams", values={"lr_g": 1e9}),
    "11-lr-negative.json": _command("set_hparams", values={"lr_d": -1.0}),
    "12-lr-nan.json": _text('{"command": "set_hparams", "values": {"lr_g": NaN}}'),
    "13-unknown-field.json": _command("set_hparams", values={"lr_q": 1e-3}),
    "14-step-nothing.json": _command("step", update_d=False, update_g=False),
    "15-rollback-negative.json": _command("rollback", step=-5),
    "16-grid-zero.json": _command("grid_interval", every=0),
    "17-guard-ring.json": _command("set_guard", values={"ring_size": 10**9}),
    "18-binary.json": _bytes(b"\x00\xff\xfe" * 1000),
    "19-d-steps.json": _command("set_hparams", values={"d_steps": 10**6}),
    "20-infinite.json": _text('{"command": "set_hparams", "values": {"lr_g": 1e400}}'),
}


class _RunsCode:
    """Unpickling it would create the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('executed')",)


def _torch_zip(path: Path, pickled: bytes, compress: bool = False, twice: bool = False) -> Path:
    buffer = io.BytesIO()
    torch.save({"schema": 1, "step": 3, "payload": torch.zeros(2)}, buffer)
    buffer.seek(0)
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(path, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.endswith("data.pkl"):
                data = pickled
                if compress:  # a zip bomb: a tiny member that inflates to 200 MB
                    target.writestr(item.filename, data + b"\0" * 200_000_000, compress_type=zipfile.ZIP_DEFLATED)
                    continue
                if twice:
                    target.writestr(item, pickle.dumps({"schema": 1, "step": 99}))
            target.writestr(item, data)
    return path


def _safetensors(path: Path, **meta) -> Path:
    from cgan_core.output.checkpoint import generator_metadata
    from cgan_core.step.nets_conv import FastGenerator

    g = FastGenerator(16, 10, (1, 28, 28), width=8)
    header = generator_metadata(g, [str(i) for i in range(10)])
    header.update(meta)
    path.write_bytes(st_save({k: v.contiguous() for k, v in g.state_dict().items()}, metadata=header))
    return path


def hostile_model_files(folder: Path, marker: Path) -> list[tuple[Path, list[str]]]:
    """(file, the CLI command that loads it): checkpoints through train --resume, generators through sample."""
    resume, sample = ["train", "--steps", "5", "--resume"], ["sample", "--out", str(folder / "samples.png")]
    runs_code = pickle.dumps({"schema": 1, "evil": _RunsCode(marker)}, protocol=2)
    huge = json.dumps({"latent_dim": 16, "num_classes": 10, "image_shape": [3, 1024, 1024], "width": 4096})
    header_bomb = folder / "header-bomb.safetensors"
    header_bomb.write_bytes((2**62).to_bytes(8, "little") + b"{}")
    bare = folder / "bare-pickle.safetensors"
    bare.write_bytes(runs_code)
    good = _torch_zip(folder / "base.pt", pickle.dumps({"schema": 1, "step": 1}))
    glued = folder / "glued.pt"
    glued.write_bytes(pickle.dumps({"legacy": True}) + good.read_bytes())
    truncated = folder / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    return [
        (_torch_zip(folder / "runs-code.pt", runs_code), resume),
        (_torch_zip(folder / "runs-code-p4.pt", pickle.dumps({"evil": _RunsCode(marker)}, protocol=4)), resume),
        (_torch_zip(folder / "zip-bomb.pt", pickle.dumps({"schema": 1}), compress=True), resume),
        (_torch_zip(folder / "duplicate-members.pt", pickle.dumps({"schema": 1}), twice=True), resume),
        (glued, resume),
        (truncated, resume),
        (bare, sample),
        (header_bomb, sample),
        (_safetensors(folder / "huge-model.safetensors", kwargs=huge), sample),
        (_safetensors(folder / "latent-1e9.safetensors",
                      kwargs=json.dumps({"latent_dim": 10**9, "num_classes": 10, "image_shape": [1, 28, 28]})), sample),
    ]


# A record field's hostile values: wrong types, non-finite, huge and tiny numbers, a huge string, a path.
HOSTILE_VALUES = [None, True, False, -1, 0, 2**70, -(2**70), math.nan, math.inf, -math.inf, 1e308, 5e-324, "0.5", "",
                  "x" * 5_000, "../../etc/passwd", [], [1, 2], {}, {"a": 1}, 1.5, 3]


def generated_control_files(count: int, seed: int) -> list[bytes]:
    """`count` hostile control files built from the schemas (cgan_core/records.py): each record kind, one of its
    fields (or an unknown name) given a wrong type, a non-finite or huge number, a huge string or deep nesting,
    as the suite's Hypothesis strategies build them. Those that would parse into a command that ends, pauses
    or forks the run are left out: the campaign asks whether a control file can stop a run by accident."""
    import random

    import msgspec

    from cgan_core import records
    from cgan_core.errors import CganError
    from cgan_core.run import commands as cmd
    from cgan_core.run import control

    rng = random.Random(seed)
    kinds = {r.__struct_config__.tag: r for r in records.CONTROL_RECORDS}
    inner = {"set_hparams": records.HParams, "set_guard": records.GuardSettings}
    out: list[bytes] = []
    while len(out) < count:
        kind = rng.choice(sorted(kinds))
        nested = kind in inner and rng.random() < 0.7  # a bad value inside set_hparams' or set_guard's values
        schema = inner[kind] if nested else kinds[kind]
        names = [f.name for f in msgspec.inspect.type_info(schema).fields] + ["an_unknown_name"]
        values = {rng.choice(names): rng.choice(HOSTILE_VALUES)}
        record = {"command": kind, "values": values} if nested else {"command": kind, **values}
        text = json.dumps(record)
        if rng.random() < 0.1:
            depth = rng.choice([100, 10_000, 100_000])
            text = text.replace("null", "[" * depth + "]" * depth, 1) if "null" in text else "[" * depth
        data = text.encode()
        try:
            parsed = control.parse(data)
        except CganError:
            parsed = None
        if isinstance(parsed, (cmd.Stop, cmd.Pause, cmd.TryVariants, cmd.ChooseVariant, cmd.RollBack, cmd.Step)):
            continue
        out.append(data)
    return out
