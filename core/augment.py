"""DiffAugment (Zhao, Liu, Lin, Zhu and Han 2020, "Differentiable Augmentation for
Data-Efficient GAN Training", https://arxiv.org/abs/2006.10738).

With few training images a discriminator memorises them, and the generator learns from a
judge that no longer generalises. DiffAugment augments every image the discriminator sees,
real and generated, in both the discriminator's and the generator's updates, with
transformations that are differentiable, so the generator's gradients pass through them:

- ``color``: per image, brightness + U(-0.5, 0.5), saturation x U(0, 2) around the pixel's
  grey value, contrast x U(0.5, 1.5) around the image's mean (images in [-1, 1]);
- ``translation``: a shift of up to 1/8 of each side, the uncovered border zero;
- ``cutout``: a square of half each side, centred anywhere in the image, set to zero.

``install_diffaugment`` applies a policy to the named networks' first input with a forward
pre-hook, only while the network is in training mode: the variants need no code, the
state_dict keys stay as they are, and previews and evaluations (in eval mode) see the images
as they are. The random draws come from the global torch RNG of the images' device, which
the training loop seeds and checkpoints, so a resumed run stays exact.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .errors import UserError

TRANSLATION_RATIO = 1 / 8
CUTOUT_RATIO = 1 / 2


def _uniform(images: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """One draw per image, shaped (N, 1, 1, 1), in the images' dtype and device."""
    draw = torch.rand(images.size(0), 1, 1, 1, device=images.device, dtype=images.dtype)
    return draw * (high - low) + low


def brightness(images: torch.Tensor) -> torch.Tensor:
    return images + _uniform(images, -0.5, 0.5)


def saturation(images: torch.Tensor) -> torch.Tensor:
    grey = images.mean(dim=1, keepdim=True)
    return (images - grey) * _uniform(images, 0.0, 2.0) + grey


def contrast(images: torch.Tensor) -> torch.Tensor:
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return (images - mean) * _uniform(images, 0.5, 1.5) + mean


def color(images: torch.Tensor) -> torch.Tensor:
    return contrast(saturation(brightness(images)))


def translation(images: torch.Tensor, ratio: float = TRANSLATION_RATIO) -> torch.Tensor:
    """Each image moved by whole pixels, up to ``ratio`` of each side either way (independently
    in x and y), the uncovered border zero."""
    n, _, h, w = images.shape
    shift_y, shift_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-shift_y, shift_y + 1, (n, 1, 1), device=images.device)
    dx = torch.randint(-shift_x, shift_x + 1, (n, 1, 1), device=images.device)
    # Output pixel (y, x) reads input pixel (y - dy, x - dx), which lies in the zero border
    # when it falls outside the image.
    rows = torch.arange(h, device=images.device).view(1, h, 1) - dy + shift_y
    columns = torch.arange(w, device=images.device).view(1, 1, w) - dx + shift_x
    padded = F.pad(images, (shift_x, shift_x, shift_y, shift_y))
    batch = torch.arange(n, device=images.device).view(n, 1, 1)
    return padded.permute(0, 2, 3, 1)[batch, rows, columns].permute(0, 3, 1, 2)


def cutout(images: torch.Tensor, ratio: float = CUTOUT_RATIO) -> torch.Tensor:
    """A square of ``ratio`` of each side, centred on a random pixel of each image, zeroed (it
    may overlap the border, and then less of it is inside)."""
    n, _, h, w = images.shape
    size_y, size_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h, (n, 1, 1), device=images.device) - size_y // 2
    left = torch.randint(0, w, (n, 1, 1), device=images.device) - size_x // 2
    rows = torch.arange(h, device=images.device).view(1, h, 1)
    columns = torch.arange(w, device=images.device).view(1, 1, w)
    inside = (rows >= top) & (rows < top + size_y) & (columns >= left) & (columns < left + size_x)
    return images * (~inside).unsqueeze(1).to(images.dtype)


POLICIES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "color": color, "translation": translation, "cutout": cutout}
FULL_POLICY = ",".join(POLICIES)  # the paper's choice for few images: "color,translation,cutout"


def parse_policy(policy: str) -> list[Callable[[torch.Tensor], torch.Tensor]]:
    """ "color,translation,cutout" (any of them, in the order given) -> their functions; an
    empty policy is none. An unknown name is a UserError that lists the known ones."""
    names = [name.strip() for name in policy.split(",") if name.strip()]
    unknown = [name for name in names if name not in POLICIES]
    if unknown:
        raise UserError(f"unknown DiffAugment polic{'ies' if len(unknown) > 1 else 'y'} "
                        f"{', '.join(map(repr, unknown))}; known: {', '.join(POLICIES)} "
                        f"(comma-separated, e.g. --diffaugment {FULL_POLICY})")
    return [POLICIES[name] for name in names]


def diff_augment(images: torch.Tensor, policy: str | list) -> torch.Tensor:
    """``images`` (N, C, H, W) through each transformation of ``policy`` in turn."""
    functions = parse_policy(policy) if isinstance(policy, str) else policy
    for function in functions:
        images = function(images)
    return images


def augmented_network_names(variant, nets: dict) -> tuple[str, ...]:
    """The networks whose inputs DiffAugment augments: the variant's ``augmented_networks``,
    or by default every network whose name starts with "discriminator"."""
    declared = type(variant).augmented_networks
    if declared is None:
        return tuple(name for name in nets if name.startswith("discriminator"))
    return tuple(declared)


def setup_diffaugment(variant, nets: dict[str, nn.Module], policy: str) -> list:
    """What training calls once the networks are built: ``policy`` on the variant's augmented
    networks (none for an empty policy). A variant with none is refused, saying why."""
    if not parse_policy(policy):
        return []
    names = augmented_network_names(variant, nets)
    if not names and type(variant).augmented_networks is None:
        raise UserError(f"{variant.name} has no discriminator for --diffaugment to augment (it builds "
                        f"{', '.join(nets)}; DiffAugment applies to networks named discriminator*, or to those "
                        f"a variant lists in augmented_networks). Train it without --diffaugment.")
    if not names:
        raise UserError(f"{variant.name} does not take --diffaugment: it sets augmented_networks = (), as a variant "
                        f"does whose discriminator does not judge plain images. BEGAN's, for one, is an "
                        f"auto-encoder whose reconstruction is compared with its own input: augmenting that input "
                        f"would change what it learns to reconstruct, not only what it sees. Train it without "
                        f"--diffaugment.")
    return install_diffaugment(nets, policy, names)


def install_diffaugment(nets: dict[str, nn.Module], policy: str, names) -> list:
    """Augment the first input of each network in ``names`` with ``policy`` whenever it runs in
    training mode. Returns the hooks' handles (``handle.remove()`` undoes it); an empty policy
    or no names install nothing."""
    functions = parse_policy(policy)
    missing = [name for name in names if name not in nets]
    if missing:
        raise ValueError(f"augmented_networks names {missing}, which build_networks does not build "
                         f"(it builds {sorted(nets)})")

    def hook(module: nn.Module, args: tuple):
        if not module.training or not args:
            return None
        images = args[0]
        if not isinstance(images, torch.Tensor) or images.dim() != 4:
            raise ValueError(f"DiffAugment expects images (N, C, H, W) as the first input of {type(module).__name__}, "
                             f"not {getattr(images, 'shape', type(images).__name__)}")
        return (diff_augment(images, functions), *args[1:])

    return [nets[name].register_forward_pre_hook(hook) for name in names] if functions else []
