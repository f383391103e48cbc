"""WGAN-GP (Gulrajani et al. 2017): a Wasserstein critic kept 1-Lipschitz by a gradient
penalty, on DCGAN's networks with the critic's batch norm removed."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files

import torch
from ganzoo.api import (
    NoiseToImage,
    adam_per_network,
    dcgan_pair,
    follow_lr_schedule,
    gradient_penalty,
    hookimpl,
    step,
    wasserstein_d_loss,
    wasserstein_g_loss,
)


@dataclass
class WGANGPConfig:
    image_size: int = 28
    channels: int = 1
    latent_dim: int = 100
    width: int = 64
    extra_layers: int = 0  # stride-1 3x3 convolutions at the second-largest scale of each network
    noise_clusters: int = 0  # > 0: noise from a fixed mixture of that many Gaussians (ganzoo.networks.NoiseMixture)
    critic_norm: str | None = None  # None or "layer": batch norm would couple the samples the penalty treats apart
    lr: float = 1e-4
    betas: tuple[float, float] = (0.0, 0.9)
    decay_start_step: int = 0  # with decay_steps > 0: constant lr until here ...
    decay_steps: int = 0  # ... then linearly to zero over this many steps; 0: constant, as the paper
    n_critic: int = 5  # critic steps per generator step
    gp_weight: float = 10.0


class WGANGP(NoiseToImage):
    name = "wgan_gp"
    title = "WGAN-GP"
    paper = ("Gulrajani, Ahmed, Arjovsky, Dumoulin, Courville: Improved Training of Wasserstein GANs, "
             "NeurIPS 2017. https://arxiv.org/abs/1704.00028")
    description = ("A critic estimates the Wasserstein distance between real and generated images; a "
                   "penalty on its gradient norm at random interpolates keeps it 1-Lipschitz. Five critic "
                   "steps per generator step, Adam 1e-4 with betas (0, 0.9), penalty weight 10.")
    Config = WGANGPConfig
    bundled = files(__package__) / "weights" / "wgan_gp"
    models = {"MNIST digits": bundled, "Emoji": files(__package__) / "weights" / "wgan_gp-emoji"}

    @classmethod
    def tiny_config(cls):
        return WGANGPConfig(image_size=16, channels=1, latent_dim=8, width=4, n_critic=2)

    def build_networks(self):
        return dcgan_pair(self.config, norm=self.config.critic_norm, score_bias=False)

    def build_optimizers(self, nets):
        return adam_per_network(nets, self.config.lr, self.config.betas)

    def train_step(self, ctx):
        follow_lr_schedule(ctx)
        G, D = ctx.nets["generator"], ctx.nets["discriminator"]
        for _ in range(self.config.n_critic):
            real = ctx.next_batch()["image"]
            z = torch.randn(real.size(0), self.config.latent_dim, device=ctx.device)
            with ctx.autocast():
                with torch.no_grad():
                    fake = G(z)
                loss_w = wasserstein_d_loss(D(real), D(fake))
            penalty = gradient_penalty(D, real, fake)  # float32, outside autocast
            step(ctx.optimizers["discriminator"], loss_w.float() + self.config.gp_weight * penalty)
        z = torch.randn(real.size(0), self.config.latent_dim, device=ctx.device)
        with ctx.autocast():
            loss_g = wasserstein_g_loss(D(G(z)))
        step(ctx.optimizers["generator"], loss_g)
        return {"loss_d": loss_w.detach(), "loss_g": loss_g.detach(), "gradient_penalty": penalty.detach(),
                "wasserstein_estimate": -loss_w.detach()}


@hookimpl
def register_variants(register):
    register(WGANGP)
