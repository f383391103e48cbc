"""BEGAN's losses and its config checks (the conformance suite covers training)."""

import pytest
import torch
from ganzoo.errors import UserError
from ganzoo.plugins.began import BEGANConfig, pulling_away, reconstruction_loss
from torch import nn


class Shift(nn.Module):
    """A stand-in auto-encoder whose reconstruction misses by a known amount."""

    def forward(self, images):
        return images + 0.5


@pytest.mark.parametrize("norm, expected", [(1, 0.5), (2, 0.25)])
def test_reconstruction_loss_uses_the_configured_norm(norm, expected):
    images = torch.zeros(2, 1, 4, 4)
    assert reconstruction_loss(Shift(), images, norm).item() == pytest.approx(expected)


def test_the_paper_norm_is_the_default():
    assert BEGANConfig().norm == 1


def test_an_unsupported_norm_is_refused_with_the_choices():
    with pytest.raises(UserError, match="norm must be 1 .* or 2"):
        BEGANConfig(norm=3)


def test_pulling_away_is_one_for_a_batch_of_alike_embeddings_and_zero_for_orthogonal_ones():
    alike = torch.tensor([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0], [0.5, 1.0, 0.0]])
    assert pulling_away(alike).item() == pytest.approx(1.0)
    assert pulling_away(torch.eye(3)).item() == pytest.approx(0.0)


def test_pulling_away_ignores_each_embeddings_similarity_to_itself():
    # two orthogonal pairs of alike embeddings: 4 of the 12 ordered pairs are alike
    batch = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 1.0], [0.0, 2.0]])
    assert pulling_away(batch).item() == pytest.approx(4 / 12)
