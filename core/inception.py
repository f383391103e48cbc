"""Inception features for the usual FID, where Inception's weights are at hand.

The judge (core/judge.py) measures digits offline; the FID papers report uses Inception v3.
Its weights cannot be downloaded here, so this is an option: give ``ganzoo eval`` a local
copy of torchvision's ImageNet Inception v3 file (``inception_v3_google-0cc3c7bd.pth``, what
``torchvision.models.inception_v3(weights="IMAGENET1K_V1")`` downloads into the torch hub
cache) with ``--inception-weights PATH`` or ``GANZOO_INCEPTION_WEIGHTS``, and it adds the
Frechet distance in Inception's 2048-d pool features. The figures compare among ganzoo runs;
they are close to, not identical with, the TensorFlow-Inception FID of papers (different
weights export and resizing).

On CPU it is slow: Inception reads 299x299 images, 0.27 s each on one thread of the project's
machine, so 10,000 samples and 10,000 real images take about 1.5 hours. It is meant for a GPU.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F

from .errors import UserError

ENV = "GANZOO_INCEPTION_WEIGHTS"
TORCHVISION_FILE = "inception_v3_google-0cc3c7bd.pth"
SIDE = 299


class InceptionError(UserError):
    pass


def inception_weights_path(explicit: str | os.PathLike | None = None) -> Path | None:
    """The weights file to use: the flag, else the environment variable, else none (skip)."""
    chosen = explicit or os.environ.get(ENV)
    return Path(chosen).expanduser() if chosen else None


class InceptionFeatures(torch.nn.Module):
    """Images in [-1, 1] (any size, grey or RGB) -> Inception v3's 2048-d pool features."""

    def __init__(self, network: torch.nn.Module):
        super().__init__()
        network.fc = torch.nn.Identity()  # the pool features, not the ImageNet logits
        self.network = network.eval()

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        images = images.float()
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        # Google's Inception weights read pixels scaled to [-1, 1], as ours already are.
        images = F.interpolate(images, size=(SIDE, SIDE), mode="bilinear", align_corners=False)
        return self.network(images)


def load_inception(path: str | os.PathLike, device="cpu") -> InceptionFeatures:
    from torchvision.models import Inception3

    path = Path(path)
    if not path.is_file():
        raise InceptionError(f"no Inception weights at {path}. Copy torchvision's {TORCHVISION_FILE} there "
                             f"(from a machine with a network: torchvision.models.inception_v3("
                             f"weights='IMAGENET1K_V1') saves it in the torch hub cache), or leave "
                             f"--inception-weights and {ENV} unset to skip the Inception FID.")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise InceptionError(f"{path} cannot be read as Inception weights ({error}); download "
                             f"{TORCHVISION_FILE} again") from None
    network = Inception3(aux_logits=any(k.startswith("AuxLogits.") for k in state), init_weights=False,
                         transform_input=False)
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as error:
        first = str(error).splitlines()[0]
        raise InceptionError(f"{path} does not hold torchvision's Inception v3 weights ({first}); use "
                             f"{TORCHVISION_FILE}") from None
    return InceptionFeatures(network).to(device)


@torch.no_grad()
def inception_features(model: InceptionFeatures, batches, batch_size: int = 50) -> torch.Tensor:
    device = next(model.parameters()).device
    features = [model(part.to(device)).cpu() for images in batches for part in images.split(batch_size)]
    return torch.cat(features)
