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


def linear_decay(step: int, start: int, length: int) -> float:
    """The learning-rate factor of "constant, then linear decay to zero" (CycleGAN, pix2pix):
    1 until ``start``, then falling linearly to 0 at ``start + length``. A function of the step
    alone, so a resumed run gets the same rate as an uninterrupted one."""
    if step <= start:
        return 1.0
    return max(0.0, 1.0 - (step - start) / max(1, length))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
