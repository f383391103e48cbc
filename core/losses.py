"""Adversarial losses shared by the variants. D losses take the discriminator's raw outputs
(logits or critic scores) on real and generated images; G losses take them on generated ones."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bce_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Goodfellow et al. 2014: binary cross-entropy on logits."""
    return (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
            + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))


def bce_g_loss(fake: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss: maximise log D(G(z))."""
    return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))


def least_squares_d_loss(real: torch.Tensor, fake: torch.Tensor, a: float = 0.0, b: float = 1.0) -> torch.Tensor:
    """Mao et al. 2017: D pushes real scores to b and fake ones to a."""
    return 0.5 * (((real - b) ** 2).mean() + ((fake - a) ** 2).mean())


def least_squares_g_loss(fake: torch.Tensor, c: float = 1.0) -> torch.Tensor:
    """Mao et al. 2017: G pushes fake scores to c, the value D should believe for fake data."""
    return 0.5 * ((fake - c) ** 2).mean()


def wasserstein_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Arjovsky et al. 2017: the critic maximises E[D(x)] - E[D(G(z))]."""
    return fake.mean() - real.mean()


def wasserstein_g_loss(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


def hinge_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def hinge_g_loss(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, *critic_args) -> torch.Tensor:
    """Gulrajani et al. 2017: (||grad D(x_hat)|| - 1)^2 on random interpolates x_hat.

    Computed in float32 even under autocast: the squared gradient norm of a bfloat16
    backward pass is too coarse to hold the critic near norm 1.
    """
    real, fake = real.detach().float(), fake.detach().float()
    alpha = torch.rand(real.size(0), *([1] * (real.dim() - 1)), device=real.device)
    interpolates = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    with torch.autocast(device_type=real.device.type, enabled=False):
        scores = critic(interpolates, *critic_args).float()
        (gradients,) = torch.autograd.grad(scores.sum(), interpolates, create_graph=True)
    norms = gradients.flatten(1).norm(2, dim=1)
    return ((norms - 1) ** 2).mean()


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Gatys et al. 2016: the (N, C, C) channel correlations of (N, C, H, W) features, divided
    by C*H*W so layers of any size weigh alike. Computed in float32 even under autocast."""
    n, c, h, w = features.shape
    with torch.autocast(device_type=features.device.type, enabled=False):
        flat = features.float().reshape(n, c, h * w)
        return flat @ flat.transpose(1, 2) / (c * h * w)


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """The mean absolute difference between neighbouring pixels: penalises high-frequency
    noise (Johnson et al. 2016)."""
    return ((images[..., 1:, :] - images[..., :-1, :]).abs().mean()
            + (images[..., :, 1:] - images[..., :, :-1]).abs().mean())
