"""The original GAN (Goodfellow et al. 2014) in its common MLP form: fully connected
generator and discriminator, trained with the non-saturating cross-entropy loss.

The paper's own MNIST networks (ReLU/sigmoid generator, maxout discriminator with dropout)
are rarely used today; this is the form most reimplementations share: generator
latent -> 128 -> 256 -> 512 -> 1024 -> pixels with batch norm and LeakyReLU(0.2), tanh
output; discriminator pixels -> 512 -> 256 -> 1 with LeakyReLU(0.2). No batch norm after the
generator's first layer (the usual choice: it would only normalise a linear map of the noise).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files

from ganzoo.api import (
    MLPDiscriminator,
    MLPGenerator,
    NoiseToImage,
    adam_per_network,
    alternating_step,
    bce_d_loss,
    bce_g_loss,
    hookimpl,
)


@dataclass
class GANConfig:
    image_size: int = 28
    channels: int = 1
    latent_dim: int = 100
    generator_widths: tuple[int, ...] = (128, 256, 512, 1024)
    discriminator_widths: tuple[int, ...] = (512, 256)
    noise_clusters: int = 0  # > 0: noise from a fixed mixture of that many Gaussians (ganzoo.networks.NoiseMixture)
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    # DCGAN's second stage, so the two compare on the same recipe (scripts/train_defaults.py)
    decay_start_step: int = 0  # with decay_steps > 0: constant lr until here ...
    decay_steps: int = 0  # ... then linearly to zero over this many steps; 0: constant, as the paper


class GAN(NoiseToImage):
    name = "gan"
    title = "GAN (MLP)"
    paper = ("Goodfellow, Pouget-Abadie, Mirza, Xu, Warde-Farley, Ozair, Courville, Bengio: Generative "
             "Adversarial Nets, NeurIPS 2014. https://arxiv.org/abs/1406.2661")
    description = ("The original adversarial game with fully connected networks: the generator maps noise "
                   "through layers of 128, 256, 512 and 1024 units (batch norm, LeakyReLU) to pixels; the "
                   "discriminator maps pixels through 512 and 256 units to a logit. Non-saturating "
                   "cross-entropy loss, Adam 2e-4 with beta1 0.5.")
    Config = GANConfig
    bundled = files(__package__) / "weights" / "gan"
    models = {"MNIST digits": bundled, "Emoji": files(__package__) / "weights" / "gan-emoji"}

    @classmethod
    def tiny_config(cls):
        return GANConfig(image_size=8, channels=1, latent_dim=8, generator_widths=(8, 16),
                         discriminator_widths=(16,), noise_clusters=3)

    def build_networks(self):
        c = self.config
        return {"generator": MLPGenerator(c.latent_dim, c.image_size, c.channels, c.generator_widths,
                                          noise_clusters=c.noise_clusters),
                "discriminator": MLPDiscriminator(c.image_size, c.channels, c.discriminator_widths)}

    def build_optimizers(self, nets):
        return adam_per_network(nets, self.config.lr, self.config.betas)

    def train_step(self, ctx):
        return alternating_step(ctx, bce_d_loss, bce_g_loss)


@hookimpl
def register_variants(register):
    register(GAN)
