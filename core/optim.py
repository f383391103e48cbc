"""Optimiser set-ups that several variants share."""

from __future__ import annotations

import torch


def adam_per_network(nets: dict, lr: float, betas: tuple[float, float], names=("generator", "discriminator")) -> dict:
    """One Adam per named network, with the same settings (DCGAN, WGAN-GP, LSGAN, cGAN ...)."""
    return {name: torch.optim.Adam(nets[name].parameters(), lr=lr, betas=tuple(betas)) for name in names}


def rmsprop_per_network(nets: dict, lr: float, names=("generator", "discriminator")) -> dict:
    """One RMSProp per named network (WGAN: momentum-free, which Arjovsky et al. found stabler)."""
    return {name: torch.optim.RMSprop(nets[name].parameters(), lr=lr) for name in names}


def step(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """Zero the gradients, back-propagate ``loss`` and step: the three lines every GAN update needs."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def alternating_step(ctx, d_loss, g_loss) -> dict[str, torch.Tensor]:
    """One discriminator step, then one generator step on the same generated batch: the whole
    ``train_step`` of the GANs that differ only in their losses (the MLP GAN, DCGAN, LSGAN).
    ``d_loss(real_scores, fake_scores)`` and ``g_loss(fake_scores)`` take the discriminator's
    raw outputs, as the functions of ``ganzoo.losses`` do; the noise comes from the global RNG
    (seeded and checkpointed by the training loop). The losses stay on the device (detached):
    the loop reads them every --log-every steps, not at each step."""
    follow_lr_schedule(ctx)
    G, D = ctx.nets["generator"], ctx.nets["discriminator"]
    real = ctx.next_batch()["image"]
    z = torch.randn(real.size(0), ctx.config.latent_dim, device=ctx.device)
    with ctx.autocast():
        fake = G(z)
        loss_d = d_loss(D(real), D(fake.detach()))
    step(ctx.optimizers["discriminator"], loss_d)
    with ctx.autocast():
        loss_g = g_loss(D(fake))
    step(ctx.optimizers["generator"], loss_g)
    return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach()}


def linear_decay(step: int, start: int, length: int) -> float:
    """The learning-rate factor of "constant, then linear decay to zero" (CycleGAN, pix2pix):
    1 until ``start``, then falling linearly to 0 at ``start + length``. A function of the step
    alone, so a resumed run gets the same rate as an uninterrupted one."""
    if step <= start:
        return 1.0
    return max(0.0, 1.0 - (step - start) / max(1, length))


def follow_lr_schedule(ctx) -> float:
    """Set every optimiser to the step's rate where the config asks for a decay
    (``decay_steps`` > 0): ``lr`` until ``decay_start_step``, then linearly to zero. Configs
    without the fields, or with ``decay_steps`` 0, keep the constant rate of their papers.
    Returns the rate in force."""
    c = ctx.config
    if getattr(c, "decay_steps", 0) <= 0:
        return c.lr
    lr = c.lr * linear_decay(ctx.step, c.decay_start_step, c.decay_steps)
    for optimizer in ctx.optimizers.values():
        set_lr(optimizer, lr)
    return lr


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
