"""ZeroGPU support: on a Hugging Face Space with ZeroGPU hardware, a function that uses the
GPU must run under ``spaces.GPU``, which holds a GPU for at most ``duration`` seconds (60 by
default). The ``spaces`` package is optional: without it (or off Spaces, where
``spaces.GPU`` does nothing) functions are left as they are.

Only the computation runs under it: downloads (weights, VGG-19) happen before, so that they
do not use up the GPU's time."""

from __future__ import annotations

import importlib.util
import math
import os
import sys

DEFAULT_GPU_SECONDS = 60  # ZeroGPU's own default


def gpu(function, duration=None):
    """``spaces.GPU(function)``, or the function itself where ``spaces`` is not installed.
    ``duration``: a callable taking the function's own arguments and returning seconds."""
    try:
        import spaces
    except ImportError:
        return function
    if duration is None:
        return spaces.GPU(function)
    return spaces.GPU(duration=duration)(function)


def gpu_seconds(variant, values: dict) -> int:
    """How long to hold a GPU for one call with these input values: the variant's own
    estimate (an optional ``gpu_seconds(values)`` method, for work that grows with its
    inputs, such as Gatys style transfer's steps and size), else ZeroGPU's default."""
    estimate = getattr(variant, "gpu_seconds", None)
    if estimate is None:
        return DEFAULT_GPU_SECONDS
    return max(1, math.ceil(estimate(values)))


def on_zerogpu() -> bool:
    """Whether this is ZeroGPU hardware: ``spaces`` importable and ``SPACES_ZERO_GPU`` set (Spaces
    sets it there). Elsewhere ``spaces.GPU`` changes nothing, and a GPU stays attached."""
    if os.environ.get("SPACES_ZERO_GPU", "").lower() not in ("1", "true", "yes"):
        return False
    return "spaces" in sys.modules or importlib.util.find_spec("spaces") is not None
