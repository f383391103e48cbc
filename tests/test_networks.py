"""The shared DCGAN networks: shapes at every supported size, the optional extra layers and noise mixture."""

from dataclasses import dataclass

import pytest
import torch
from ganzoo.networks import DCGANDiscriminator, DCGANGenerator, NoiseMixture, dcgan_pair
from ganzoo.plugins.dcgan import DCGANConfig
from ganzoo.plugins.wgan_gp import WGANGPConfig
from torch import nn


def _convs_3x3(net: nn.Module) -> int:
    return sum(1 for m in net.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3))


@pytest.mark.parametrize("size", [16, 28, 32])
@pytest.mark.parametrize("extra", [0, 2])
@pytest.mark.parametrize("norm", ["batch", "layer", None])
def test_shapes_with_and_without_extra_layers(size, extra, norm):
    G = DCGANGenerator(8, size, 3, width=4, extra_layers=extra)
    D = DCGANDiscriminator(size, 3, width=4, norm=norm, extra_layers=extra)
    images = G(torch.randn(5, 8))
    assert images.shape == (5, 3, size, size) and D(images).shape == (5,)
    assert _convs_3x3(G) == extra and _convs_3x3(D) == extra


def test_no_extra_layers_keeps_the_published_layout():
    """Weights trained before ``extra_layers`` existed must still load: same names, same shapes."""
    G, D = DCGANGenerator(100, 28, 1, 64), DCGANDiscriminator(28, 1, 64)
    assert [(k, tuple(v.shape)) for k, v in G.state_dict().items() if "weight" in k] == [
        ("net.0.weight", (100, 128, 7, 7)), ("net.1.weight", (128,)),
        ("net.3.weight", (128, 64, 4, 4)), ("net.4.weight", (64,)), ("net.6.weight", (64, 1, 4, 4))]
    assert [k for k in D.state_dict() if k.endswith("weight")] == [
        "features.0.weight", "features.2.weight", "features.3.weight", "score.weight"]


@dataclass
class PluginConfig:  # a third-party config written before extra_layers existed
    image_size: int = 16
    channels: int = 1
    latent_dim: int = 8
    width: int = 4


def test_pair_reads_extra_layers_from_configs_that_have_it():
    dcgan = dcgan_pair(DCGANConfig(image_size=16, latent_dim=8, width=4, extra_layers=1))
    critic = dcgan_pair(WGANGPConfig(image_size=16, latent_dim=8, width=4, extra_layers=2), norm=None)
    without_field = dcgan_pair(PluginConfig())
    assert _convs_3x3(dcgan["generator"]) == 1 and _convs_3x3(dcgan["discriminator"]) == 1
    assert _convs_3x3(critic["generator"]) == 2 and _convs_3x3(critic["discriminator"]) == 2
    assert _convs_3x3(without_field["generator"]) == 0 and _convs_3x3(without_field["discriminator"]) == 0


def test_the_noise_mixture_is_an_exact_mixture_of_unit_variance():
    mixture = NoiseMixture(latent_dim=6, clusters=4)
    noise = torch.randn(40_000, 6, generator=torch.Generator().manual_seed(0))
    mixed = mixture(noise)
    nearest = torch.cdist(mixed, mixture.centres).argmin(1)
    shares = torch.bincount(nearest, minlength=4) / len(nearest)
    assert torch.allclose(shares, torch.full((4,), 0.25), atol=0.02)  # the clusters are equally likely
    offsets = (mixed - mixture.centres[nearest]) / NoiseMixture.SPREAD
    assert offsets.std(0) == pytest.approx(torch.ones(6), abs=0.05)  # each one N(0, 1) around its centre
    wide = NoiseMixture(latent_dim=100, clusters=20)(torch.randn(20_000, 100))
    assert wide.var(0).mean() == pytest.approx(1.0, abs=0.15)  # the generator's input keeps its scale


def test_noise_clusters_add_only_a_buffer_saved_with_the_weights():
    plain = DCGANGenerator(8, 16, 1, width=4)
    torch.manual_seed(0)
    mixed = DCGANGenerator(8, 16, 1, width=4, noise_clusters=5)
    assert set(mixed.state_dict()) - set(plain.state_dict()) == {"noise.centres"}
    assert [n for n, _ in mixed.named_parameters()] == [n for n, _ in plain.named_parameters()]
    again = DCGANGenerator(8, 16, 1, width=4, noise_clusters=5)
    assert torch.equal(again.noise.centres, mixed.noise.centres)  # drawn from a fixed seed
    assert mixed(torch.randn(3, 8)).shape == (3, 1, 16, 16)
