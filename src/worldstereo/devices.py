"""Choosing the torch device: the user's choice checked against what this machine has, or the best one.

One function so that ``--device`` is checked the same way everywhere and early, before a model is
loaded: ``cuda:7`` on a machine with one GPU or a CPU-only torch build is one clear line, not a
CUDA traceback minutes later.
"""

from __future__ import annotations

from typing import Any, Optional


class DeviceError(ValueError):
    """A device this machine does not have; the message says which ones it has."""


def available_devices() -> list[str]:
    import torch

    out = ["cpu"]
    if torch.cuda.is_available():
        out += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        out.append("mps")
    return out


def resolve_device(device: Optional[Any] = None) -> "torch.device":  # noqa: F821
    """``device`` (a name such as ``cpu``, ``cuda``, ``cuda:1``, ``mps``, or a ``torch.device``) if this
    machine has it, else :class:`DeviceError`; ``None`` = ``cuda`` when available, else ``cpu``."""
    import torch

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise DeviceError(f"--device {device!r}: not a device name; use one of {', '.join(available_devices())}") from None
    have = available_devices()
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"--device {device}: this torch build or machine has no CUDA GPU; use one of {', '.join(have)}")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA GPU(s); "
                              f"use one of {', '.join(have)}")
    elif dev.type == "mps" and "mps" not in have:
        raise DeviceError(f"--device {device}: Apple MPS is not available here; use one of {', '.join(have)}")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"--device {device}: device type {dev.type!r} is not supported; use one of {', '.join(have)}")
    return dev
