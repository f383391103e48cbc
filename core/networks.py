"""Networks that several variants share.

DCGAN's all-convolutional pair (Radford et al. 2016) serves DCGAN, WGAN-GP, WGAN, LSGAN and
the conditional GAN; each takes the pieces it needs (a critic without batch norm, extra
input channels for a label map) through arguments, not copies. The fully connected pair
serves the original GAN's common MLP form and small plugins.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from .errors import UserError


@contextlib.contextmanager
def eval_mode(nets: dict):
    """Networks in eval mode (batch norm's running statistics, no dropout) for the block, then
    each back in the mode it was in: previews during training and evaluation of loaded models."""
    was_training = {name: net.training for name, net in nets.items()}
    for net in nets.values():
        net.eval()
    try:
        yield
    finally:
        for name, net in nets.items():
            net.train(was_training[name])


def dcgan_base_size(image_size: int) -> int:
    """The side the generator starts from: halve ``image_size`` while it stays even and
    above 7, so 28 -> 7, 32 -> 4, 64 -> 4."""
    if image_size < 4:
        raise UserError(f"image_size must be at least 4, not {image_size}")
    size = image_size
    while size % 2 == 0 and size > 7:
        size //= 2
    if size > 7:
        raise UserError(f"image_size {image_size} is not 4-7 times a power of two (28, 32, 64 ...)")
    return size


def dcgan_init(module: nn.Module) -> None:
    """Radford et al.: weights from N(0, 0.02); batch-norm scales from N(1, 0.02)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm2d, nn.BatchNorm1d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class NoiseMixture(nn.Module):
    """Standard normal noise -> a fixed mixture of ``clusters`` Gaussians, inside the generator.

    An unconditional generator maps one connected noise space onto data that falls apart in
    classes, so the borders between classes draw in-between images (a 4/9 morph). With noise
    from well-separated clusters, the generator can send each cluster to one class and the
    morphs have little noise mass (Khayatkhoei et al. 2018, "Disconnected manifold learning").

    The mapping is exact: the first coordinate's normal CDF, u ~ U(0, 1), picks cluster
    floor(u K); the rest of u within that slice is uniform and independent of the cluster, so
    it becomes that coordinate's fresh N(0, 1) again. The noise is then centre + spread * noise,
    with the centres' scale and the spread chosen so each coordinate keeps variance 1. Every
    caller keeps drawing N(0, I) (seeded noise, training loops); the centres are a buffer, drawn
    once from a fixed seed and saved with the weights.
    """

    CENTRE_SCALE, SPREAD, SEED = 0.8, 0.6, 1234  # 0.8^2 + 0.6^2 = 1

    def __init__(self, latent_dim: int, clusters: int):
        super().__init__()
        generator = torch.Generator().manual_seed(self.SEED)
        self.register_buffer("centres", torch.randn(clusters, latent_dim, generator=generator) * self.CENTRE_SCALE)

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        clusters = len(self.centres)
        position = torch.special.ndtr(noise[:, 0].float()) * clusters
        cluster = position.floor().clamp(0, clusters - 1)
        within = (position - cluster).clamp(1e-6, 1 - 1e-6)  # U(0, 1) again
        noise = torch.cat([torch.special.ndtri(within)[:, None].to(noise.dtype), noise[:, 1:]], dim=1)
        return self.centres[cluster.long()].to(noise.dtype) + self.SPREAD * noise


class DCGANGenerator(nn.Module):
    """z (N, latent_dim) -> image (N, channels, size, size) in [-1, 1].

    A transposed convolution grows z to the base size, then each stride-2 transposed
    convolution doubles the side while halving the width; batch norm and ReLU between,
    tanh at the end. ``extra_layers`` stride-1 3x3 convolutions (with batch norm and ReLU)
    come before the last up-sampling, as ``n_extra_layers`` in Arjovsky et al.'s DCGAN code:
    depth at the cost of little size, since most weights sit in the first layer.
    ``noise_clusters`` > 0 turns the N(0, I) noise into a mixture of that many Gaussians first
    (``NoiseMixture``); 0 keeps the paper's noise and the published parameter layout.
    """

    def __init__(self, latent_dim: int, image_size: int, channels: int, width: int = 64, extra_layers: int = 0,
                 noise_clusters: int = 0):
        super().__init__()
        base = dcgan_base_size(image_size)
        doublings = (image_size // base).bit_length() - 1
        widths = [width * 2 ** i for i in reversed(range(doublings))]  # e.g. [256, 128, 64]
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, widths[0], base, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(True),
        ]
        for w_in, w_out in zip(widths, widths[1:]):
            layers += [nn.ConvTranspose2d(w_in, w_out, 4, 2, 1, bias=False), nn.BatchNorm2d(w_out), nn.ReLU(True)]
        for _ in range(extra_layers):
            layers += [nn.Conv2d(widths[-1], widths[-1], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[-1]),
                       nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.latent_dim = latent_dim
        self.noise = NoiseMixture(latent_dim, noise_clusters) if noise_clusters else None
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z.view(z.size(0), -1)
        if self.noise is not None:
            z = self.noise(z)
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """image -> one raw score per image (a logit, or a critic value for Wasserstein losses).

    Stride-2 convolutions halve the side down to the base size, LeakyReLU(0.2) between; a
    last convolution as large as the base size gives the score. ``norm`` is "batch"
    (DCGAN), "layer" or None (WGAN-GP's critic: batch norm would break the per-sample
    gradient penalty). ``extra_channels`` are concatenated to the image (a label map).
    ``score_bias=False`` for Wasserstein critics: a constant cancels out of E[D(x)] - E[D(G(z))]
    and its bias would never train. ``extra_layers`` stride-1 3x3 convolutions follow the
    first down-sampling (the generator's mirror).
    """

    def __init__(self, image_size: int, channels: int, width: int = 64, norm: str | None = "batch",
                 extra_channels: int = 0, score_bias: bool = True, extra_layers: int = 0):
        super().__init__()
        base = dcgan_base_size(image_size)
        halvings = (image_size // base).bit_length() - 1
        layers: list[nn.Module] = []
        w_in, w_out = channels + extra_channels, width
        for i in range(halvings):
            layers.append(nn.Conv2d(w_in, w_out, 4, 2, 1, bias=norm is None or i == 0))
            layers += _normalised_leaky(w_out, norm if i > 0 else None)
            w_in, w_out = w_out, w_out * 2
            if i == 0:  # the extra layers sit at the largest scale after the first down-sampling
                for _ in range(extra_layers):
                    layers += [nn.Conv2d(w_in, w_in, 3, 1, 1, bias=norm is None), *_normalised_leaky(w_in, norm)]
        self.features = nn.Sequential(*layers)
        self.score = nn.Conv2d(w_in, 1, base, 1, 0, bias=score_bias)
        self.feature_width = w_in
        self.apply(dcgan_init)

    def forward(self, image: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        if extra is not None:
            image = torch.cat([image, extra], dim=1)
        return self.score(self.features(image)).view(-1)


def _normalised_leaky(width: int, norm: str | None) -> list[nn.Module]:
    if norm == "batch":
        return [nn.BatchNorm2d(width), nn.LeakyReLU(0.2, True)]
    if norm == "layer":
        return [nn.GroupNorm(1, width), nn.LeakyReLU(0.2, True)]  # LayerNorm over (C, H, W)
    return [nn.LeakyReLU(0.2, True)]


def dcgan_pair(config, norm: str | None = "batch", score_bias: bool = True) -> dict:
    """DCGAN's generator and discriminator, sized from a config with ``latent_dim``,
    ``image_size``, ``channels``, ``width`` and optionally ``extra_layers`` and
    ``noise_clusters`` (0 where a config has no such field): ``build_networks`` of the variants
    that use them as they are.
    ``norm`` and ``score_bias`` are the discriminator's."""
    c = config
    extra = getattr(c, "extra_layers", 0)
    generator = DCGANGenerator(c.latent_dim, c.image_size, c.channels, c.width, extra_layers=extra,
                               noise_clusters=getattr(c, "noise_clusters", 0))
    return {"generator": generator,
            "discriminator": DCGANDiscriminator(c.image_size, c.channels, c.width, norm=norm, score_bias=score_bias,
                                                extra_layers=extra)}


class MLPGenerator(nn.Module):
    """z (N, latent_dim) -> image (N, channels, size, size) in [-1, 1], fully connected.

    The common MLP form of Goodfellow et al.'s GAN: linear layers of ``widths``, each followed
    by batch norm (except the first: normalising the first layer's output of raw noise only
    slows the start) and LeakyReLU(0.2), then a linear layer to the pixels and tanh.
    ``noise_clusters`` as DCGANGenerator's.
    """

    def __init__(self, latent_dim: int, image_size: int, channels: int, widths=(128, 256, 512, 1024),
                 first_batch_norm: bool = False, noise_clusters: int = 0):
        super().__init__()
        self.noise = NoiseMixture(latent_dim, noise_clusters) if noise_clusters else None
        layers: list[nn.Module] = []
        w_in = latent_dim
        for i, w_out in enumerate(widths):
            layers.append(nn.Linear(w_in, w_out))
            if i > 0 or first_batch_norm:
                layers.append(nn.BatchNorm1d(w_out))
            layers.append(nn.LeakyReLU(0.2, True))
            w_in = w_out
        layers += [nn.Linear(w_in, channels * image_size * image_size), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.shape = (channels, image_size, image_size)
        self.latent_dim = latent_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z.view(z.size(0), -1)
        if self.noise is not None:
            z = self.noise(z)
        return self.net(z).view(z.size(0), *self.shape)


class MLPDiscriminator(nn.Module):
    """image -> one raw score per image, fully connected: linear layers of ``widths`` with
    LeakyReLU(0.2) between, then a linear layer to the score (a logit: no sigmoid)."""

    def __init__(self, image_size: int, channels: int, widths=(512, 256)):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        w_in = channels * image_size * image_size
        for w_out in widths:
            layers += [nn.Linear(w_in, w_out), nn.LeakyReLU(0.2, True)]
            w_in = w_out
        layers.append(nn.Linear(w_in, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image).view(-1)
