"""ONNX export of a generator: inputs z (N, latent_dim) and class_probs (N, num_classes), output
images (N, C, H, W) in the generator's output range (metadata says which).

The file is checked when it is written: the ONNX reference evaluator (pure numpy, part of the onnx
package) runs it on fixed inputs and must match torch within 1e-4; otherwise nothing is written.
"""
from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cgan_core.errors import CheckpointError, ConfigError
from cgan_core.output.checkpoint import atomic_write_bytes

OPSET = 17
TOLERANCE = 1e-4


def _fixed_inputs(g: nn.Module, n: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(n, g.latent_dim, generator=gen)
    probs = torch.softmax(torch.randn(n, g.num_classes, generator=gen) * 3, dim=1)
    probs[0] = torch.nn.functional.one_hot(torch.tensor(0), g.num_classes).float()  # a hard label too
    return z, probs


def export_onnx(g: nn.Module, path: Path, info: dict, opset: int = OPSET) -> dict:
    """Write `g` as ONNX to `path` after checking it against torch; returns the check's figures."""
    try:
        import onnx
        from onnx.reference import ReferenceEvaluator
    except ImportError:
        raise ConfigError("ONNX export needs the onnx package: pip install onnx") from None
    if opset < 17:
        raise ConfigError(f"--opset must be >= 17, got {opset}")
    g = g.eval()
    z, probs = _fixed_inputs(g)
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the tracer's notes on shape checks in Python are expected
        warnings.simplefilter("ignore")
        torch.onnx.export(g, (z, probs), buffer, dynamo=False, opset_version=opset,
                          input_names=["z", "class_probs"], output_names=["images"],
                          dynamic_axes={"z": {0: "n"}, "class_probs": {0: "n"}, "images": {0: "n"}})
    model = onnx.load_from_string(buffer.getvalue())
    metadata = {"format": "cgan-studio-generator-onnx", "architecture": type(g).__name__,
                "latent_dim": str(g.latent_dim), "class_names": json.dumps(list(info["class_names"])),
                "output_range": info["output_range"], "polarity": "0=background"}
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    with torch.no_grad():
        expected = g(z, probs).float().numpy()
    (got,) = ReferenceEvaluator(model).run(None, {"z": z.numpy(), "class_probs": probs.numpy()})
    error = float(np.abs(np.asarray(got) - expected).max())
    if not error <= TOLERANCE:
        raise CheckpointError(f"{path}: not written, the ONNX graph differs from torch by {error:.2e} (> {TOLERANCE})")
    atomic_write_bytes(Path(path), model.SerializeToString())
    return {"out": str(path), "opset": opset, "max_abs_error_vs_torch": error}
