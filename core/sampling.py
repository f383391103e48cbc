"""Seeded noise that gives the same images on every device."""

from __future__ import annotations

import torch


def noise(n: int, dim: int, seed: int, device: torch.device | str = "cpu") -> torch.Tensor:
    # Drawn on the CPU with its own generator: the global RNG is untouched, and a seed
    # gives the same noise on CPU and GPU.
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randn(n, dim, generator=generator).to(device)
