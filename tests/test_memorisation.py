"""The memorisation check (ganzoo.memorisation): a generator that returns its training images is
flagged, one that draws fresh images from the same distribution is not."""

import pytest
import torch
from ganzoo.memorisation import memorisation, nearest_distances, pixel_features


def images(n: int, seed: int) -> torch.Tensor:
    """n images of one distribution: uniform noise in [-1, 1], 16x16 grey."""
    return torch.rand(n, 1, 16, 16, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.fixture(scope="module")
def train():
    return images(600, 0)


def copies(train: torch.Tensor, n: int, seed: int = 9) -> torch.Tensor:
    """Training images with a tiny perturbation, as a generator that memorised them draws."""
    return train[:n] + 0.01 * torch.randn(n, *train.shape[1:], generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("held_out", ["held-out", "leave-one-out"])
def test_a_copying_generator_is_flagged_and_a_fresh_one_is_not(train, held_out):
    real = images(300, 1) if held_out == "held-out" else None
    copied = memorisation(copies(train, 300), train, real)
    assert copied["memorisation_real"] == held_out
    assert copied["memorisation_ratio"] < 0.05 and copied["memorisation_near_copies"] > 0.99
    fresh = memorisation([images(150, 2), images(150, 3)], train, real)  # a list of batches, as generated
    assert 0.9 < fresh["memorisation_ratio"] < 1.1 and fresh["memorisation_near_copies"] < 0.05


def test_half_copies_give_half_near_copies(train):
    half = torch.cat([copies(train, 200), images(200, 4)])
    figures = memorisation(half, train, images(300, 1))
    assert figures["memorisation_near_copies"] == pytest.approx(0.5, abs=0.03)


def test_held_out_images_that_are_training_images_are_left_out(train):
    figures = memorisation(images(200, 2), train, torch.cat([train[:40], images(300, 1)]))
    assert figures["memorisation_real_overlap"] == 40 and figures["memorisation_real_images"] == 300
    assert figures["memorisation_real"] == "held-out"
    same = memorisation(images(200, 2), train, train)  # --real is the training set: nothing held out
    assert same["memorisation_real"] == "leave-one-out" and same["memorisation_real_overlap"] == 600


def test_nearest_distances_and_leaving_one_out():
    points = torch.tensor([[0.0, 0.0], [3.0, 4.0], [3.0, 5.0]])
    assert nearest_distances(points, points).tolist() == [0.0, 0.0, 0.0]
    assert nearest_distances(points, points, exclude=torch.tensor([0, 1, -1])).tolist() == [5.0, 1.0, 0.0]


def test_features_are_area_averaged_pixels():
    image = torch.zeros(1, 3, 32, 32)
    image[:, :, :2, :2] = 1  # one 2x2 block -> one feature pixel per channel
    features = pixel_features(image)
    assert features.shape == (1, 3 * 16 * 16) and features.sum() == 3
