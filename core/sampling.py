"""Seeded noise that gives the same images on every device."""

from __future__ import annotations

import torch


def noise(n: int, dim: int, seed: int, device: torch.device | str = "cpu") -> torch.Tensor:
    # Drawn on the CPU with its own generator: the global RNG is untouched, and a seed
    # gives the same noise on CPU and GPU.
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randn(n, dim, generator=generator).to(device)


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation from noise vector ``a`` (D,) to ``b`` (D,) at the fractions ``t``
    (T,): (T, D), along the great circle between their directions, with the norm going from
    ``a``'s to ``b``'s. Gaussian noise in many dimensions lies near a sphere of radius
    sqrt(D); a straight line between two samples cuts inside it (at halfway, ~0.71 times the
    radius for independent samples), where the generator saw no noise in training. ``t`` = 0
    and 1 give ``a`` and ``b`` exactly; (anti)parallel vectors fall back to a straight line."""
    a, b, t = a.double(), b.double(), t.double()[:, None]
    norm_a, norm_b = a.norm(), b.norm()
    cosine = torch.dot(a / norm_a, b / norm_b).clamp(-1, 1)
    angle = torch.arccos(cosine)
    if torch.sin(angle) < 1e-6:
        path = (1 - t) * a + t * b
    else:
        unit = (torch.sin((1 - t) * angle) * a / norm_a + torch.sin(t * angle) * b / norm_b) / torch.sin(angle)
        path = unit * ((1 - t) * norm_a + t * norm_b)
    path[t[:, 0] == 0], path[t[:, 0] == 1] = a, b
    return path.float()


def truncate(z: torch.Tensor, psi: float, start: int = 0) -> torch.Tensor:
    """Noise pulled toward its mean, 0, by the factor ``psi`` (1: unchanged): the truncation
    trick's trade of variety for typical, cleaner images. Coordinates before ``start`` stay
    as they are (a noise mixture's cluster choice, ``ganzoo.networks.NoiseMixture``)."""
    if psi == 1:
        return z
    z = z.clone()
    z[:, start:] *= psi
    return z
