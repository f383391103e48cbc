"""The weights shipped in weights/<variant>/: every built-in tab works offline out of the box."""

import json

import pytest
from ganzoo.registry import BUILTIN_PLUGINS, registry
from ganzoo.testing import input_values
from ganzoo.weights import load_folder

NO_DEFAULT = {"style_transfer"}  # needs VGG-19, which cannot ship (README)
BUILTIN = [r.variant for r in registry().values() if r.plugin in BUILTIN_PLUGINS]
SHIPPED = [v for v in BUILTIN if v.name not in NO_DEFAULT]


def test_every_builtin_variant_but_style_transfer_is_checked():
    assert {v.name for v in SHIPPED} == {"gan", "dcgan", "wgan", "wgan_gp", "lsgan", "began", "cgan", "cyclegan"}


@pytest.mark.parametrize("variant_class", SHIPPED, ids=lambda v: v.name)
def test_bundled_weights_load_and_generate_with_a_card_and_figures(variant_class):
    folder = variant_class.bundled_weights()
    model = load_folder(folder)
    assert not model.is_random
    images = model.generate(**input_values(model.variant)).images
    assert images and all(image.size[0] > 0 for image in images)
    assert (folder / "README.md").read_text().startswith("---")  # a model card with its metadata
    figures = json.loads((folder / "eval.json").read_text())
    assert figures["samples"] >= 1000
