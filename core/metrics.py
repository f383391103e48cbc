"""Cheap figures about a batch of images, logged during training.

``diversity`` watches for mode collapse: the mean distance between the images of a batch,
measured on downsampled pixels. A generator that has collapsed onto a few images scores near
0; the same figure on a batch of real images (``diversity_real`` in the log) is what a
healthy generator should approach. Downsampling (area averaging) first makes the figure about
shapes rather than pixel noise, so an untrained generator's speckle does not pass for variety.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

DIVERSITY_SIDE = 8  # the side of the downsampled images the distances are measured on


def diversity_features(images: torch.Tensor, side: int = DIVERSITY_SIDE) -> torch.Tensor:
    """(N, C, H, W) images in [-1, 1] -> (N, C * side * side) area-averaged pixels, float32
    on the CPU. Images smaller than ``side`` keep their size."""
    images = images.detach().float().cpu()
    size = (min(side, images.shape[-2]), min(side, images.shape[-1]))
    return F.adaptive_avg_pool2d(images, size).flatten(1)


def diversity(images: torch.Tensor, side: int = DIVERSITY_SIDE) -> float:
    """The mean pairwise distance between ``images``, as a root-mean-square difference per
    downsampled pixel (so in [0, 2] for images in [-1, 1], whatever their size). Identical
    images give 0. Needs at least two images."""
    if images.shape[0] < 2:
        raise ValueError(f"diversity needs at least two images, not {images.shape[0]}")
    features = diversity_features(images, side)
    n, dim = features.shape
    features = features.double()
    distances = torch.cdist(features, features, compute_mode="donot_use_mm_for_euclid_dist")  # exact 0 diagonal
    return float(distances.sum() / (n * (n - 1)) / dim ** 0.5)
