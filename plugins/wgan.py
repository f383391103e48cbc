"""WGAN (Arjovsky, Chintala and Bottou 2017): a critic estimates the Wasserstein distance
between real and generated images and is kept (roughly) Lipschitz by clipping its weights.

Follows the paper's Algorithm 1 on DCGAN's networks: RMSProp 5e-5, every critic parameter
clipped to [-0.01, 0.01] after each critic step, 5 critic steps per generator step. The
critic keeps batch norm, as the paper's DCGAN critic did (its batch norm parameters are
clipped too, as in the authors' code); WGAN-GP is the variant that must drop it. The score
has no sigmoid and no bias (a constant cancels out of E[D(x)] - E[D(G(z))]).

Not reproduced: the authors' code runs 100 critic steps for the first 25 generator steps and
every 500th, to start from a near-optimal critic; ``n_critic`` alone sets the ratio here.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files

import torch
from ganzoo.api import (
    NoiseToImage,
    dcgan_pair,
    hookimpl,
    rmsprop_per_network,
    step,
    wasserstein_d_loss,
    wasserstein_g_loss,
)


@dataclass
class WGANConfig:
    image_size: int = 28
    channels: int = 1
    latent_dim: int = 100
    width: int = 64
    extra_layers: int = 0  # stride-1 3x3 convolutions at the second-largest scale of each network
    critic_norm: str | None = "batch"  # the paper's DCGAN critic; None or "layer" also work
    lr: float = 5e-5
    clip: float = 0.01  # every critic parameter is clipped to [-clip, clip] after each critic step
    n_critic: int = 5  # critic steps per generator step


def clip_weights(net: torch.nn.Module, limit: float) -> None:
    """Clip every parameter of ``net`` to [-limit, limit] in place."""
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.clamp_(-limit, limit)


class WGAN(NoiseToImage):
    name = "wgan"
    title = "WGAN"
    paper = ("Arjovsky, Chintala, Bottou: Wasserstein Generative Adversarial Networks, ICML 2017. "
             "https://arxiv.org/abs/1701.07875")
    description = ("A critic without sigmoid estimates the Wasserstein-1 distance between real and generated "
                   "images; clipping its weights to [-0.01, 0.01] keeps it Lipschitz. Five critic steps per "
                   "generator step, RMSProp 5e-5. The critic's loss tracks sample quality, unlike a "
                   "discriminator's.")
    Config = WGANConfig
    bundled = files(__package__) / "weights" / "wgan"
    models = {"MNIST digits": bundled, "Emoji": files(__package__) / "weights" / "wgan-emoji"}

    @classmethod
    def tiny_config(cls):
        return WGANConfig(image_size=16, channels=1, latent_dim=8, width=4, n_critic=2)

    def build_networks(self):
        return dcgan_pair(self.config, norm=self.config.critic_norm, score_bias=False)

    def build_optimizers(self, nets):
        return rmsprop_per_network(nets, self.config.lr)

    def train_step(self, ctx):
        G, D = ctx.nets["generator"], ctx.nets["discriminator"]
        for _ in range(self.config.n_critic):
            real = ctx.next_batch()["image"]
            z = torch.randn(real.size(0), self.config.latent_dim, device=ctx.device)
            with ctx.autocast():
                with torch.no_grad():
                    fake = G(z)
                loss_d = wasserstein_d_loss(D(real), D(fake))
            step(ctx.optimizers["discriminator"], loss_d)
            clip_weights(D, self.config.clip)
        z = torch.randn(real.size(0), self.config.latent_dim, device=ctx.device)
        with ctx.autocast():
            loss_g = wasserstein_g_loss(D(G(z)))
        step(ctx.optimizers["generator"], loss_g)
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "wasserstein_estimate": -loss_d.detach()}


@hookimpl
def register_variants(register):
    register(WGAN)
