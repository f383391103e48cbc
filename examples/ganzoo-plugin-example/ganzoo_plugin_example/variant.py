"""example_mlp: a GAN of two small fully connected networks trained with the hinge loss, as a
template for a ganzoo plugin.

The file reads top to bottom as every variant does: its config, its networks, its training
step, its registration. Inference (seed and count in, images out) comes with NoiseToImage.
Importing this module must stay cheap: ganzoo imports every plugin at start, so networks are
built only when the core asks for them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

# Everything a plugin needs comes from ganzoo's one public module.
from ganzoo.api import NoiseToImage, adam_per_network, alternating_step, hinge_d_loss, hinge_g_loss, hookimpl


@dataclass
class ExampleMLPConfig:
    """Every field is a constructor argument of the networks or optimisers: it is saved as
    config.json beside the weights and becomes a `ganzoo train example_mlp` flag."""

    image_size: int = 28
    channels: int = 1
    latent_dim: int = 32
    hidden: int = 256  # units of the one hidden layer of each network
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)


class TwoLayerGenerator(nn.Module):
    """z -> hidden units (ReLU) -> pixels (tanh), shaped as images in [-1, 1]."""

    def __init__(self, latent_dim: int, image_size: int, channels: int, hidden: int):
        super().__init__()
        self.shape = (channels, image_size, image_size)
        self.net = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(),
                                 nn.Linear(hidden, channels * image_size * image_size), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.shape)


class TwoLayerDiscriminator(nn.Module):
    """image -> hidden units (LeakyReLU) -> one raw score per image.

    The score has no bias: while real and generated scores lie inside the hinge's margins, a
    constant's gradient is +1 from one side and -1 from the other, so it would never train
    (the conformance suite's "every parameter changes" check catches exactly this)."""

    def __init__(self, image_size: int, channels: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(channels * image_size * image_size, hidden),
                                 nn.LeakyReLU(0.2), nn.Linear(hidden, 1, bias=False))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image).view(-1)


class ExampleMLP(NoiseToImage):
    name = "example_mlp"  # the tab's id, the API endpoint /example_mlp, the CLI's argument
    title = "Example MLP GAN (plugin)"
    paper = ("Lim, Ye: Geometric GAN, 2017 (the hinge loss). https://arxiv.org/abs/1705.02894 "
             "Shipped by the ganzoo-plugin-example package.")
    description = ("A template for third-party plugins: one hidden layer in each network, the hinge loss, "
                   "Adam 2e-4.")
    Config = ExampleMLPConfig

    @classmethod
    def tiny_config(cls):
        """Small enough for the conformance suite to train on a CPU in a blink."""
        return ExampleMLPConfig(image_size=8, channels=1, latent_dim=4, hidden=8)

    def build_networks(self):
        c = self.config
        return {"generator": TwoLayerGenerator(c.latent_dim, c.image_size, c.channels, c.hidden),
                "discriminator": TwoLayerDiscriminator(c.image_size, c.channels, c.hidden)}

    def build_optimizers(self, nets):
        return adam_per_network(nets, self.config.lr, self.config.betas)

    def train_step(self, ctx):
        # One discriminator step, then one generator step: the core's helper for GANs that
        # differ only in their losses. A variant with another order writes these lines itself.
        return alternating_step(ctx, hinge_d_loss, hinge_g_loss)


@hookimpl
def register_variants(register):
    register(ExampleMLP)
