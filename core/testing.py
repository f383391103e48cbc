"""The conformance suite every variant must pass, importable by plugin authors.

Each check takes a variant class and a temporary folder, uses the variant's
``tiny_config()`` and runs on CPU in seconds. In pytest::

    import pytest
    from . import testing

    @pytest.mark.parametrize("check", testing.CHECKS, ids=lambda c: c.__name__)
    def test_my_variant(check, tmp_path):
        check(MyVariant, tmp_path)

ganzoo's own suite runs every check over every registered variant.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from PIL import Image

from .images import to_pil
from .training import TrainSettings, setup_training, write_samples
from .variant import ImageInput, Model, Seed
from .weights import load_folder, save_weights

RESERVED_INPUT_NAMES = {"weights", "device", "out", "output", "out_dir", "variant", "help"}


def make_image_folder(root: Path, size: int, channels: int, classes=("first", "second"), per_class: int = 6,
                      seed: int = 0) -> Path:
    """Random PNG images in one sub-folder per class: a dataset any variant can load."""
    generator = torch.Generator().manual_seed(seed)
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image = torch.rand(channels, size, size, generator=generator) * 2 - 1
            to_pil(image).save(root / name / f"{i}.png")
    return root


def tiny_sources(variant, tmp_path: Path) -> dict[str, str]:
    """One small image folder per data role of the variant."""
    config = variant.config
    size, channels = getattr(config, "image_size", 16), getattr(config, "channels", 3)
    return {role.name: str(make_image_folder(Path(tmp_path) / f"data-{role.name}", size, channels, seed=i))
            for i, role in enumerate(variant.data_roles)}


def tiny_settings(**overrides) -> TrainSettings:
    values = dict(steps=2, batch_size=4, seed=0, device="cpu", sample_every=10_000, checkpoint_every=10_000)
    return TrainSettings(**{**values, **overrides})


def test_image(size: int = 20, mode: str = "RGB", seed: int = 0) -> Image.Image:
    """A small non-square image with structure, for variants that take an image."""
    generator = torch.Generator().manual_seed(seed)
    image = to_pil(torch.rand(3, size, size + 6, generator=generator) * 2 - 1)
    return image.convert(mode)


def input_values(variant) -> dict:
    """Each input's default, small counts, and a synthetic picture for image inputs."""
    values = {}
    for spec in variant.inputs():
        if isinstance(spec, ImageInput):
            values[spec.name] = test_image(seed=len(values))
        elif spec.name == "n":
            values[spec.name] = 3
        else:
            values[spec.name] = spec.default
    return values


def tiny_context(variant_class, tmp_path: Path):
    """A training context of the variant's tiny config on small random image folders."""
    variant = variant_class(variant_class.tiny_config())
    ctx, _ = setup_training(variant, tiny_sources(variant, tmp_path), tiny_settings())
    return ctx


def trained_context(variant_class, tmp_path: Path, steps: int = 2):
    ctx = tiny_context(variant_class, tmp_path)
    losses = [ctx.variant.train_step(ctx) for _ in range(steps)]
    ctx.step = steps
    return ctx, losses


def model_from_context(ctx) -> Model:
    nets = {name: ctx.nets[name].eval() for name in ctx.variant.inference_networks}
    return Model(ctx.variant, nets, ctx.device, "in memory")


def _as_bytes(images) -> list[bytes]:
    return [image.tobytes() for image in images]


# --------------------------------------------------------------------------- checks


def check_declares_contract(variant_class, tmp_path):
    """Name, title, paper, a config dataclass with a tiny config, sane input names."""
    for attribute in ("name", "title", "paper", "Config"):
        assert getattr(variant_class, attribute, None), f"{variant_class.__name__} lacks `{attribute}`"
    assert variant_class.name == variant_class.name.lower() and " " not in variant_class.name
    variant = variant_class(variant_class.tiny_config())
    names = [spec.name for spec in variant.inputs()]
    assert len(names) == len(set(names)), f"duplicate input names: {names}"
    assert not RESERVED_INPUT_NAMES & set(names), f"inputs use reserved names: {RESERVED_INPUT_NAMES & set(names)}"
    assert set(variant.inference_networks) <= set(variant.build_networks())


def check_training_changes_every_parameter(variant_class, tmp_path):
    """A few training steps give finite losses and move every trainable parameter."""
    ctx = tiny_context(variant_class, tmp_path)
    variant = ctx.variant
    before = {f"{n}.{k}": p.detach().clone() for n, net in ctx.nets.items()
              for k, p in net.named_parameters() if p.requires_grad}
    for _ in range(2):
        losses = variant.train_step(ctx)
        assert losses, "train_step must return the losses it computed"
        for key, value in losses.items():
            assert math.isfinite(float(value)), f"loss {key} is {value}"
    after = {f"{n}.{k}": p.detach() for n, net in ctx.nets.items() for k, p in net.named_parameters()}
    unchanged = [k for k, v in before.items() if torch.equal(v, after[k])]
    assert not unchanged, f"parameters not updated by training: {unchanged}"
    ctx.step = 2
    path = write_samples(Path(tmp_path) / "run", variant, ctx, {r: s.fixed(4) for r, s in ctx.streams.items()})
    assert Image.open(path).size[0] > 0


def check_save_load_gives_identical_outputs(variant_class, tmp_path):
    ctx, _ = trained_context(variant_class, tmp_path)
    original = model_from_context(ctx)
    save_weights(Path(tmp_path) / "weights", ctx.variant, ctx.nets)
    loaded = load_folder(Path(tmp_path) / "weights", "cpu", variant_class)
    values = input_values(ctx.variant)
    assert _as_bytes(original.generate(**values).images) == _as_bytes(loaded.generate(**values).images)


def check_same_seed_same_images(variant_class, tmp_path):
    ctx, _ = trained_context(variant_class, tmp_path)
    model = model_from_context(ctx)
    values = input_values(ctx.variant)
    first = _as_bytes(model.generate(**values).images)
    assert first == _as_bytes(model.generate(**values).images), "the same inputs gave different images"
    if any(isinstance(spec, Seed) for spec in ctx.variant.inputs()):
        other = _as_bytes(model.generate(**{**values, "seed": values["seed"] + 1}).images)
        assert other != first, "a different seed gave the same images"


def check_outputs_are_images_of_declared_size(variant_class, tmp_path):
    ctx, _ = trained_context(variant_class, tmp_path)
    values = input_values(ctx.variant)
    result = model_from_context(ctx).generate(**values)
    assert result.images, "generate returned no images"
    expected = ctx.variant.output_size(values)
    for image in result.images:
        assert isinstance(image, Image.Image)
        assert image.mode in ("L", "RGB"), image.mode
        assert image.size == tuple(expected), f"image of size {image.size}, declared {expected}"
    if result.captions is not None:
        assert len(result.captions) == len(result.images)
    assert result.grid().size[0] >= expected[0]


CHECKS = (
    check_declares_contract,
    check_training_changes_every_parameter,
    check_save_load_gives_identical_outputs,
    check_same_seed_same_images,
    check_outputs_are_images_of_declared_size,
)


def run_all(variant_class, tmp_path) -> None:
    """Every check in order, each in its own sub-folder of ``tmp_path``."""
    for check in CHECKS:
        folder = Path(tmp_path) / check.__name__
        folder.mkdir(parents=True, exist_ok=True)
        check(variant_class, folder)
