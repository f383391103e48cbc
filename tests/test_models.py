"""Several models per variant (ganzoo.models): the tab's picker lists them, the API and
`--weights NAME` take one by name or slug, `ganzoo list` shows them, and the weights line
names the model that answered."""

from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from ganzoo import models, testing, ui
from ganzoo.app import build_app
from ganzoo.cli import main
from ganzoo.plugins.dcgan import DCGAN
from ganzoo.registry import registry
from ganzoo.variant import Variant
from ganzoo.weights import WeightsError, load_model, parse_spec, save_weights
from gradio_client import Client
from PIL import Image
from served_app import served


@pytest.fixture
def tiny_run(tmp_path, monkeypatch):
    """Weights of a tiny DCGAN, offered as the model "tiny run" while the test runs."""
    monkeypatch.delenv("GANZOO_WEIGHTS_DCGAN", raising=False)
    ctx, _ = testing.trained_context(DCGAN, tmp_path / "train")
    folder = save_weights(tmp_path / "tiny-run", ctx.variant, ctx.nets)
    model = models.add_model(DCGAN, "tiny run", folder)
    try:
        yield model
    finally:
        models.remove_model("dcgan", folder)


def test_a_variant_lists_its_shipped_models_then_those_added(tiny_run):
    assert list(models.models_of(DCGAN)) == ["MNIST digits", "Emoji", "tiny run"]
    assert models.find_model(DCGAN, "mnist-digits").name == "MNIST digits"
    assert models.find_model(DCGAN, "Tiny Run").name == "tiny run"  # by slug
    assert models.find_model(DCGAN, "emoji").name == "Emoji" and models.find_model(DCGAN, "zebras") is None
    again = models.add_model(DCGAN, "tiny run", tiny_run.folder)  # the same folder: the same model
    assert again == tiny_run and list(models.models_of(DCGAN)) == ["MNIST digits", "Emoji", "tiny run"]


def test_a_third_party_that_declares_only_bundled_offers_it_as_bundled(tmp_path):
    class OnlyBundled(DCGAN):
        name = "only_bundled"
        bundled = DCGAN.bundled

    class OnlyModels(DCGAN):
        name = "only_models"
        models = {"Digits": DCGAN.bundled}

    class Nothing(DCGAN):
        name = "nothing"

    assert list(models.models_of(OnlyBundled)) == ["bundled"]
    assert OnlyModels.bundled_weights() == Path(str(DCGAN.bundled))  # the first model is the default
    assert models.models_of(Nothing) == {} and Nothing.bundled_weights() is None
    assert Variant.bundled_models() == {}


def test_the_tab_has_a_picker_of_the_models(tiny_run):
    demo = build_app({"dcgan": registry()["dcgan"]})
    pickers = [block for block in demo.blocks.values() if isinstance(block, gr.Dropdown) and block.label == "Model"]
    assert len(pickers) == 1
    assert [value for _, value in pickers[0].choices] == ["MNIST digits", "Emoji", "tiny run"]
    assert pickers[0].value == "MNIST digits"


def test_a_default_entry_heads_the_picker_where_an_explicit_choice_answers_first(tiny_run, monkeypatch):
    monkeypatch.setenv("GANZOO_WEIGHTS_DCGAN", str(tiny_run.folder))
    labels = [label for label, _ in ui.model_choices(DCGAN)]
    assert labels[0].startswith("default: ") and str(tiny_run.folder) in labels[0]
    assert labels[1:] == ["MNIST digits", "Emoji", "tiny run"]


@pytest.fixture
def client(tiny_run, tmp_path, monkeypatch):
    monkeypatch.setattr(ui, "MODELS", ui.ModelCache())
    demo = build_app({"dcgan": registry()["dcgan"]})
    with served(demo) as url:
        yield Client(url, verbose=False, download_files=str(tmp_path / "downloads"))


def test_choosing_a_model_changes_the_weights_line_and_the_images(client, tiny_run):
    default_image, default_line = client.predict(1, 4, api_name="/dcgan")  # the model left out: the first
    bundled_image, bundled_line = client.predict(1, 4, "MNIST digits", api_name="/dcgan")
    tiny_image, tiny_line = client.predict(1, 4, "tiny run", api_name="/dcgan")
    assert 'model "MNIST digits"' in default_line and 'model "MNIST digits"' in bundled_line
    assert 'model "tiny run"' in tiny_line and "bundled" not in tiny_line
    pixels = [np.asarray(Image.open(path)) for path in (default_image, bundled_image, tiny_image)]
    assert np.array_equal(pixels[0], pixels[1])
    assert pixels[0].shape != pixels[2].shape or not np.array_equal(pixels[0], pixels[2])


def test_an_unknown_model_through_the_api_is_refused_with_the_models_listed(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=r"dcgan has no model 'zebras'; choose one of 'MNIST digits', 'Emoji', 'tiny run'"):
        client.predict(1, 4, "zebras", api_name="/dcgan")


def test_a_model_trained_again_is_loaded_again(tiny_run, tmp_path, monkeypatch):
    """The Train tab resumes a run in the same folder: the cache must not keep the old weights."""
    cache = ui.ModelCache()
    first = cache.get(DCGAN, model="tiny run")
    assert cache.get(DCGAN, model="tiny run") is first
    ctx, _ = testing.trained_context(DCGAN, tmp_path / "again", steps=3)
    save_weights(tiny_run.folder, ctx.variant, ctx.nets)
    config = tiny_run.folder / "config.json"
    stat = config.stat()
    import os

    os.utime(config, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # a coarse clock: make the write visible
    assert cache.get(DCGAN, model="tiny run") is not first


# --------------------------------------------------------------------------- the command line


def test_weights_takes_a_model_name_or_its_slug(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GANZOO_WEIGHTS_DCGAN", raising=False)
    monkeypatch.chdir(tmp_path)
    outputs = {}
    for spec in ("MNIST digits", "mnist-digits", None):
        out = tmp_path / f"{spec}.png"
        assert main(["sample", "dcgan", *(["--weights", spec] if spec else []), "-n", "4", "-o", str(out)]) == 0
        assert 'weights: weights bundled with ganzoo, model "MNIST digits"' in capsys.readouterr().err
        outputs[spec] = np.asarray(Image.open(out))
    assert np.array_equal(outputs["MNIST digits"], outputs[None])
    assert np.array_equal(outputs["mnist-digits"], outputs[None])


def test_an_unknown_name_lists_the_models(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["sample", "dcgan", "--weights", "zebras", "-o", str(tmp_path / "x.png")]) == 2
    error = capsys.readouterr().err
    assert "'zebras' is neither an existing folder, nor a model of dcgan (\"MNIST digits\", \"Emoji\"" in error
    assert not (tmp_path / "x.png").exists()


def test_a_folder_comes_before_a_model_and_a_model_before_the_hub(tmp_path, monkeypatch, tiny_run):
    monkeypatch.chdir(tmp_path)
    assert parse_spec("mnist-digits", DCGAN).name == "MNIST digits"
    (tmp_path / "mnist-digits").mkdir()
    assert parse_spec("mnist-digits", DCGAN) == Path("mnist-digits")  # the path rule first
    assert parse_spec("hf://user/name", DCGAN) == ("user/name", None)
    assert parse_spec("user/name", DCGAN) == ("user/name", None)  # no model of that name: the Hub
    assert parse_spec("TINY RUN", DCGAN).folder == tiny_run.folder  # its slug
    with pytest.raises(WeightsError, match="nor a model of dcgan"):
        load_model(DCGAN, "no such model")


def test_list_shows_each_variants_models(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "MODELS" in lines[0]
    dcgan = next(line for line in lines if line.startswith("dcgan "))
    assert '"MNIST digits"' in dcgan
    cyclegan = next(line for line in lines if line.startswith("cyclegan "))
    assert '"UCI digits to MNIST"' in cyclegan


def test_picking_a_model_offers_its_own_classes():
    """The conditional GAN's class picker follows the model: digits, then the emoji categories."""
    from ganzoo.plugins.cgan import CGAN

    label = next(spec for spec in CGAN(CGAN.tiny_config()).inputs() if spec.name == "label")
    emoji, digits = (ui.choice_updates(CGAN, [label], chosen)[0] for chosen in ("Emoji", "MNIST digits"))
    emoji_values, digit_values = ([value for _, value in update["choices"]] for update in (emoji, digits))
    assert "flags" in emoji_values and "3" not in emoji_values and emoji["value"] == "all"
    assert "3" in digit_values and "flags" not in digit_values
    assert ui.choice_updates(CGAN, [label], ui.DEFAULT_MODEL)[0]["choices"] == digits["choices"]
