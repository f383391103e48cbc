"""LSGAN (Mao et al. 2017): least-squares losses instead of cross-entropy, on DCGAN's networks.

The discriminator pushes its score on real images to ``b`` and on generated ones to ``a``;
the generator pushes the score of its images to ``c``. The paper gives two codings:

- a = -1, b = 1, c = 0 (the default here): with b - c = 1 and b - a = 2 the objective
  minimises the Pearson chi-squared divergence between the mixture of the data and model
  distributions and twice the model distribution (the paper's theory, Section 3.2.2).
- a = 0, b = 1, c = 1 (``LSGANConfig.zero_one()``, or ``--a 0 --b 1 --c 1``): the generator
  makes the discriminator believe its images are real, as in the non-saturating GAN; the
  paper finds both codings perform alike in practice.

The paper's own networks (a VGG-like generator for LSUN) are not used: DCGAN's pair, shared
with DCGAN and WGAN-GP, fits MNIST and CIFAR-sized images on a CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from importlib.resources import files

from ganzoo.api import (
    NoiseToImage,
    adam_per_network,
    alternating_step,
    dcgan_pair,
    hookimpl,
    least_squares_d_loss,
    least_squares_g_loss,
)


@dataclass
class LSGANConfig:
    image_size: int = 28
    channels: int = 1
    latent_dim: int = 100
    width: int = 64
    extra_layers: int = 0  # stride-1 3x3 convolutions at the second-largest scale of each network
    noise_clusters: int = 0  # > 0: noise from a fixed mixture of that many Gaussians (ganzoo.networks.NoiseMixture)
    a: float = -1.0  # the score D should give generated images
    b: float = 1.0  # the score D should give real images
    c: float = 0.0  # the score G wants D to give its images
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    # DCGAN's second stage, so the two compare on the same recipe (scripts/train_defaults.py)
    decay_start_step: int = 0  # with decay_steps > 0: constant lr until here ...
    decay_steps: int = 0  # ... then linearly to zero over this many steps; 0: constant, as the paper

    @classmethod
    def zero_one(cls, **fields) -> "LSGANConfig":
        """The 0-1 coding (a = 0, b = 1, c = 1); other fields as given."""
        return cls(**{**fields, "a": 0.0, "b": 1.0, "c": 1.0})


class LSGAN(NoiseToImage):
    name = "lsgan"
    title = "LSGAN"
    paper = ("Mao, Li, Xie, Lau, Wang, Smolley: Least Squares Generative Adversarial Networks, ICCV 2017. "
             "https://arxiv.org/abs/1611.04076")
    description = ("DCGAN's networks trained with least-squares losses: the discriminator regresses real "
                   "images to b = 1 and generated ones to a = -1, the generator pushes its images towards "
                   "c = 0. Generated images far from the decision boundary keep being penalised, which "
                   "gives the generator gradients where cross-entropy saturates. Adam 2e-4 with beta1 0.5.")
    Config = LSGANConfig
    bundled = files(__package__) / "weights" / "lsgan"
    models = {"MNIST digits": bundled, "Emoji": files(__package__) / "weights" / "lsgan-emoji"}

    @classmethod
    def tiny_config(cls):
        return LSGANConfig(image_size=16, channels=1, latent_dim=8, width=4, extra_layers=1, noise_clusters=3)

    def build_networks(self):
        return dcgan_pair(self.config, norm="batch")

    def build_optimizers(self, nets):
        return adam_per_network(nets, self.config.lr, self.config.betas)

    def train_step(self, ctx):
        c = self.config
        return alternating_step(ctx, partial(least_squares_d_loss, a=c.a, b=c.b),
                                partial(least_squares_g_loss, c=c.c))


@hookimpl
def register_variants(register):
    register(LSGAN)
