"""CycleGAN (Zhu, Park, Isola and Efros 2017): unpaired image-to-image translation between two
domains, A (``--data``) and B (``--data-b``), as the authors' reference implementation
(junyanz/pytorch-CycleGAN-and-pix2pix) trains it: two ResNet generators, two 70x70 PatchGAN
discriminators, least-squares adversarial losses, cycle loss 10, identity loss 0.5 x 10, a pool
of 50 generated images per discriminator, Adam 2e-4 (beta1 0.5), constant then linearly
decaying learning rate.

The generator mirrors the reference ``ResnetGenerator`` layer for layer, so its weight names
are the reference's (``model.1.weight``, ``model.10.conv_block.1.weight``) and the authors'
published checkpoints import without renaming (``ganzoo import cyclegan horse2zebra.pth``).

A published checkpoint holds one generator: one direction. ``import_checkpoint`` stores it as
the A to B generator and writes ``directions: "a2b"`` in the config; the model then publishes and
loads (strictly) only that generator, offers only that direction, and asking for B to A is a
clear error. Import the reverse checkpoint (zebra2horse for horse2zebra) as a second model for
the other way. A reference *training* run's ``latest_net_G_A.pth`` imports with its sibling
``latest_net_G_B.pth`` when that file lies beside it: both directions.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import torch
from ganzoo.api import (
    DATA,
    Choice,
    DataRole,
    Generated,
    ImageInput,
    UserError,
    Variant,
    WeightsError,
    dcgan_init,
    follow_lr_schedule,
    hookimpl,
    least_squares_d_loss,
    least_squares_g_loss,
    load_state_into,
    save_weights,
    step,
)
from torch import nn

DIRECTIONS = {"both": ("a2b", "b2a"), "a2b": ("a2b",)}  # config.directions -> the directions it offers
GENERATOR = {"a2b": "generator_ab", "b2a": "generator_ba"}
MIN_SIDE = 8  # two halvings leave 2 x 2, the least a reflection pad of 1 accepts
# The tab's examples, which ship with the plugin (scripts/make_examples.py): three UCI digits (the
# digit model's domain A) and nine Twemoji of the emoji test split, one per category (the emoji
# model's); GANZOO_EXAMPLES_CYCLEGAN, a folder, offers its images instead of the emoji.
SHIPPED_EXAMPLES = files(__package__) / "examples" / "cyclegan"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")


@dataclass
class CycleGANConfig:
    image_size: int = 256  # training images (the paper: 256 x 256); inference takes any size
    channels: int = 3
    width: int = 64  # ngf and ndf: the first layer's channels in generators and discriminators
    n_blocks: int = 9  # residual blocks: 9 at 256 px, 6 at 128 px, as in the paper
    disc_layers: int = 3  # PatchGAN depth: 3 strided layers see 70 x 70 patches
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5  # times lambda_cycle, as the reference's --lambda_identity: 0.5 x 10 = 5
    pool_size: int = field(default=50, metadata={"minimum": 0, "help": "generated images each discriminator sees "
                                                  "again (Shrivastava et al. 2017); 0: no pool"})
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    decay_start_step: int = field(default=100_000, metadata={"minimum": 0, "help": "constant lr until here (paper: "
                                                             "100 epochs of ~1000 images) ..."})
    decay_steps: int = field(default=100_000, metadata={"minimum": 0, "help": "... then linearly to zero over this "
                                                        "many steps; 0: no decay"})
    max_side: int = 512  # inference: longer input images are scaled down to this
    directions: str = "both"  # "both", or "a2b" for an imported one-generator checkpoint
    domain_names: tuple[str, str] = ("A", "B")  # what the two domains are, as the tab names its directions

    def __post_init__(self):
        if self.directions not in DIRECTIONS:
            raise UserError(f"directions must be one of {', '.join(DIRECTIONS)}, not {self.directions!r}")
        smallest = max(MIN_SIDE, 3 * 2 ** self.disc_layers)
        if self.image_size % 4 or self.image_size < smallest:
            raise UserError(f"image_size must be a multiple of 4 and at least {smallest} for a PatchGAN with "
                             f"disc_layers={self.disc_layers}, not {self.image_size}; pick another "
                             f"--image-size or fewer --disc-layers")


# --------------------------------------------------------------------------- networks
# Layer for layer the reference's ResnetGenerator and NLayerDiscriminator with instance norm
# (no affine parameters, no running statistics, so convolutions keep their biases) and
# reflection padding: the Sequential attributes and indices give the reference's weight names.


def instance_norm(channels: int) -> nn.InstanceNorm2d:
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


class ResnetBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), instance_norm(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), instance_norm(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """image -> image of the same size (sides a multiple of 4, at least 8), in [-1, 1]: a 7x7
    convolution, two stride-2 downsamplings, ``n_blocks`` residual blocks, two upsamplings."""

    def __init__(self, channels: int, width: int = 64, n_blocks: int = 9):
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(channels, width, 7), instance_norm(width),
                                   nn.ReLU(True)]
        for mult in (1, 2):
            layers += [nn.Conv2d(width * mult, width * mult * 2, 3, stride=2, padding=1),
                       instance_norm(width * mult * 2), nn.ReLU(True)]
        layers += [ResnetBlock(width * 4) for _ in range(n_blocks)]
        for mult in (4, 2):
            layers += [nn.ConvTranspose2d(width * mult, width * mult // 2, 3, stride=2, padding=1, output_padding=1),
                       instance_norm(width * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        self.apply(dcgan_init)  # the reference's init: N(0, 0.02) weights, zero biases

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class PatchDiscriminator(nn.Module):
    """image -> a map of logits, one per overlapping patch (70 x 70 with ``n_layers=3``)."""

    def __init__(self, channels: int, width: int = 64, n_layers: int = 3):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            previous, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(width * previous, width * mult, 4, stride=stride, padding=1),
                       instance_norm(width * mult), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(width * mult, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


# --------------------------------------------------------------------------- training


def query_pool(pool: list, images: torch.Tensor, size: int) -> torch.Tensor:
    """The reference's ImagePool: until the pool holds ``size`` images, store and return each
    new one; then, with probability 1/2, return a stored image and store the new one in its
    place, else return the new one. Uses the global torch RNG, which checkpoints restore."""
    if size == 0:
        return images.detach()
    out = []
    for image in images.detach():
        if len(pool) < size:
            pool.append(image.float().clone())
            out.append(image)
        elif float(torch.rand(())) > 0.5:
            index = int(torch.randint(size, ()))
            out.append(pool[index].to(image.dtype).clone())
            pool[index] = image.float().clone()
        else:
            out.append(image)
    return torch.stack(out)


def requires_grad(nets, flag: bool) -> None:
    for net in nets:
        net.requires_grad_(flag)


class CycleGAN(Variant):
    name = "cyclegan"
    title = "CycleGAN"
    paper = ("Zhu, Park, Isola, Efros: Unpaired Image-to-Image Translation using Cycle-Consistent "
             "Adversarial Networks, ICCV 2017. https://arxiv.org/abs/1703.10593")
    description = ("Translates an image from domain A to domain B or back, learnt from two unpaired sets of "
                   "images (`--data` is A, `--data-b` is B). Two ResNet generators translate each way; two "
                   "PatchGAN discriminators judge each domain; a cycle loss makes A to B to A give the input "
                   "back. Batch size 1 by default, as in the paper. Weights of the authors' published "
                   "generators import with `ganzoo import cyclegan FILE.pth --out DIR` (one direction each).")
    Config = CycleGANConfig
    bundled = files(__package__) / "weights" / "cyclegan"
    models = {"UCI digits to MNIST": bundled, "Emoji": files(__package__) / "weights" / "cyclegan-emoji"}
    pipeline_tag = "image-to-image"
    default_batch_size = 1  # the paper's
    data_roles = (DATA, DataRole("data_b", "domain B's training images (--data is domain A), in any of "
                                           "--data's forms; the two sets need not be paired"))

    @classmethod
    def tiny_config(cls):
        return CycleGANConfig(image_size=16, channels=1, width=4, n_blocks=1, disc_layers=2, pool_size=3,
                              max_side=64)

    @property
    def inference_networks(self) -> tuple[str, ...]:
        """The generators of the directions this model offers (one for an imported checkpoint)."""
        return tuple(GENERATOR[d] for d in DIRECTIONS[self.config.directions])

    # ---- networks and training -------------------------------------------------------------
    def build_networks(self):
        c = self.config
        return {"generator_ab": ResnetGenerator(c.channels, c.width, c.n_blocks),
                "generator_ba": ResnetGenerator(c.channels, c.width, c.n_blocks),
                "discriminator_a": PatchDiscriminator(c.channels, c.width, c.disc_layers),
                "discriminator_b": PatchDiscriminator(c.channels, c.width, c.disc_layers)}

    def build_optimizers(self, nets):
        # One Adam over both generators and one over both discriminators, as the reference.
        c = self.config
        return {
            "generator": torch.optim.Adam(itertools.chain(nets["generator_ab"].parameters(),
                                                          nets["generator_ba"].parameters()), c.lr, tuple(c.betas)),
            "discriminator": torch.optim.Adam(itertools.chain(nets["discriminator_a"].parameters(),
                                                              nets["discriminator_b"].parameters()), c.lr,
                                              tuple(c.betas)),
        }

    def init_train_state(self):
        # Generated A and B images, checkpointed with the run. In data-parallel training each
        # process keeps a pool of the images it generated, as it would alone (checkpointed per
        # process); the discriminators' gradients, and so their weights, are averaged over all.
        return {"pool_a": [], "pool_b": []}

    def train_step(self, ctx):
        c = self.config
        G_ab, G_ba = ctx.nets["generator_ab"], ctx.nets["generator_ba"]
        D_a, D_b = ctx.nets["discriminator_a"], ctx.nets["discriminator_b"]
        lr = follow_lr_schedule(ctx)
        real_a, real_b = ctx.next_batch("data")["image"], ctx.next_batch("data_b")["image"]
        n = min(real_a.size(0), real_b.size(0))  # the two sets may differ in size
        real_a, real_b = real_a[:n], real_b[:n]

        # Generators: fool both discriminators, come back to the input, leave the target domain alone.
        requires_grad((D_a, D_b), False)
        with ctx.autocast():
            fake_b, fake_a = G_ab(real_a), G_ba(real_b)
            cycle_a, cycle_b = G_ba(fake_b), G_ab(fake_a)
            # The reference's MSE(D(G(x)), 1) has no 1/2: twice Mao et al.'s loss keeps its weight 1 against 10.
            loss_gan = 2 * (least_squares_g_loss(D_b(fake_b)) + least_squares_g_loss(D_a(fake_a)))
            loss_cycle = (real_a - cycle_a).abs().mean() + (real_b - cycle_b).abs().mean()
            loss_g = loss_gan + c.lambda_cycle * loss_cycle
            if c.lambda_identity > 0:
                loss_identity = (G_ab(real_b) - real_b).abs().mean() + (G_ba(real_a) - real_a).abs().mean()
                loss_g = loss_g + c.lambda_cycle * c.lambda_identity * loss_identity
        step(ctx.optimizers["generator"], loss_g)

        # Discriminators: real against a mix of this step's and earlier generated images.
        requires_grad((D_a, D_b), True)
        pooled_a = query_pool(ctx.state["pool_a"], fake_a, c.pool_size)
        pooled_b = query_pool(ctx.state["pool_b"], fake_b, c.pool_size)
        with ctx.autocast():
            loss_d_a = least_squares_d_loss(D_a(real_a), D_a(pooled_a))
            loss_d_b = least_squares_d_loss(D_b(real_b), D_b(pooled_b))
        step(ctx.optimizers["discriminator"], loss_d_a + loss_d_b)

        figures = {"loss_g": loss_g.detach(), "loss_gan": loss_gan.detach(), "loss_cycle": loss_cycle.detach(),
                   "loss_d_a": loss_d_a.detach(), "loss_d_b": loss_d_b.detach(), "lr": lr}
        if c.lambda_identity > 0:
            figures["loss_identity"] = loss_identity.detach()
        return figures

    def preview(self, nets, batches, seed=0):
        """Rows of (A, A to B, B, B to A) for the first fixed images of each domain."""
        a, b = batches["data"]["image"], batches["data_b"]["image"]
        available = min(len(a), len(b))
        n = 16 if available >= 16 else min(4, available)  # 4 n images lie in rows of 4 (n=4) or 8 (n=16)
        a, b = a[:n], b[:n]
        with torch.no_grad():
            quads = torch.stack([a, nets["generator_ab"](a), b, nets["generator_ba"](b)], dim=1)
        return quads.flatten(0, 1)

    # ---- inference -------------------------------------------------------------------------
    def inputs(self):
        directions = DIRECTIONS[self.config.directions]
        a, b = self.config.domain_names
        label = {"a2b": f"{a} to {b}", "b2a": f"{b} to {a}"}
        offered = "; ".join(f"{d}: {label[d]}" for d in directions)
        only = "" if len(directions) == 2 else (f" This model translates only {a} to {b}: it was imported from a "
                                                "checkpoint with one generator. For B to A, import the "
                                                "reverse checkpoint as another model.")
        return [
            ImageInput("image", "Image", f"The image to translate: any size, grey, colour or with transparency. "
                                         f"It is scaled down so its longer side is at most {self.config.max_side} "
                                         f"px, scaled up if its shorter side is under the {self.config.image_size} px "
                                         f"the model was trained at, and both sides are rounded to a multiple of 4."),
            Choice("direction", "Direction", f"Which way to translate ({offered}).{only}", directions[0],
                   choices=directions, labels=label),
        ]

    def prepare_image(self, image):
        """A PIL image, numpy array or file path -> the PIL image the generator takes: the config's
        channels, longer side at most ``max_side``, shorter side at least the training size (an 8x8
        digit translated at 8x8 would come back as 8 blurred pixels), sides multiples of 4."""
        from ganzoo.api import convert_mode, fit_within, open_image
        from PIL import Image

        if image is None:
            raise UserError("no image given: upload one, or pass --image PATH")
        if isinstance(image, (str, Path)):
            image = open_image(image)
        elif not isinstance(image, Image.Image):
            image = Image.fromarray(image)
        image = fit_within(convert_mode(image, self.config.channels), self.config.max_side, 4)
        smallest = min(max(MIN_SIDE, self.config.image_size), self.config.max_side)
        if min(image.size) < smallest:
            scale = smallest / min(image.size)
            size = [min(self.config.max_side, 4 * math.ceil(side * scale / 4)) for side in image.size]
            image = image.resize(tuple(size), Image.Resampling.BICUBIC)
        return image

    def output_size(self, values):
        return self.prepare_image(values.get("image")).size

    def examples(self):
        """The shipped digits and emoji, the model's own kind first (colour: the emoji); with
        GANZOO_EXAMPLES_CYCLEGAN, the first image by name of that folder and of each of its
        sub-folders instead of the emoji. 12 at most."""
        shipped = Path(str(SHIPPED_EXAMPLES))
        digits, others = sorted(shipped.glob("uci-digit-*.png")), sorted(shipped.glob("twemoji-*.png"))
        chosen = os.environ.get("GANZOO_EXAMPLES_CYCLEGAN")
        if chosen:
            folder, others = Path(chosen), []
            for place in [folder, *sorted(p for p in folder.iterdir() if p.is_dir())] if folder.is_dir() else []:
                others += sorted(p for p in place.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:1]
        ordered = [*others, *digits] if self.config.channels == 3 and not chosen else [*digits, *others]
        # the shipped ones are for the shipped models: a click on a test emoji picks the emoji model
        digit_model, emoji_model = [*self.models, None, None][:2]  # "UCI digits to MNIST", "Emoji"
        model = {path: name for name, kind in ((digit_model, digits), (emoji_model, [] if chosen else others))
                 for path in kind if name is not None}
        return [{"image": str(path), **({"model": model[path]} if path in model else {})} for path in ordered[:12]]

    def generate(self, model, progress=None, image=None, direction: str = "a2b"):
        from ganzoo.api import to_pil, to_tensor

        # Model.generate has checked direction against inputs(): only the directions this model offers.
        x = to_tensor(self.prepare_image(image), self.config.channels).unsqueeze(0).to(model.device)
        return Generated([to_pil(model.nets[GENERATOR[direction]](x)[0])])

    # ---- evaluation: domain A's images translated to B keep their labels ------------------
    evaluation_reference_role = "data_b"
    selection_metric = ("label_accuracy", "max")

    def evaluation_batches(self, model, n, seed, data=None, batch_size=200, direction="a2b"):
        if data is None:
            raise UserError(f"evaluating CycleGAN needs domain {direction[0].upper()}'s images to translate: "
                            f"pass --data")
        images = data.images[:n].float() / 127.5 - 1
        labels = data.labels[:n]
        for start in range(0, len(images), batch_size):
            batch = images[start:start + batch_size].to(model.device)
            yield model.nets[GENERATOR[direction]](batch), labels[start:start + batch_size]

    # ---- importing the authors' checkpoints -----------------------------------------------
    @classmethod
    def import_checkpoint(cls, path, out):
        """A generator saved by junyanz/pytorch-CycleGAN-and-pix2pix (``torch.save`` of a
        ResnetGenerator's state dict, such as the published horse2zebra.pth) -> a weights folder.
        Channels, width and block count come from the tensors. One file gives the A to B
        direction; ``*net_G_A.pth`` with its ``*net_G_B.pth`` beside it gives both."""
        path, out = Path(path), Path(out)
        states = {"generator_ab": read_reference_generator(path)}
        partner = path.with_name(path.name.replace("net_G_A", "net_G_B"))
        if "net_G_A" in path.name and partner.exists():
            states["generator_ba"] = read_reference_generator(partner)
        shapes = [reference_shape(state, where) for state, where in zip(states.values(), (path, partner))]
        if len(set(shapes)) > 1:
            raise WeightsError(f"{path} and {partner} hold generators of different shapes "
                               f"(channels, width, blocks: {shapes[0]} and {shapes[1]}); they are not one run")
        channels, width, n_blocks = shapes[0]
        config = CycleGANConfig(channels=channels, width=width, n_blocks=n_blocks,
                                directions="both" if len(states) == 2 else "a2b")
        variant = cls(config)
        nets = variant.build_networks()
        nets = {name: nets[name] for name in states}
        tensors = {f"{name}.{key}": value for name, state in states.items() for key, value in state.items()}
        load_state_into(nets, tensors, path)
        out.mkdir(parents=True, exist_ok=True)
        return save_weights(out, variant, nets)


STALE_KEY = re.compile(r"\.(running_mean|running_var|num_batches_tracked)$")


def read_reference_generator(path: Path) -> dict[str, torch.Tensor]:
    """Read a state dict with ``weights_only=True`` (never unpickling code), drop the
    ``module.`` prefix of DataParallel and the instance-norm statistics that PyTorch before
    0.4 saved (the reference strips them too), and check that it is a ResnetGenerator."""
    hint = ("Import a generator checkpoint of junyanz/pytorch-CycleGAN-and-pix2pix trained with --netG "
            "resnet_9blocks or resnet_6blocks and --norm instance (the defaults), such as the published "
            "horse2zebra.pth or a run's latest_net_G_A.pth.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"no file at {path}") from None
    except Exception as error:  # not a torch file, a pickled module, truncated ...
        raise WeightsError(f"{path} cannot be read as a PyTorch state dict ({type(error).__name__}: "
                            f"{str(error).splitlines()[0] if str(error) else ''}). ganzoo reads only plain "
                            f"state dicts (torch.save(net.state_dict())), never pickled code. {hint}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path} holds a {type(state).__name__}, not a state dict of tensors. {hint}")
    state = {key.removeprefix("module."): value.float() for key, value in state.items()
             if not STALE_KEY.search(key)}
    if "model.model.0.weight" in state or any(".model.model." in key for key in state):
        raise WeightsError(f"{path} is a U-Net generator (pix2pix's --netG unet_256/unet_128), not CycleGAN's "
                            f"ResNet generator. {hint}")
    first = state.get("model.1.weight")
    if first is None or first.dim() != 4 or tuple(first.shape[2:]) != (7, 7):
        keys = ", ".join(list(state)[:6])
        raise WeightsError(f"{path} is not a ResnetGenerator state dict: it has no 7x7 convolution "
                            f"'model.1.weight' (its keys begin {keys}). {hint}")
    if "model.2.weight" in state:
        raise WeightsError(f"{path} was trained with batch norm (--norm batch); ganzoo's CycleGAN uses "
                            f"instance norm. {hint}")
    return state


def reference_shape(state: dict[str, torch.Tensor], where) -> tuple[int, int, int]:
    """(channels, width, n_blocks) of a reference ResnetGenerator state dict."""
    width, channels = state["model.1.weight"].shape[:2]
    blocks = sorted({int(m.group(1)) for key in state if (m := re.match(r"model\.(\d+)\.conv_block\.", key))})
    if blocks != list(range(10, 10 + len(blocks))) or not blocks:
        raise WeightsError(f"{where}: residual blocks at layers {blocks or 'none'}, where a ResnetGenerator has "
                            f"them from layer 10 on; it is not a reference CycleGAN generator")
    last = state.get(f"model.{10 + len(blocks) + 7}.weight")
    if last is None or last.shape[0] != channels:
        raise WeightsError(f"{where}: the output layer model.{10 + len(blocks) + 7} is missing or does not give "
                            f"back the {channels} input channels; ganzoo's CycleGAN translates between domains "
                            f"with the same channels")
    return int(channels), int(width), len(blocks)


@hookimpl
def register_variants(register):
    register(CycleGAN)
