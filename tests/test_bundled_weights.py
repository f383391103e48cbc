"""The models shipped in plugins/weights/: every built-in tab works offline out of the box, with
its MNIST model and, where it declares one, its emoji model."""

import json

import pytest
from ganzoo.registry import BUILTIN_PLUGINS, registry
from ganzoo.testing import input_values
from ganzoo.weights import load_folder

NO_DEFAULT = {"style_transfer"}  # needs VGG-19, which cannot ship (README)
BUILTIN = [r.variant for r in registry().values() if r.plugin in BUILTIN_PLUGINS]
SHIPPED = [v for v in BUILTIN if v.name not in NO_DEFAULT]
MODELS = [(v, name, folder) for v in SHIPPED for name, folder in v.bundled_models().items()]


def test_every_builtin_variant_but_style_transfer_is_checked():
    assert {v.name for v in SHIPPED} == {"gan", "dcgan", "wgan", "wgan_gp", "lsgan", "began", "cgan", "cyclegan"}
    # every generating tab offers an emoji model beside its digits
    assert {v.name for v, name, _ in MODELS if name == "Emoji"} == {v.name for v in SHIPPED}


@pytest.mark.parametrize(("variant_class", "name", "folder"), MODELS, ids=lambda x: getattr(x, "name", x))
def test_each_shipped_model_loads_and_generates_with_a_card_and_figures(variant_class, name, folder):
    model = load_folder(folder)
    assert not model.is_random and model.variant.name == variant_class.name
    images = model.generate(**input_values(model.variant)).images
    assert images and all(image.size[0] > 0 for image in images)
    card = (folder / "README.md").read_text()
    assert card.startswith("---")  # a model card with its metadata
    figures = json.loads((folder / "eval.json").read_text())
    assert figures["samples"] >= 387  # the emoji test split; 10,000 samples for noise-to-image models
    if "emoji" in folder.name:
        # 64 px, but the MLP GAN's and BEGAN's 32 (the MLP's last layer grows with the pixels; BEGAN's
        # full-resolution convolutions cost four times as much at 64)
        small = folder.name in ("gan-emoji", "began-emoji")
        assert model.variant.config.channels == 3 and model.variant.config.image_size == (32 if small else 64)
        assert figures["judge"] == "emoji" and "CC BY 4.0" in card  # Twemoji asks to be credited
