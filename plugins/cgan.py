"""Conditional GAN (Mirza and Osindero 2014) in DCGAN form: the class label is joined, one-hot,
to the generator's noise and, as a map of one-hot channels, to the discriminator's image
(``conditioning="concat"``, the default and the MNIST model's).

Two other ways to give the discriminator the label:
- ``conditioning="projection"`` (Miyato and Koyama 2018, "cGANs with Projection Discriminator"):
  the score of an image's features plus their inner product with a learned embedding of its
  label, so the label acts on what the discriminator has recognised rather than on raw pixels.
  On the emoji at width 32 it learned the categories more slowly than the label maps.
- ``conditioning="auxiliary"`` (AC-GAN: Odena, Olah and Shlens 2017, "Conditional Image
  Synthesis with Auxiliary Classifier GANs"): the discriminator does not see the label; it
  scores real against fake and, from the same features, names the class. Both networks are
  also trained to make that classifier right, so the generator is rewarded for images whose
  class can be told.
README, "Emoji models", gives the figures of each on the emoji.

The class names come from the training data (folder names, or 0-9 for digit sets) and are
stored in the config, so config.json says which label each index means and the class picker
can be built before the weights load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.resources import files

import torch
import torch.nn.functional as F
from ganzoo.api import (
    Choice,
    DCGANDiscriminator,
    DCGANGenerator,
    Generated,
    Seed,
    Slider,
    UserError,
    Variant,
    adam_per_network,
    bce_d_loss,
    bce_g_loss,
    follow_lr_schedule,
    hookimpl,
    step,
)
from torch import nn

ALL = "all"  # the class picker's choice for one row of images per class


@dataclass
class CGANConfig:
    image_size: int = 28  # 28, 32, 64 ... (4 to 7 times a power of two)
    channels: int = 1
    latent_dim: int = 100
    width: int = 64  # channels of the generator's last and the discriminator's first layer
    num_classes: int = 10  # set from the training data
    conditioning: str = "concat"  # how the discriminator sees the label: "concat" (label maps), "projection", "auxiliary"
    class_loss: float = 1.0  # "auxiliary" only: weight of the classifier's cross-entropy in both networks' losses
    classify_generated: bool = True  # "auxiliary": the discriminator learns the classes of generated images too (the paper's)
    class_names: list[str] = field(default_factory=list)  # set from the training data; empty: "0", "1", ...
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    decay_start_step: int = 0  # with decay_steps > 0: constant lr until here ...
    decay_steps: int = 0  # ... then linearly to zero over this many steps; 0: constant, as the paper

    def __post_init__(self):
        if self.conditioning not in CONDITIONINGS:
            raise UserError(f"conditioning must be one of {', '.join(CONDITIONINGS)}, not {self.conditioning!r}")
        if self.class_loss < 0:
            raise UserError(f"class_loss is a weight and must be 0 or more, not {self.class_loss}")


CONDITIONINGS = ("concat", "projection", "auxiliary")


# --------------------------------------------------------------------------- networks


def one_hot(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    return F.one_hot(labels, num_classes).float()


class ConditionalGenerator(nn.Module):
    """(z, label) -> image: DCGAN's generator on the noise with the label's one-hot vector appended."""

    def __init__(self, latent_dim: int, num_classes: int, image_size: int, channels: int, width: int):
        super().__init__()
        self.num_classes = num_classes
        self.net = DCGANGenerator(latent_dim + num_classes, image_size, channels, width)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, one_hot(labels, self.num_classes).to(z.dtype)], dim=1))


class ConditionalDiscriminator(nn.Module):
    """(image, label) -> logit: DCGAN's discriminator with one constant channel per class
    (1 for the image's class, 0 elsewhere) stacked on the image."""

    def __init__(self, num_classes: int, image_size: int, channels: int, width: int):
        super().__init__()
        self.num_classes = num_classes
        self.net = DCGANDiscriminator(image_size, channels, width, norm="batch", extra_channels=num_classes)

    def forward(self, image: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        maps = one_hot(labels, self.num_classes).to(image.dtype)[:, :, None, None]
        return self.net(image, maps.expand(-1, -1, *image.shape[-2:]))


class ProjectionDiscriminator(nn.Module):
    """(image, label) -> logit: DCGAN's discriminator, whose score of the image's features gains
    their inner product with the label's embedding (Miyato and Koyama 2018)."""

    def __init__(self, num_classes: int, image_size: int, channels: int, width: int):
        super().__init__()
        self.net = DCGANDiscriminator(image_size, channels, width, norm="batch")
        self.embed = nn.Embedding(num_classes, self.net.feature_width)
        nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, image: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        features = self.net.features(image)
        projection = (self.embed(labels).to(features.dtype)[:, :, None, None] * features).sum((1, 2, 3))
        return self.net.score(features).view(-1) + projection


class AuxiliaryClassifierDiscriminator(nn.Module):
    """image -> (logit, class logits): DCGAN's discriminator, blind to the label, with a second
    head that names the class from the same features (AC-GAN)."""

    def __init__(self, num_classes: int, image_size: int, channels: int, width: int):
        super().__init__()
        self.net = DCGANDiscriminator(image_size, channels, width, norm="batch")
        base = self.net.score.kernel_size
        self.classify = nn.Conv2d(self.net.feature_width, num_classes, base, 1, 0)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.net.features(image)
        return self.net.score(features).view(-1), self.classify(features).flatten(1)


class CGAN(Variant):
    name = "cgan"
    title = "Conditional GAN"
    paper = ("Mirza, Osindero: Conditional Generative Adversarial Nets, 2014. "
             "https://arxiv.org/abs/1411.1784")
    description = ("Pick the class to draw. The generator gets the class label one-hot next to its noise. "
                   "The discriminator of the MNIST model gets it as label channels next to the image; the "
                   "Emoji model's is not told the label but must name the class (AC-GAN), which rewards "
                   "drawings whose class can be told. DCGAN's networks and losses otherwise. "
                   "With *all*, each row is one class, named at its left, and each column one noise vector: "
                   "the columns show what the noise keeps (slant, thickness) while the label changes.")
    Config = CGANConfig
    bundled = files(__package__) / "weights" / "cgan"
    models = {"MNIST digits": bundled, "Emoji": files(__package__) / "weights" / "cgan-emoji"}

    @classmethod
    def tiny_config(cls):
        return CGANConfig(image_size=16, channels=1, latent_dim=8, width=4, num_classes=2)

    # ---- data: the class names come from the dataset ---------------------------------------
    def prepare_data(self, sources):
        from ganzoo.api import DataError

        datasets = super().prepare_data(sources)
        data = datasets["data"]
        names = [str(name) for name in data.class_names]
        if len(names) < 2:
            raise DataError(f"cgan needs labelled images of at least two classes; {data.source} has "
                            f"{len(names)} class ({', '.join(names)}). Put each class's images in its "
                            f"own sub-folder (DIR/<class name>/*.png), or use a labelled set such as "
                            f"an MNIST folder with its labels file.")
        if ALL in names:
            raise DataError(f"{data.source} has a class named {ALL!r}, which the class picker uses for "
                            f"'every class'; rename that sub-folder")
        if self.config.class_names and list(self.config.class_names) != names:
            raise DataError(f"the config's class names ({', '.join(self.config.class_names)}) differ from "
                            f"the data's ({', '.join(names)}): resume a run with the data it was "
                            f"started on, or leave --class-names out")
        self.config.num_classes, self.config.class_names = len(names), names
        return datasets

    def class_names(self) -> list[str]:
        return list(self.config.class_names) or [str(i) for i in range(self.config.num_classes)]

    # ---- networks and training -------------------------------------------------------------
    def build_networks(self):
        c = self.config
        discriminator = {"concat": ConditionalDiscriminator, "projection": ProjectionDiscriminator,
                         "auxiliary": AuxiliaryClassifierDiscriminator}[c.conditioning]
        return {"generator": ConditionalGenerator(c.latent_dim, c.num_classes, c.image_size, c.channels, c.width),
                "discriminator": discriminator(c.num_classes, c.image_size, c.channels, c.width)}

    def build_optimizers(self, nets):
        return adam_per_network(nets, self.config.lr, self.config.betas)

    def train_step(self, ctx):
        follow_lr_schedule(ctx)
        batch = ctx.next_batch()
        real, labels = batch["image"], batch["label"]
        z = torch.randn(real.size(0), self.config.latent_dim, device=ctx.device)
        # Generated images get the labels of the real batch: the classes in the data's proportions.
        if self.config.conditioning == "auxiliary":
            return self._auxiliary_classifier_step(ctx, real, labels, z)
        return self._labelled_discriminator_step(ctx, real, labels, z)

    def _labelled_discriminator_step(self, ctx, real, labels, z):
        """DCGAN's losses, the discriminator told each image's label (label maps or projection)."""
        G, D = ctx.nets["generator"], ctx.nets["discriminator"]
        with ctx.autocast():
            fake = G(z, labels)
            loss_d = bce_d_loss(D(real, labels), D(fake.detach(), labels))
        step(ctx.optimizers["discriminator"], loss_d)
        with ctx.autocast():
            loss_g = bce_g_loss(D(fake, labels))
        step(ctx.optimizers["generator"], loss_g)
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach()}

    def _auxiliary_classifier_step(self, ctx, real, labels, z):
        """AC-GAN's losses: real against fake as DCGAN's, plus the classifier's cross-entropy on
        real and generated images for the discriminator (real ones only without
        ``classify_generated``), on generated ones for the generator.

        Classifying generated images teaches the classifier the generator's own way of drawing
        each class, however unlike the real class it is; on real images alone it can be
        satisfied only by drawings that look like the class."""
        G, D = ctx.nets["generator"], ctx.nets["discriminator"]
        weight = self.config.class_loss
        with ctx.autocast():
            fake = G(z, labels)
            (score_real, class_real), (score_fake, class_fake) = D(real), D(fake.detach())
            class_loss_d = F.cross_entropy(class_real.float(), labels)
            if self.config.classify_generated:
                class_loss_d = class_loss_d + F.cross_entropy(class_fake.float(), labels)
            loss_d = bce_d_loss(score_real, score_fake) + weight * class_loss_d
        step(ctx.optimizers["discriminator"], loss_d)
        with ctx.autocast():
            score, classes = D(fake)
            class_loss_g = F.cross_entropy(classes.float(), labels)
            loss_g = bce_g_loss(score) + weight * class_loss_g
        step(ctx.optimizers["generator"], loss_g)
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "class_loss_g": class_loss_g.detach()}

    def preview(self, nets, batches, seed=0):
        """One row per class (the first 10), the same noise in each column."""
        from ganzoo.api import noise

        shown = min(self.config.num_classes, 10)
        device = next(nets["generator"].parameters()).device
        z = noise(shown, self.config.latent_dim, seed, device).repeat(shown, 1)
        labels = torch.arange(shown, device=device).repeat_interleave(shown)
        with torch.no_grad():
            return nets["generator"](z, labels)

    # ---- inference -------------------------------------------------------------------------
    def inputs(self):
        names = self.class_names()
        return [
            Choice("label", "Class", f"Which class to draw: one of {', '.join(names)}, or '{ALL}' for "
                                     f"one row per class.", ALL, choices=(ALL, *names)),
            Slider("per_class", "Images per class", "How many images of each chosen class.", 8, 1, 32, 1),
            Seed(),
        ]

    def generate(self, model, progress=None, label: str = ALL, per_class: int = 8, seed: int = 0):
        from ganzoo.api import noise, to_pil_list

        names = self.class_names()  # label and per_class are checked against inputs() by Model.generate
        chosen = list(range(len(names))) if label == ALL else [names.index(label)]
        # The same noise for every class: one class alone gives exactly its row of "all".
        z = noise(per_class, self.config.latent_dim, seed, model.device).repeat(len(chosen), 1)
        labels = torch.tensor(chosen, device=model.device).repeat_interleave(per_class)
        images = to_pil_list(model.nets["generator"](z, labels))
        return Generated(images, captions=[names[i] for i in labels.tolist()],
                         columns=per_class if label == ALL else None, row_labels=names if label == ALL else None)

    def evaluation_batches(self, model, n, seed, data=None, batch_size=500):
        """Classes in turn, each image labelled with the class it was asked for: the judge's
        agreement is the label accuracy."""
        from ganzoo.api import noise

        for start in range(0, n, batch_size):
            count = min(batch_size, n - start)
            labels = torch.arange(start, start + count, device=model.device) % self.config.num_classes
            z = noise(count, self.config.latent_dim, seed * 1_000_003 + start, model.device)
            yield model.nets["generator"](z, labels), labels


@hookimpl
def register_variants(register):
    register(CGAN)
