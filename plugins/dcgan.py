"""DCGAN (Radford, Metz and Chintala 2016): an all-convolutional generator and discriminator
with batch norm, trained with the non-saturating cross-entropy loss."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files

from ganzoo.api import NoiseToImage, adam_per_network, alternating_step, bce_d_loss, bce_g_loss, dcgan_pair, hookimpl


@dataclass
class DCGANConfig:
    image_size: int = 28  # 28, 32, 64 ... (4 to 7 times a power of two)
    channels: int = 1
    latent_dim: int = 100
    width: int = 64  # channels of the generator's last and the discriminator's first layer
    extra_layers: int = 0  # stride-1 3x3 convolutions at the second-largest scale of each network
    noise_clusters: int = 0  # > 0: noise from a fixed mixture of that many Gaussians (ganzoo.networks.NoiseMixture)
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    decay_start_step: int = 0  # with decay_steps > 0: constant lr until here ...
    decay_steps: int = 0  # ... then linearly to zero over this many steps; 0: constant, as the paper


class DCGAN(NoiseToImage):
    name = "dcgan"
    title = "DCGAN"
    paper = ("Radford, Metz, Chintala: Unsupervised Representation Learning with Deep Convolutional "
             "Generative Adversarial Networks, ICLR 2016. https://arxiv.org/abs/1511.06434")
    description = ("Transposed convolutions grow a noise vector into an image; a convolutional "
                   "discriminator tells real from generated. Batch norm, ReLU in the generator, "
                   "LeakyReLU in the discriminator, Adam 2e-4 with beta1 0.5.")
    Config = DCGANConfig
    bundled = files(__package__) / "weights" / "dcgan"
    models = {"MNIST digits": bundled, "Emoji": files(__package__) / "weights" / "dcgan-emoji"}

    @classmethod
    def tiny_config(cls):
        return DCGANConfig(image_size=16, channels=1, latent_dim=8, width=4, extra_layers=1, noise_clusters=3)

    def build_networks(self):
        return dcgan_pair(self.config, norm="batch")

    def build_optimizers(self, nets):
        return adam_per_network(nets, self.config.lr, self.config.betas)

    def train_step(self, ctx):
        return alternating_step(ctx, bce_d_loss, bce_g_loss)


@hookimpl
def register_variants(register):
    register(DCGAN)
