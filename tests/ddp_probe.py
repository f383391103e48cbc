"""A test-only variant for data-parallel training (tests/test_distributed.py): networks without
batch norm, and noise that is a function of each image, so that one process with a batch of B
and two processes with B/2 each compute the same updates when the gradients are averaged.
Installed in the launched processes through an entry point, as a third-party plugin is."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from ganzoo.api import (
    NoiseToImage,
    adam_per_network,
    bce_d_loss,
    bce_g_loss,
    hookimpl,
    step,
)
from torch import nn


@dataclass
class ProbeConfig:
    image_size: int = 8
    channels: int = 1
    latent_dim: int = 8
    width: int = 16
    lr: float = 1e-3
    penalty: float = 0.0  # weight of a gradient penalty at the midpoints of real and generated images


def midpoint_penalty(D, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP's penalty at fixed interpolates: autograd.grad with create_graph, then one
    ordinary backward, the pattern DistributedDataParallel supports."""
    middle = ((real + fake.detach()) / 2).requires_grad_(True)
    (gradients,) = torch.autograd.grad(D(middle).sum(), middle, create_graph=True)
    return ((gradients.flatten(1).norm(dim=1) - 1) ** 2).mean()


class Probe(NoiseToImage):
    name = "ddp_probe"
    title = "Data-parallel probe"
    paper = "none: a test variant"
    Config = ProbeConfig

    @classmethod
    def tiny_config(cls):
        return ProbeConfig()

    def build_networks(self):
        c = self.config
        pixels = c.channels * c.image_size**2
        return {"generator": nn.Sequential(nn.Linear(c.latent_dim, c.width), nn.LeakyReLU(0.2),
                                           nn.Linear(c.width, pixels), nn.Tanh(),
                                           nn.Unflatten(1, (c.channels, c.image_size, c.image_size))),
                "discriminator": nn.Sequential(nn.Flatten(), nn.Linear(pixels, c.width), nn.LeakyReLU(0.2),
                                               nn.Linear(c.width, 1))}

    def build_optimizers(self, nets):
        return adam_per_network(nets, self.config.lr, (0.5, 0.999))

    def train_step(self, ctx):
        c = self.config
        G, D = ctx.nets["generator"], ctx.nets["discriminator"]
        real = ctx.next_batch()["image"]
        z = real.flatten(1)[:, :c.latent_dim] * 3  # the noise of each image is drawn from the image
        fake = G(z)
        loss_d = bce_d_loss(D(real), D(fake.detach()))  # two forwards, then one backward
        if c.penalty:
            loss_d = loss_d + c.penalty * midpoint_penalty(D, real, fake)
        step(ctx.optimizers["discriminator"], loss_d)
        loss_g = bce_g_loss(D(fake))  # through D into G
        step(ctx.optimizers["generator"], loss_g)
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "lr": c.lr}  # a float, as older plugins give


@hookimpl
def register_variants(register):
    register(Probe)
