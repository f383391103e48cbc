"""ZeroGPU support: on a Hugging Face Space with ZeroGPU hardware, a function that uses the
GPU must run under ``spaces.GPU``. The ``spaces`` package is optional: without it (or off
Spaces, where ``spaces.GPU`` does nothing) functions are left as they are."""

from __future__ import annotations

import importlib.util


def gpu(function):
    if importlib.util.find_spec("spaces") is None:
        return function
    import spaces

    return spaces.GPU(function)
