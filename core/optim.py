"""Optimiser set-ups that several variants share."""

from __future__ import annotations

import torch


def adam_per_network(nets: dict, lr: float, betas: tuple[float, float], names=("generator", "discriminator")) -> dict:
    """One Adam per named network, with the same settings (DCGAN, WGAN-GP, LSGAN, cGAN ...)."""
    return {name: torch.optim.Adam(nets[name].parameters(), lr=lr, betas=tuple(betas)) for name in names}


def step(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """Zero the gradients, back-propagate ``loss`` and step: the three lines every GAN update needs."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
