"""Device choice and mixed precision, in one place so every variant gets the same rules."""

from __future__ import annotations

import contextlib

import torch

from .errors import UserError


def pick_device(name: str = "auto") -> torch.device:
    """"auto" takes cuda, then mps, then cpu; any other name is used as given, with a clear
    error when that device is not available here."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {name!r} was asked for, but this machine has no usable CUDA GPU; "
                         f"use --device cpu or --device auto")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"device {name!r} was asked for, but MPS is not available; use --device auto")
    return device


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """bfloat16 on a CUDA GPU that computes it natively; None (stay in float32) everywhere else.

    bfloat16 needs no loss scaling, so the training loop stays the same on every device;
    float16 would need a GradScaler, which GAN losses with several optimisers make fragile.
    Native bfloat16 arrived with compute capability 8.0 (A100, RTX 30xx, H100). Older GPUs
    (T4 is 7.5, V100 7.0) emulate it, and ``torch.cuda.is_bf16_supported()`` says True
    there although it runs slower than float32. The capability asked is that of ``device``
    itself (``cuda:1`` may differ from device 0; plain ``cuda`` is the current device).
    """
    if device.type != "cuda":
        return None
    major, _ = torch.cuda.get_device_capability(device)
    return torch.bfloat16 if major >= 8 else None


def autocast(device: torch.device):
    dtype = autocast_dtype(device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def uses_channels_last(device: torch.device) -> bool:
    # channels_last speeds up convolutions on CUDA tensor cores; on CPU it only adds copies.
    return device.type == "cuda"
