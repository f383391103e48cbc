"""The Compare tab: one seed and one dataset give every noise-to-image model's grid (built-in
and third-party), each under the figures of its eval.json and its training budget."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from ganzoo import compare_tab, ui
from ganzoo.plugins.dcgan import DCGAN
from ganzoo.registry import Registration, registry
from ganzoo.weights import random_model, save_weights
from gradio_client import Client
from PIL import Image
from served_app import served


class ZebraGAN(DCGAN):  # a third party's variant; its models are made by the fixture
    name = "zebra_gan"
    title = "Zebra GAN"
    bundled = None
    models = {}


def grey_and_colour_models(root):
    """Two tiny weights folders of the throwaway variant: grey ones measured and trained as a
    Train tab run records it, colour ones with nothing recorded."""
    folders = {}
    for channels in (1, 3):
        torch.manual_seed(channels)
        model = random_model(ZebraGAN, "cpu", dataclasses.replace(ZebraGAN.tiny_config(), channels=channels))
        folders[channels] = save_weights(root / f"c{channels}", model.variant, model.nets)
    (folders[1] / "eval.json").write_text(json.dumps({"fd": 12.5, "classifier_is": 7.25}))
    (folders[1] / "run.json").write_text(json.dumps({"settings": {"batch_size": 8}}))
    (folders[1] / "metrics.jsonl").write_text("".join(json.dumps({"step": s}) + "\n" for s in range(1, 41)))
    return folders


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    folders = grey_and_colour_models(tmp_path_factory.mktemp("zebras"))
    ZebraGAN.models = {"Tiny zebras": folders[1], "Colour zebras": folders[3]}
    return {**registry(), "zebra_gan": Registration(ZebraGAN, "zebra-plugin")}


def test_every_noise_to_image_variant_is_listed_with_each_model(variants):
    listed = {(entry.variant_class.name, entry.label) for entry in compare_tab.entries(variants)}
    assert {name for name, _ in listed} == {"gan", "dcgan", "wgan", "wgan_gp", "lsgan", "began", "zebra_gan"}
    assert {"Zebra GAN: Tiny zebras", "Zebra GAN: Colour zebras", "DCGAN: MNIST digits"} <= {label for _, label in listed}


def test_the_budget_comes_from_a_run_folder_or_the_model_card(variants):
    entries = {entry.label: entry for entry in compare_tab.entries(variants)}
    assert compare_tab.budget(entries["Zebra GAN: Tiny zebras"].folder) == \
        {"steps": 40, "batch_size": 8, "initialised_from": None, "steps_in_all_stages": None}
    assert compare_tab.budget(entries["Zebra GAN: Colour zebras"].folder) == \
        {"steps": None, "batch_size": None, "initialised_from": None, "steps_in_all_stages": None}
    # the bundled DCGAN's card: stage two's 5,000 steps, started from stage one's run (20,000 steps),
    # exported at stage two's step 3,500
    assert compare_tab.budget(DCGAN.bundled_weights()) == {"steps": 5000, "batch_size": 64, "initialised_from": "dcgan",
                                                           "steps_in_all_stages": 23500}


@pytest.fixture(scope="module")
def client(variants, tmp_path_factory):
    from ganzoo.app import build_app

    monkeypatch = pytest.MonkeyPatch()
    for name in variants:
        monkeypatch.delenv(f"GANZOO_WEIGHTS_{name.upper()}", raising=False)  # the bundled weights
    monkeypatch.setattr(ui, "MODELS", ui.ModelCache())
    demo = build_app({name: variants[name] for name in ("dcgan", "cyclegan", "zebra_gan")})
    with served(demo) as url:
        yield Client(url, verbose=False, download_files=str(tmp_path_factory.mktemp("dl")))
    monkeypatch.undo()


def test_mnist_shows_each_grey_model_under_its_figures(client, variants):
    gallery, summary = client.predict("MNIST", 3, api_name="/compare")
    captions = {item["caption"].split(" | ")[0]: item for item in gallery}
    assert set(captions) == {"DCGAN: MNIST digits", "Zebra GAN: Tiny zebras"}  # cyclegan translates; colour filtered
    measured = json.loads((DCGAN.bundled_weights() / "eval.json").read_text())
    assert f"FD {measured['fd']:.1f}, IS {measured['classifier_is']:.2f}" in captions["DCGAN: MNIST digits"]["caption"]
    assert "steps 23,500 in stages, batch 64" in captions["DCGAN: MNIST digits"]["caption"]
    zebra = captions["Zebra GAN: Tiny zebras"]
    assert zebra["caption"].startswith("Zebra GAN: Tiny zebras | FD 12.5, IS 7.25 | steps 40, batch 8 | ")
    model = ui.MODELS.get(variants["zebra_gan"].variant, "zebra-plugin", "Tiny zebras")
    expected = model.generate(seed=3, n=16).grid()
    assert np.array_equal(np.asarray(Image.open(zebra["image"])), np.asarray(expected))
    parameters = sum(p.numel() for p in model.nets["generator"].parameters())
    assert f"{parameters / 1e6:.2f} M parameters" in zebra["caption"]
    assert "| Zebra GAN: Tiny zebras | 12.5 | 7.25 | 40 | 8 |" in summary


def test_emoji_shows_the_colour_models_and_says_what_was_not_measured(client):
    gallery, summary = client.predict("Emoji", 3, api_name="/compare")
    captions = {item["caption"].split(" | ")[0]: item for item in gallery}
    assert set(captions) == {"DCGAN: Emoji", "Zebra GAN: Colour zebras"}  # the bundled emoji DCGAN, measured
    measured = json.loads((DCGAN.bundled_models()["Emoji"] / "eval.json").read_text())
    assert f"FD {measured['fd']:.1f}, IS {measured['classifier_is']:.2f}" in captions["DCGAN: Emoji"]["caption"]
    zebra = captions["Zebra GAN: Colour zebras"]
    assert zebra["caption"].startswith("Zebra GAN: Colour zebras | not measured | steps unknown, batch - | ")
    assert all(Image.open(item["image"]).mode == "RGB" for item in gallery)
    assert "| Zebra GAN: Colour zebras | - | - | unknown | - |" in summary


def test_a_bad_seed_is_refused(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="seed must be a whole number"):
        client.predict("MNIST", -1, api_name="/compare")


def test_a_model_that_cannot_load_is_named_and_the_others_are_compared(variants, tmp_path, monkeypatch):
    class Broken(ZebraGAN):  # its models are another variant's weights
        name = "broken_gan"
        title = "Broken GAN"
        models = dict(ZebraGAN.models)

    monkeypatch.setattr(ui, "MODELS", ui.ModelCache())
    compare = compare_tab.make_compare({"zebra_gan": variants["zebra_gan"],
                                        "broken_gan": Registration(Broken, "broken-plugin")}, tmp_path)
    gallery, summary = compare("MNIST", 0)
    assert [caption.split(" | ")[0] for _, caption in gallery] == ["Zebra GAN: Tiny zebras"]
    assert "- Broken GAN: Tiny zebras: could not be loaded (" in summary and "not broken_gan weights" in summary
