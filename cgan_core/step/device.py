"""Choosing the training device and sharing the CPU with a UI thread."""
from __future__ import annotations

import os

import torch

from cgan_core.errors import ConfigError


def pick_device(name: str = "auto") -> torch.device:
    """'auto' picks cuda, then mps, then cpu; an explicit device must be available."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device: {name} was requested but CUDA is not available")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("--device: mps was requested but it is not available")
    return torch.device(name)


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 arithmetic runs natively here (avx512_bf16 or AMX on the CPU, Ampere+ on CUDA): without
    it, bf16 is emulated and slower than fp32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
        except AttributeError:  # a torch without these probes
            return False
    return False


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        threads = torch.get_num_threads()
        return f"cpu ({threads} thread{'s' if threads != 1 else ''})"
    return device.type


def _thread_override() -> int | None:
    override = os.environ.get("CGAN_STUDIO_TORCH_THREADS", "")
    return int(override) if override.isdigit() and int(override) > 0 else None


def threads_each(processes: int) -> int:
    """Torch threads for each of `processes` training side by side on this machine: the cores split between
    them, or CGAN_STUDIO_TORCH_THREADS where it is set (a shared host, the test suite)."""
    return _thread_override() or max(1, (os.cpu_count() or 1) // processes)


def leave_core_for_ui() -> int:
    """Torch's intra-op threads take every core by default; keep one for the UI thread.

    CGAN_STUDIO_TORCH_THREADS overrides the count (BENCHMARKS.md measures the trade-off).
    """
    threads = _thread_override() or max(1, (os.cpu_count() or 2) - 1)
    torch.set_num_threads(threads)
    return threads
