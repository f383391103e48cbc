"""Neural style transfer: Gatys et al. 2016 for any style, and Johnson et al. 2016's
feed-forward network trained for one style, optionally sharpened by an adversarial loss.

Two modes, picked by the ``style_preset`` input:

- "any style (Gatys)": optimise the output image, starting from the content photo, so that
  its VGG-19 features match the photo's (content loss, conv4_2) and its Gram matrices match
  the style image's (conv1_1 ... conv5_1). L-BFGS for ``steps`` iterations, reported through
  ``progress``. It needs no trained network, so the default (untrained) model works.
- a preset: a transformer network (instance norm, 5 residual blocks, upsample-then-convolve
  decoder) trained on photos toward one style with
  ``ganzoo train style_transfer --data photos/ --style-image painting.jpg``. One forward
  pass, no style image.

Presets: a trained model is its preset. Training names it after the style image
(``style_name``, kept in config.json), and ``inputs()`` offers that name beside the Gatys
mode, as the default. Load one with ``--weights RUN`` or GANZOO_WEIGHTS_STYLE_TRANSFER. The
untrained default model has no ``style_name``, so only the Gatys mode is offered, and
``generate`` refuses a preset on random weights.

VGG-19 weights (Gatys inference and the training losses) are found in this order:
  1. GANZOO_VGG19_WEIGHTS=/path/model.safetensors, a local file with torchvision's
     ``features.*`` keys (an error if it is not there, never a fallback);
  2. ``model.safetensors`` of the Hub repo GANZOO_VGG19_REPO, else the config's
     ``vgg19_repo`` (timm/vgg19.tv_in1k), downloaded once and then read from the Hub cache.
     When the Hub does not answer, that is known in one request, not after a round of
     retries; a failure is remembered for 10 minutes, so later clicks get the message at once.
Failing both, VGGWeightsError says how to provide them: style transfer never runs on random
features. Only an explicit ``feature_network="tiny-random"`` (the tests' tiny config) selects a
small seeded random network in VGG's shape.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from ganzoo.api import (
    Choice,
    DataRole,
    Generated,
    ImageInput,
    Progress,
    Slider,
    UserError,
    Variant,
    WeightsError,
    bce_d_loss,
    bce_g_loss,
    gram_matrix,
    hookimpl,
    no_progress,
    step,
    total_variation,
)
from torch import nn

GATYS = "any style (Gatys)"
DEFAULT_VGG19_REPO = "timm/vgg19.tv_in1k"
VGG19_FILE = "model.safetensors"
VGG19_WEIGHTS_ENV = "GANZOO_VGG19_WEIGHTS"
VGG19_REPO_ENV = "GANZOO_VGG19_REPO"
FEATURE_NETWORKS = ("vgg19", "tiny-random")
# Gram matrices divided by C*H*W are small: the style loss is scaled so that style_weight 1
# is the balance of PyTorch's fast-neural-style example (style 1e10 against content 1e5).
STYLE_SCALE = 1e5
GATYS_STYLE_WEIGHT = 10.0  # 1e6 against content 1: PyTorch's neural-style tutorial
# How long a ZeroGPU call may hold the GPU (gpu_seconds). An L-BFGS step evaluates VGG-19
# (forward, and backward to the image) 2.5 times on average (measured over 40 steps); one
# evaluation is ~1.5 TFLOP per megapixel, ~0.03 s at the ~50 TFLOP/s an H200 sustains in
# float32. Estimated from these counts with margin, not measured on a GPU.
GPU_EVALUATIONS_PER_STEP = 3
GPU_SECONDS_PER_MEGAPIXEL_EVALUATION = 0.03
GPU_SECONDS_OVERHEAD = 20  # moving the networks to the GPU, CUDA's first kernels
STYLE_ROLE = DataRole("style_image", "the style image: an image file (or a folder of images, whose "
                                     "styles are mixed)")
CONTENT_ROLE = DataRole("data", "content photos to train on: a folder of images (COCO, or any photos)")


@dataclass
class StyleTransferConfig:
    image_size: int = 256  # training: content photos are resized and centre-cropped to this square
    style_size: int = 256  # training: the style image likewise (its shorter side)
    width: int = 32  # the transformer's first layer; it widens to 2x and 4x this
    residual_blocks: int = 5
    style_name: str = ""  # the preset's name; training fills it from the style image's file name
    feature_network: str = "vgg19"  # "tiny-random": a seeded random stand-in, for tests only
    vgg19_repo: str = DEFAULT_VGG19_REPO  # Hub repo id[@revision] holding torchvision-named features
    content_layer: str = "conv4_2"  # Gatys's content layer
    train_content_layer: str = "conv2_2"  # Johnson et al.'s: keeps more of the photo's detail
    style_layers: tuple[str, ...] = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
    content_weight: float = 1.0
    style_weight: float = 1.0  # times STYLE_SCALE
    tv_weight: float = 0.0  # total variation: smooths high-frequency artefacts
    adversarial_weight: float = 0.0  # > 0 adds a patch discriminator on crops of the style image
    lr: float = 1e-3
    d_lr: float = 2e-4
    d_betas: tuple[float, float] = (0.5, 0.999)


class VGGWeightsError(WeightsError):
    """The VGG-19 feature weights could not be had; the message says how to provide them."""


# --------------------------------------------------------------------------- feature network
# torchvision's vgg19().features, layer for layer, so its state-dict keys are the file's:
# features.0 is conv1_1, features.1 its ReLU, features.4 a max-pool, ... features.34 conv5_4.

VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
             512, 512, 512, 512, "M")
TINY_CFG = tuple(v if v == "M" else v // 16 for v in VGG19_CFG)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def layer_indices(cfg=VGG19_CFG) -> dict[str, int]:
    """"conv4_2" -> the index of that convolution's ReLU in the Sequential. Like Gatys et al.
    (whose Caffe model rectifies in place), a layer's features are its rectified outputs."""
    names, block, number, index = {}, 1, 0, 0
    for value in cfg:
        if value == "M":
            block, number, index = block + 1, 0, index + 1
        else:
            number += 1
            names[f"conv{block}_{number}"] = index + 1
            index += 2
    return names


def vgg_layers(cfg, depth: int) -> nn.Sequential:
    """The first ``depth`` modules of a VGG feature stack built from ``cfg``."""
    layers: list[nn.Module] = []
    channels = 3
    for value in cfg:
        if value == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, value, 3, padding=1), nn.ReLU()]
            channels = value
    return nn.Sequential(*layers[:depth])


class FeatureExtractor(nn.Module):
    """Images in [0, 1] -> {layer name: features}, ImageNet-normalised first. Frozen."""

    def __init__(self, layers: nn.Sequential, indices: dict[str, int], source: str):
        super().__init__()
        self.layers = layers
        self.indices = indices
        self.source = source  # where the weights came from, in words
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def forward(self, images: torch.Tensor, names) -> dict[str, torch.Tensor]:
        wanted = {self.indices[name]: name for name in names}
        x = (images - self.mean) / self.std
        found = {}
        for index, layer in enumerate(self.layers[:max(wanted) + 1]):
            x = layer(x)
            if index in wanted:
                found[wanted[index]] = x
        return found


def needed_layers(config) -> list[str]:
    return [config.content_layer, config.train_content_layer, *config.style_layers]


def load_feature_extractor(config) -> FeatureExtractor:
    """The feature network the config names, on the CPU: VGG-19 with its ImageNet weights, or
    (only when asked for by name) the tests' tiny random one."""
    if config.feature_network == "tiny-random":
        indices = layer_indices(TINY_CFG)
        layers = vgg_layers(TINY_CFG, max(indices[n] for n in needed_layers(config)) + 1)
        generator = torch.Generator().manual_seed(0)
        for module in layers:
            if isinstance(module, nn.Conv2d):  # torchvision's VGG initialisation, seeded
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu", generator=generator)
                nn.init.zeros_(module.bias)
        return FeatureExtractor(layers, indices, "tiny random stand-in (tests only)")
    indices = layer_indices(VGG19_CFG)
    layers = vgg_layers(VGG19_CFG, max(indices[n] for n in needed_layers(config)) + 1)
    path, source = vgg19_file(config)
    load_vgg19_features(layers, path)
    return FeatureExtractor(layers, indices, source)


def _how_to_get_vgg(repo: str) -> str:
    return (f"Download them once with network access: `hf download {repo} {VGG19_FILE}` (later runs "
            f"read the Hub cache offline), or set {VGG19_WEIGHTS_ENV}=/path/to/{VGG19_FILE}, a file with "
            f"torchvision's vgg19 `features.*` tensors. Style transfer does not run on random features.")


# A failed download is not tried again on every click for this long: without a network,
# huggingface_hub retries for about 24 s before it gives up.
VGG_RETRY_AFTER_SECONDS = 600
HUB_PROBE_TIMEOUT_SECONDS = 3
_vgg_failures: dict[str, tuple[float, str]] = {}  # Hub spec -> (when, the message)


def _hub_answers() -> bool:
    """Whether the Hub answers one request at all (any HTTP status), within a few seconds."""
    from huggingface_hub import constants
    from huggingface_hub.utils import get_session

    try:
        get_session().head(constants.ENDPOINT, timeout=HUB_PROBE_TIMEOUT_SECONDS, follow_redirects=False)
    except Exception:  # refused, unresolvable, timed out: whatever it is, no download will work
        return False
    return True


def vgg19_file(config) -> tuple[Path, str]:
    """The local safetensors file of VGG-19's weights and where it came from, in words.

    A copy in the Hub cache is used without a request. Otherwise the Hub is asked once: when it
    does not answer, or the download fails, the same message comes at once on later calls (for
    VGG_RETRY_AFTER_SECONDS), instead of another round of retries; a copy that appears in the
    cache meanwhile (`hf download`) is used at the next call."""
    import time

    from huggingface_hub import constants, try_to_load_from_cache

    local = os.environ.get(VGG19_WEIGHTS_ENV)
    if local:
        path = Path(local).expanduser()
        if not path.is_file():
            raise VGGWeightsError(f"{VGG19_WEIGHTS_ENV}={local} is not a file. Point it at a {VGG19_FILE} "
                                  f"with torchvision's vgg19 `features.*` tensors (such as "
                                  f"`hf download {DEFAULT_VGG19_REPO} {VGG19_FILE}` gives), or unset it to "
                                  f"use the Hub.")
        return path, f"{path} (from {VGG19_WEIGHTS_ENV})"
    spec = os.environ.get(VGG19_REPO_ENV) or config.vgg19_repo
    repo_id, _, revision = spec.partition("@")
    cached = try_to_load_from_cache(repo_id, VGG19_FILE, revision=revision or None)
    if isinstance(cached, str):
        return Path(cached), f"Hub repo {spec}"
    failed = _vgg_failures.get(spec)
    if failed is not None and time.monotonic() - failed[0] < VGG_RETRY_AFTER_SECONDS:
        raise VGGWeightsError(failed[1])
    try:
        if not constants.is_offline_mode() and not _hub_answers():
            raise VGGWeightsError(f"Style transfer needs VGG-19 weights, which are not available: the Hub "
                                  f"({constants.ENDPOINT}) cannot be reached and no copy of {repo_id}'s "
                                  f"{VGG19_FILE} is cached. {_how_to_get_vgg(repo_id)}")
        from ganzoo.api import download_file

        path = download_file(repo_id, VGG19_FILE, revision or None,
                             purpose="Style transfer needs VGG-19 weights, which are not available",
                             hint=_how_to_get_vgg(repo_id), error=VGGWeightsError)
    except VGGWeightsError as error:
        _vgg_failures[spec] = (time.monotonic(), str(error))
        raise
    _vgg_failures.pop(spec, None)
    return path, f"Hub repo {spec}"


def load_vgg19_features(layers: nn.Sequential, path: Path) -> None:
    """Load ``layers`` strictly from the ``features.*`` tensors of a safetensors file."""
    from safetensors import safe_open

    expected = {f"features.{key}": value for key, value in layers.state_dict().items()}
    try:
        with safe_open(str(path), framework="pt", device="cpu") as file:
            missing = sorted(set(expected) - set(file.keys()), key=lambda k: (int(k.split(".")[1]), k))
            if missing:
                raise VGGWeightsError(
                    f"{path} lacks VGG-19 feature tensors: {', '.join(missing[:8])}"
                    f"{' ...' if len(missing) > 8 else ''} ({len(missing)} missing). It must hold torchvision's "
                    f"vgg19 `features.*` keys (features.0.weight ... features.34.bias), as "
                    f"{DEFAULT_VGG19_REPO}'s {VGG19_FILE} does.")
            tensors = {key: file.get_tensor(key) for key in expected}
    except VGGWeightsError:
        raise
    except Exception as error:  # safetensors raises its own types for a damaged header
        raise VGGWeightsError(f"{path} is not a readable safetensors file ({error}). Download it again: "
                              f"`hf download {DEFAULT_VGG19_REPO} {VGG19_FILE} --force-download`.") from None
    wrong = [f"{key}: file {tuple(tensors[key].shape)}, VGG-19 {tuple(value.shape)}"
             for key, value in expected.items() if tensors[key].shape != value.shape]
    if wrong:
        raise VGGWeightsError(f"{path} is not VGG-19: tensors of the wrong shape: {', '.join(wrong[:4])}")
    layers.load_state_dict({key.removeprefix("features."): value.float() for key, value in tensors.items()},
                           strict=True)


# --------------------------------------------------------------------------- networks


class ConvLayer(nn.Sequential):
    """(Upsample x2,) reflection pad, convolution, instance norm (, ReLU). Johnson et al.'s
    decoder upsamples then convolves (Odena et al. 2016: no checkerboard artefacts)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, upsample: bool = False,
                 relu: bool = True):
        layers: list[nn.Module] = [nn.Upsample(scale_factor=2, mode="nearest")] if upsample else []
        # No bias: the instance norm that follows removes any per-channel constant.
        layers += [nn.ReflectionPad2d(kernel // 2), nn.Conv2d(c_in, c_out, kernel, stride, bias=False),
                   nn.InstanceNorm2d(c_out, affine=True)]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(ConvLayer(channels, channels, 3), ConvLayer(channels, channels, 3, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class TransformerNet(nn.Module):
    """Johnson et al. 2016: photo (N, 3, H, W) in [-1, 1] -> stylised photo, same size (H and W
    multiples of 4). Two stride-2 convolutions down, residual blocks, two upsamplings back."""

    def __init__(self, width: int = 32, residual_blocks: int = 5):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            ConvLayer(3, w, 9), ConvLayer(w, 2 * w, 3, stride=2), ConvLayer(2 * w, 4 * w, 3, stride=2),
            *[ResidualBlock(4 * w) for _ in range(residual_blocks)],
            ConvLayer(4 * w, 2 * w, 3, upsample=True), ConvLayer(2 * w, w, 3, upsample=True),
            nn.ReflectionPad2d(4), nn.Conv2d(w, 3, 9), nn.Tanh(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PatchDiscriminator(nn.Module):
    """Crops in [-1, 1] -> a map of logits, one per overlapping patch: tells crops of the style
    image from crops of stylised photos."""

    def __init__(self, width: int = 32):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(3, w, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(2 * w, 4 * w, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(4 * w, 1, 3, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# --------------------------------------------------------------------------- losses


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], the range the feature network's normalisation expects."""
    return (images + 1) / 2


def style_loss(found: dict, target_grams: dict) -> torch.Tensor:
    """Summed over layers: the mean squared difference of Gram matrices."""
    return sum(F.mse_loss(gram_matrix(found[name]), target.expand(len(found[name]), -1, -1))
               for name, target in target_grams.items())


def random_crops(images: torch.Tensor, size: int, n: int | None = None) -> torch.Tensor:
    """``n`` random square crops from random images of the batch; by default one per image."""
    height, width = images.shape[-2:]
    index = torch.arange(len(images)) if n is None else torch.randint(len(images), (n,))
    tops = torch.randint(height - size + 1, (len(index),)).tolist()
    lefts = torch.randint(width - size + 1, (len(index),)).tolist()
    return torch.stack([images[i, :, t:t + size, l:l + size] for i, t, l in zip(index.tolist(), tops, lefts)])


def gatys(features: FeatureExtractor, content: torch.Tensor, style: torch.Tensor, content_layer: str,
          style_layers, steps: int, style_weight: float, content_weight: float = 1.0,
          progress: Progress = no_progress) -> tuple[torch.Tensor, list[dict]]:
    """Gatys et al. 2016: optimise an image, starting from ``content``, so that its
    ``content_layer`` features match the content's and its Gram matrices on ``style_layers``
    match the style's. Images are (1, 3, H, W) in [0, 1]; the style may have another size.
    Returns the image and, for each L-BFGS step, the losses it started from."""
    with torch.no_grad():
        target = features(content, [content_layer])[content_layer]
        grams = {name: gram_matrix(f) for name, f in features(style, style_layers).items()}
    image = content.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
    optimizer = torch.optim.LBFGS([image], lr=1, max_iter=1, max_eval=20, line_search_fn="strong_wolfe")
    evaluations: list[dict] = []

    def closure():
        optimizer.zero_grad()
        found = features(image, [content_layer, *style_layers])
        loss_content = F.mse_loss(found[content_layer], target)
        loss_style = style_loss(found, grams)
        loss = content_weight * loss_content + style_weight * STYLE_SCALE * loss_style
        loss.backward()
        evaluations.append({"content": loss_content.item(), "style": loss_style.item(), "total": loss.item()})
        return loss

    history = []
    for i in range(steps):
        first = len(evaluations)
        optimizer.step(closure)  # evaluates the image it starts from first, then line-searches
        with torch.no_grad():
            image.clamp_(0, 1)
        history.append(evaluations[first])
        progress((i + 1) / steps, f"any style (Gatys): step {i + 1}/{steps}")
    return image.detach(), history


# --------------------------------------------------------------------------- images


def _open(value, what: str):
    """A PIL image (the app) or a path (the CLI) -> an RGB PIL image."""
    from ganzoo.api import convert_mode, open_image
    from PIL import Image

    if isinstance(value, (str, os.PathLike)):
        value = open_image(value)
    if not isinstance(value, Image.Image):
        raise UserError(f"the {what} must be an image or the path of one, not {type(value).__name__}")
    return convert_mode(value, 3)


def content_image(value, size: int):
    """The content image at the output's size: the longest side at most ``size`` (never
    enlarged), both sides multiples of 4 for the transformer's down- and upsampling."""
    from ganzoo.api import fit_within

    image = fit_within(_open(value, "content image"), int(size), multiple=4)
    if min(image.size) < 16:
        raise UserError(f"the content image is {image.width}x{image.height} at this size; it needs at "
                         f"least 16 pixels a side")
    return image


def style_image(value, side: int):
    """The style image scaled (up or down) so its longest side is ``side``: brush strokes then
    keep their size relative to the output."""
    from PIL import Image

    image = _open(value, "style image")
    scale = side / max(image.size)
    size = (max(16, round(image.width * scale)), max(16, round(image.height * scale)))
    return image if size == image.size else image.resize(size, Image.Resampling.BICUBIC)


# --------------------------------------------------------------------------- the variant


class StyleTransfer(Variant):
    name = "style_transfer"
    title = "Neural style transfer"
    paper = ("Gatys, Ecker, Bethge: Image Style Transfer Using Convolutional Neural Networks, CVPR 2016, "
             "https://openaccess.thecvf.com/content_cvpr_2016/html/Gatys_Image_Style_Transfer_CVPR_2016_paper.html; "
             "Johnson, Alahi, Fei-Fei: Perceptual Losses for Real-Time Style Transfer and Super-Resolution, "
             "ECCV 2016, https://arxiv.org/abs/1603.08155")
    description = ("Repaints a photo in the style of a painting. **Any style (Gatys)**: upload both; the "
                   "photo is optimised so its VGG-19 features keep its layout while their correlations "
                   "(Gram matrices) take on the painting's textures: one VGG pass per step, so it takes a "
                   "while. **A trained preset (Johnson)**: a network trained for one style repaints a photo "
                   "in one pass; train one with `ganzoo train style_transfer --data photos/ --style-image "
                   "painting.jpg` and load it with `--weights`. `--adversarial-weight` adds a "
                   "discriminator on crops of the painting to the perceptual losses.")
    Config = StyleTransferConfig
    pipeline_tag = "image-to-image"
    default_batch_size = 4  # Johnson et al.'s
    untrained_mode = "any-style (Gatys) mode only; train a style to add a one-pass preset"
    inference_networks = ("generator",)
    data_roles = (CONTENT_ROLE, STYLE_ROLE)
    inference_needs_grad = True
    tags = ("style-transfer", "image-to-image")

    def __init__(self, config=None):
        super().__init__(config)
        c = self.config
        if c.feature_network not in FEATURE_NETWORKS:
            raise UserError(f"feature_network must be one of {', '.join(FEATURE_NETWORKS)}, "
                             f"not {c.feature_network!r}")
        known = layer_indices()
        unknown = [name for name in needed_layers(c) if name not in known]
        if unknown:
            raise UserError(f"unknown VGG-19 layers {unknown}; the layers are {', '.join(known)}")
        if c.image_size % 4 or min(c.image_size, c.style_size) < 16:
            raise UserError(f"image_size must be a multiple of 4 and image_size and style_size at least 16, "
                             f"not {c.image_size} and {c.style_size}")

    @classmethod
    def tiny_config(cls):
        return StyleTransferConfig(image_size=16, style_size=16, width=4, residual_blocks=2,
                                   feature_network="tiny-random", tv_weight=0.1, adversarial_weight=0.1)

    def card_metadata(self) -> dict:
        return {"style_name": self.config.style_name} if self.config.style_name else {}

    # ---- the feature network, loaded once per cache ------------------------------------------
    def feature_extractor(self, device, cache: dict) -> FeatureExtractor:
        """The frozen feature network, loaded once into ``cache`` (``model.extras`` at inference)."""
        if "features" not in cache:
            cache["features"] = load_feature_extractor(self.config)
        return cache["features"].to(device)

    def _training_cache(self) -> dict:
        return self.__dict__.setdefault("_feature_cache", {})

    # ---- training ------------------------------------------------------------------------
    def prepare_data(self, sources):
        from ganzoo.api import load_images

        c = self.config
        # Load the feature network first: without VGG-19 weights, fail before anything else.
        self.feature_extractor("cpu", self._training_cache())
        if not c.style_name:
            c.style_name = Path(sources[STYLE_ROLE.name]).expanduser().stem or "trained style"
        return {CONTENT_ROLE.name: load_images(sources[CONTENT_ROLE.name], c.image_size, 3),
                STYLE_ROLE.name: load_images(sources[STYLE_ROLE.name], c.style_size, 3)}

    def build_networks(self):
        c = self.config
        nets = {"generator": TransformerNet(c.width, c.residual_blocks)}
        if c.adversarial_weight > 0:
            nets["discriminator"] = PatchDiscriminator(c.width)
        return nets

    def build_optimizers(self, nets):
        c = self.config
        optimizers = {"generator": torch.optim.Adam(nets["generator"].parameters(), lr=c.lr)}
        if "discriminator" in nets:
            optimizers["discriminator"] = torch.optim.Adam(nets["discriminator"].parameters(), lr=c.d_lr,
                                                           betas=tuple(c.d_betas))
        return optimizers

    def train_step(self, ctx):
        c = self.config
        G = ctx.nets["generator"]
        features = self.feature_extractor(ctx.device, self._training_cache())
        content = ctx.next_batch(CONTENT_ROLE.name)["image"]
        style = ctx.next_batch(STYLE_ROLE.name)["image"]
        with torch.no_grad(), ctx.autocast():
            target = features(to_unit(content), [c.train_content_layer])[c.train_content_layer].float()
            grams = {name: gram_matrix(f).mean(0, keepdim=True)  # several style images: mixed
                     for name, f in features(to_unit(style), c.style_layers).items()}
        with ctx.autocast():
            stylised = G(content)
            found = features(to_unit(stylised), [c.train_content_layer, *c.style_layers])
        loss_content = F.mse_loss(found[c.train_content_layer].float(), target)
        loss_style = style_loss(found, grams)
        loss_g = c.content_weight * loss_content + c.style_weight * STYLE_SCALE * loss_style
        figures = {"loss_content": loss_content.detach(), "loss_style": loss_style.detach()}
        if c.tv_weight > 0:
            loss_tv = total_variation(to_unit(stylised.float()))
            loss_g = loss_g + c.tv_weight * loss_tv
            figures["loss_tv"] = loss_tv.detach()
        if c.adversarial_weight > 0:
            D = ctx.nets["discriminator"]
            size = min(c.image_size, c.style_size) // 2
            fake = random_crops(stylised, size)
            real = random_crops(style, size, len(fake))
            with ctx.autocast():
                loss_d = bce_d_loss(D(real), D(fake.detach()))
            step(ctx.optimizers["discriminator"], loss_d)
            with ctx.autocast():
                loss_adv = bce_g_loss(D(fake))
            loss_g = loss_g + c.adversarial_weight * loss_adv
            figures.update(loss_d=loss_d.detach(), loss_adversarial=loss_adv.detach())
        step(ctx.optimizers["generator"], loss_g)
        return {"loss_g": loss_g.detach(), **figures}

    def preview(self, nets, batches, seed=0):
        """Pairs of (content photo, stylised photo), side by side."""
        content = batches[CONTENT_ROLE.name]["image"][:8]
        with torch.no_grad():
            stylised = nets["generator"](content)
        return torch.stack([content, stylised.to(content.dtype)], dim=1).flatten(0, 1)

    # ---- inference -----------------------------------------------------------------------
    def presets(self) -> list[str]:
        return [GATYS] + ([self.config.style_name] if self.config.style_name else [])

    def inputs(self):
        presets = self.presets()
        return [
            ImageInput("content", "Content image", "The photo to repaint."),
            ImageInput("style", "Style image", "The painting whose style to copy (Gatys mode; a trained "
                       "style needs none).", optional=True),
            Choice("style_preset", "Style", f"{GATYS}: copy the style image's style by optimisation; a "
                   f"trained style: one pass, no style image needed.", default=presets[-1], choices=presets),
            Slider("size", "Output size", "The longest side in pixels; larger images are scaled down, "
                   "smaller ones kept.", 512, 64, 1024, 32),
            Slider("steps", "Steps", "Gatys mode: L-BFGS steps, one VGG-19 pass or more each; more match "
                   "the style more closely.", 300, 10, 1000, 10),
            Slider("style_weight", "Style weight", "Gatys mode: higher favours the painting's textures over "
                   "the photo's layout.", GATYS_STYLE_WEIGHT, 0, 100, 0.5),
        ]

    def output_size(self, values):
        values = self.check_inputs(values)
        return content_image(values["content"], values["size"]).size

    # ---- ZeroGPU (ganzoo.ui): what to fetch before the GPU is held, and for how long to hold it
    def prepare_inference(self, model, values: dict) -> None:
        """Load VGG-19 (a download on first use) onto the CPU before the GPU's timed call."""
        if values.get("style_preset", GATYS) == GATYS:
            self.feature_extractor("cpu", model.extras)

    def gpu_seconds(self, values: dict) -> float:
        """Seconds of GPU for these (checked) values: Gatys grows with steps x output pixels
        (1000 steps at 1024 px needs ~115 s, over ZeroGPU's 60 s default); a preset is one pass."""
        if values.get("style_preset", GATYS) != GATYS or values.get("content") is None:
            return GPU_SECONDS_OVERHEAD
        width, height = values["content"].size if hasattr(values["content"], "size") else (values["size"],) * 2
        scale = min(1.0, values["size"] / max(width, height))
        megapixels = width * height * scale * scale / 1e6
        return GPU_SECONDS_OVERHEAD + (values["steps"] * GPU_EVALUATIONS_PER_STEP * megapixels
                                       * GPU_SECONDS_PER_MEGAPIXEL_EVALUATION)

    def generate(self, model, progress: Progress = no_progress, content=None, style=None,
                 style_preset: str = GATYS, size: int = 512, steps: int = 300,
                 style_weight: float = GATYS_STYLE_WEIGHT) -> Generated:
        from ganzoo.api import to_pil, to_tensor

        # Model.generate has checked every value against inputs(): sizes and steps are in bounds.
        photo = content_image(content, size)
        if style_preset != GATYS:
            self._check_preset(model, style_preset)
            progress(0.0, f"{style_preset}: one pass")
            with torch.no_grad():
                result = model.nets["generator"](to_tensor(photo, 3).unsqueeze(0).to(model.device))[0]
            progress(1.0, f"{style_preset}: done")
            return Generated([to_pil(result)])
        if style is None:
            raise UserError(f"the {GATYS} mode needs a style image: upload one (CLI: --style PAINTING.jpg), "
                             f"or pick a trained style preset")
        painting = style_image(style, max(photo.size))
        c = self.config
        progress(0.0, f"loading the {c.feature_network} feature network")
        features = self.feature_extractor(model.device, model.extras)
        with torch.enable_grad():
            result, _ = gatys(features, to_unit(to_tensor(photo, 3).unsqueeze(0).to(model.device)),
                              to_unit(to_tensor(painting, 3).unsqueeze(0).to(model.device)),
                              c.content_layer, c.style_layers, int(steps), float(style_weight),
                              c.content_weight, progress)
        return Generated([to_pil(result[0] * 2 - 1)])

    def _check_preset(self, model, preset: str) -> None:
        # Model.generate has checked that preset is one of presets().
        if model.is_random:
            raise UserError(f"style preset {preset!r} needs a trained style network, and this model has "
                             f"{model.source}. Use {GATYS!r} with a style image, or load a trained style "
                             f"with --weights RUN_FOLDER (or GANZOO_WEIGHTS_STYLE_TRANSFER).")


@hookimpl
def register_variants(register):
    register(StyleTransfer)
