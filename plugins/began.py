"""BEGAN (Berthelot, Schumm and Metz 2017): the discriminator is an auto-encoder, and the two
networks play over its reconstruction loss, balanced by proportional control.

L(v) = mean |v - D(v)|^eta is the auto-encoder's pixel-wise loss; the paper allows eta 1 or 2
(``norm``) and uses 1. Per step:

    L_D = L(x) - k_t L(G(z))        L_G = L(G(z))
    k_t+1 = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1)
    M = L(x) + |gamma L(x) - L(G(z))|   (the convergence measure: falls as images improve)

gamma = E[L(G(z))] / E[L(x)] is the diversity ratio: lower values give sharper, less varied
images. Networks as in the paper's Figure 1: 3x3 convolutions with ELU, two per scale; the
encoder sub-samples with stride-2 convolutions and widens by ``width`` at each scale, then a
fully connected layer makes the embedding; the decoder (and the generator, which has the
same architecture) starts with a fully connected layer to ``width`` maps at the base size
and up-samples by nearest neighbour. Neither output has an activation, as in the paper.

Choices the paper leaves open: Adam betas (0.5, 0.999), as in the widely used
reimplementations; the paper halves the learning rate when M stalls, and here an optional
linear decay (``decay_start_step``, ``decay_steps``) stands in for it.
D is updated first, then G on the same noise against the updated D; k_t uses that G loss.
k_t is a tensor on the device, updated there (no wait for the device at each step). In
data-parallel training every process updates it with the balance averaged over the processes
(``ctx.mean_across_ranks``), the balance of the whole batch, so k_t stays the same on all.
Options beyond the paper, off by default:
- ``pull_away`` adds EBGAN's pulling-away term (Zhao, Mathieu and LeCun 2017) on the
  auto-encoder's embeddings of a generated batch to L_G. On MNIST, BEGAN alone collapses onto
  1s: a thin stroke on a black background is the image an auto-encoder reconstructs best,
  and nothing in L_G asks a batch to vary. The term penalises a batch whose embeddings
  point the same way; the updates of D and k_t are unchanged.
Departure: the noise is N(0, 1), not the paper's uniform [-1, 1], so that inference uses
the same seeded ``ganzoo.sampling.noise`` as every other noise-to-image variant.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files

import torch
from ganzoo.api import NoiseToImage, UserError, adam_per_network, dcgan_base_size, follow_lr_schedule, hookimpl, step
from torch import nn


@dataclass
class BEGANConfig:
    image_size: int = 28  # 28, 32, 64 ... (4 to 7 times a power of two)
    channels: int = 1
    latent_dim: int = 64  # the paper's N_z
    hidden_dim: int = 64  # the auto-encoder's embedding size, N_h
    width: int = 64  # n: the filters of each 3x3 convolution (the encoder's grow n, 2n, 3n ...)
    gamma: float = 0.5  # the diversity ratio
    lambda_k: float = 0.001  # the proportional gain of k_t
    k_0: float = 0.0
    norm: int = 1  # eta in L(v) = mean |v - D(v)|^eta: the paper allows 1 or 2, and uses 1
    pull_away: float = 0.0  # weight of EBGAN's pulling-away term on the generator (0: the paper's BEGAN)
    lr: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.999)
    decay_start_step: int = 0  # with decay_steps > 0: constant lr until here ...
    decay_steps: int = 0  # ... then linearly to zero over this many steps; 0: constant

    def __post_init__(self):
        if self.norm not in (1, 2):
            raise UserError(f"norm must be 1 (L1, the paper's) or 2 (squared error), not {self.norm}")


def _conv(w_in: int, w_out: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(w_in, w_out, 3, stride, 1), nn.ELU(inplace=True)]


def _scales(image_size: int) -> tuple[int, int]:
    base = dcgan_base_size(image_size)
    return base, (image_size // base).bit_length() - 1


class BEGANDecoder(nn.Module):
    """(N, in_dim) -> image (N, channels, size, size): the generator, and the discriminator's decoder."""

    def __init__(self, in_dim: int, image_size: int, channels: int, width: int):
        super().__init__()
        self.base, scales = _scales(image_size)
        self.width = width
        self.project = nn.Linear(in_dim, width * self.base * self.base)
        layers: list[nn.Module] = []
        for _ in range(scales):
            layers += [*_conv(width, width), *_conv(width, width), nn.Upsample(scale_factor=2, mode="nearest")]
        layers += [*_conv(width, width), *_conv(width, width), nn.Conv2d(width, channels, 3, 1, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(self.project(h.view(h.size(0), -1)).view(-1, self.width, self.base, self.base))


class BEGANEncoder(nn.Module):
    """image -> (N, hidden_dim) embedding."""

    def __init__(self, image_size: int, channels: int, width: int, hidden_dim: int):
        super().__init__()
        base, scales = _scales(image_size)
        layers = _conv(channels, width)
        w = width
        for _ in range(scales):
            layers += [*_conv(w, w), *_conv(w, w), *_conv(w, w + width, stride=2)]
            w += width
        layers += [*_conv(w, w), *_conv(w, w), nn.Flatten(), nn.Linear(w * base * base, hidden_dim)]
        self.net = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image)


class BEGANDiscriminator(nn.Module):
    """The auto-encoder: image -> its reconstruction."""

    def __init__(self, image_size: int, channels: int, width: int, hidden_dim: int):
        super().__init__()
        self.encoder = BEGANEncoder(image_size, channels, width, hidden_dim)
        self.decoder = BEGANDecoder(hidden_dim, image_size, channels, width)

    def forward(self, image: torch.Tensor, with_embedding: bool = False):
        """The reconstruction; with ``with_embedding``, (reconstruction, embedding)."""
        embedding = self.encoder(image)
        reconstruction = self.decoder(embedding)
        return (reconstruction, embedding) if with_embedding else reconstruction


def reconstruction_loss(D: nn.Module, images: torch.Tensor, norm: int = 1) -> torch.Tensor:
    """L(v) = mean |v - D(v)|^norm, in float32."""
    return reconstruction_error(images, D(images), norm)


def reconstruction_error(images: torch.Tensor, reconstructions: torch.Tensor, norm: int) -> torch.Tensor:
    return (images.float() - reconstructions.float()).abs().pow(norm).mean()


def pulling_away(embeddings: torch.Tensor) -> torch.Tensor:
    """EBGAN's pulling-away term (Zhao et al. 2017): the mean squared cosine similarity between
    the embeddings of different images in a batch. It is low when a batch is varied."""
    s = nn.functional.normalize(embeddings.float().flatten(1), dim=1)
    n = s.size(0)
    similarity = (s @ s.t()).pow(2)
    return (similarity.sum() - similarity.diagonal().sum()) / (n * (n - 1))


class BEGAN(NoiseToImage):
    name = "began"
    title = "BEGAN"
    paper = ("Berthelot, Schumm, Metz: BEGAN: Boundary Equilibrium Generative Adversarial Networks, 2017. "
             "https://arxiv.org/abs/1703.10717")
    description = ("The discriminator is an auto-encoder: it learns to reconstruct real images and not "
                   "generated ones, and the generator learns to make images it reconstructs well. A "
                   "proportional controller (k_t) holds the two losses at a ratio gamma (0.5 in the paper), "
                   "and M = L(x) + |gamma L(x) - L(G(z))| measures convergence. ELU convolutions, "
                   "nearest-neighbour up-sampling. The bundled weights add EBGAN's pulling-away term, "
                   "which keeps a batch varied: without it the generator collapses onto 1s on MNIST.")
    Config = BEGANConfig
    bundled = files(__package__) / "weights" / "began"
    models = {"MNIST digits": bundled, "Emoji": files(__package__) / "weights" / "began-emoji"}
    # No DiffAugment: the discriminator is an auto-encoder whose reconstruction is compared with its own input.
    augmented_networks = ()

    @classmethod
    def tiny_config(cls):
        # the options the bundled weights use, so that the conformance suite trains that path
        return BEGANConfig(image_size=8, channels=1, latent_dim=8, hidden_dim=8, width=4, norm=2, pull_away=0.1)

    def build_networks(self):
        c = self.config
        return {"generator": BEGANDecoder(c.latent_dim, c.image_size, c.channels, c.width),
                "discriminator": BEGANDiscriminator(c.image_size, c.channels, c.width, c.hidden_dim)}

    def build_optimizers(self, nets):
        return adam_per_network(nets, self.config.lr, self.config.betas)

    def init_train_state(self):
        return {"k": float(self.config.k_0)}

    def train_step(self, ctx):
        c = self.config
        G, D = ctx.nets["generator"], ctx.nets["discriminator"]
        follow_lr_schedule(ctx)
        k = torch.as_tensor(ctx.state["k"], dtype=torch.float32, device=ctx.device)
        real = ctx.next_batch()["image"]
        z = torch.randn(real.size(0), c.latent_dim, device=ctx.device)
        with ctx.autocast():
            fake = G(z)
            loss_real = reconstruction_loss(D, real, c.norm)
            loss_d = loss_real - k * reconstruction_loss(D, fake.detach(), c.norm)
        step(ctx.optimizers["discriminator"], loss_d)
        with ctx.autocast():
            reconstructions, embeddings = D(fake, with_embedding=True)
            loss_g = reconstruction_error(fake, reconstructions, c.norm)
            objective_g = loss_g + c.pull_away * pulling_away(embeddings) if c.pull_away else loss_g
        step(ctx.optimizers["generator"], objective_g)

        balance = ctx.mean_across_ranks(c.gamma * loss_real.detach() - loss_g.detach())
        ctx.state["k"] = k = (k + c.lambda_k * balance).clamp(0.0, 1.0)
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "loss_real": loss_real.detach(),
                "k": k, "convergence": loss_real.detach() + balance.abs()}


@hookimpl
def register_variants(register):
    register(BEGAN)
