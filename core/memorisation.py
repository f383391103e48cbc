"""Does a generator copy its training images? Nearest-neighbour distances, beside real ones.

For each generated image, the distance to its nearest training image; the same for real
images the model never saw (held out). A generator that draws new images from the data's
distribution lands about as far from the training set as held-out images do: the ratio of
the medians (generated / held-out) is about 1, or above where it draws worse images. One
that copies lands on top of them: the ratio falls well below 1.

Near-copies: a generated image closer to its nearest training image than the 1st
percentile of the held-out images' nearest distances. By construction 1% of held-out images
are that close, so a healthy generator shows about 0.01, and a copying one approaches 1.
The percentile is a threshold the data sets itself: no pixel distance to choose per dataset.

Feature space: pixels, area-averaged to 16x16 (all channels), compared by Euclidean
distance. A copy is a matter of pixels; a classifier's features (the judge's) are trained
to put different images of one class close together, which would count two different 7s
as near-copies. Averaging to 16x16 keeps a digit's or an emoji's shape while a tiny
perturbation or a one-pixel shift barely moves it.

Where no held-out images exist (MNIST here: its test split is all ``../shared/data`` holds,
and the bundled models trained on it), ``leave_one_out`` stands in: each of a subset of
training images against all the others.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

FEATURE_SIDE = 16
NEAR_COPY_PERCENTILE = 1.0  # of the held-out images' nearest distances


def pixel_features(images: torch.Tensor, side: int = FEATURE_SIDE) -> torch.Tensor:
    """(N, C, H, W) images in [-1, 1] -> (N, C * side * side) area-averaged pixels."""
    return F.adaptive_avg_pool2d(images.float(), side).flatten(1)


def nearest_distances(queries: torch.Tensor, references: torch.Tensor, exclude: torch.Tensor | None = None,
                      chunk: int = 1024) -> torch.Tensor:
    """For each query row, the Euclidean distance to its nearest reference row. ``exclude``
    (one reference index per query, or -1) leaves that reference out: leave-one-out."""
    out = []
    for start in range(0, len(queries), chunk):
        distances = torch.cdist(queries[start:start + chunk].double(), references.double())
        if exclude is not None:
            rows = torch.arange(len(distances))
            skip = exclude[start:start + chunk]
            distances[rows[skip >= 0], skip[skip >= 0]] = float("inf")
        out.append(distances.min(1).values)
    return torch.cat(out)


def leave_one_out(train: torch.Tensor, count: int = 2000, seed: int = 0) -> torch.Tensor:
    """The nearest distances of ``count`` training feature rows (a seeded random subset) to all
    the other training rows: the held-out distances where no held-out images exist."""
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.randperm(len(train), generator=generator)[:count]
    return nearest_distances(train[chosen], train, exclude=chosen)


def memorisation_figures(generated: torch.Tensor, train: torch.Tensor, held_out: torch.Tensor | None = None,
                         leave_one_out_count: int = 2000) -> dict:
    """The figures for feature rows of generated, training and held-out images (``held_out``
    None: leave-one-out on the training rows). Held-out rows equal to a training row (the
    sets overlap) are left out, and counted; if none remain, leave-one-out is used."""
    generated_nn = nearest_distances(generated, train)
    overlap = 0
    if held_out is not None:
        held_nn = nearest_distances(held_out, train)
        overlap = int((held_nn == 0).sum())
        held_nn = held_nn[held_nn > 0]
    if held_out is None or len(held_nn) == 0:
        held_nn, kind = leave_one_out(train, leave_one_out_count), "leave-one-out"
    else:
        kind = "held-out"
    threshold = float(torch.quantile(held_nn, NEAR_COPY_PERCENTILE / 100))
    figures = {
        "memorisation_nn_median": float(generated_nn.median()),
        "memorisation_nn_median_real": float(held_nn.median()),
        "memorisation_ratio": float(generated_nn.median() / held_nn.median()),
        "memorisation_near_copies": float((generated_nn < threshold).double().mean()),
        "memorisation_threshold": threshold,
        "memorisation_real": kind,
        "memorisation_real_images": len(held_nn),
        "memorisation_train_images": len(train),
    }
    if overlap:
        figures["memorisation_real_overlap"] = overlap
    return figures


def memorisation(generated: list[torch.Tensor] | torch.Tensor, train: torch.Tensor,
                 held_out: torch.Tensor | None = None) -> dict:
    """``memorisation_figures`` for images in [-1, 1]: generated (a tensor or a list of
    batches), training and held-out (None: leave-one-out)."""
    if isinstance(generated, (list, tuple)):
        generated = torch.cat([batch.float() for batch in generated])
    return memorisation_figures(pixel_features(generated), pixel_features(train),
                                None if held_out is None else pixel_features(held_out))
