"""CycleGAN's tab: the input beside the output, and examples to try in one click (the digits
and test emoji that ship with the plugin, the model's own kind first)."""

import dataclasses
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from ganzoo import testing, ui
from ganzoo.plugins.cyclegan import CycleGAN
from ganzoo.registry import registry
from ganzoo.weights import load_model
from gradio_client import Client, handle_file
from PIL import Image
from served_app import served


@pytest.fixture(scope="module")
def app():
    from ganzoo.app import build_app

    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.delenv("GANZOO_WEIGHTS_CYCLEGAN", raising=False)  # the bundled weights
    monkeypatch.setattr(ui, "MODELS", ui.ModelCache())
    demo = build_app({"cyclegan": registry()["cyclegan"]})
    with served(demo) as url:
        yield demo, url
    monkeypatch.undo()


def test_the_tab_returns_the_input_and_its_translation(app, tmp_path):
    _, url = app
    client = Client(url, verbose=False, download_files=str(tmp_path / "dl"))
    photo = tmp_path / "photo.png"
    testing.test_image(size=40).save(photo)
    shown = client.predict(handle_file(str(photo)), api_name="/cyclegan_image")
    translated, weights = client.predict(handle_file(str(photo)), "a2b", api_name="/cyclegan")
    assert np.array_equal(np.asarray(Image.open(shown).convert("RGB")), np.asarray(Image.open(photo)))
    expected = load_model(CycleGAN).generate(image=str(photo)).images[0]
    assert np.array_equal(np.asarray(Image.open(translated)), np.asarray(expected))
    assert "UCI digits to MNIST" in weights


def test_the_input_and_the_result_sit_side_by_side(app):
    demo, _ = app
    images = {block.label: block for block in demo.blocks.values() if isinstance(block, gr.Image)}
    assert images["Image"].parent is images["Result"].parent
    assert isinstance(images["Result"].parent, gr.Row)


def grey():
    """A CycleGAN of grey images, as the digit model: its examples start with the digits."""
    return CycleGAN(dataclasses.replace(CycleGAN.tiny_config(), channels=1))


def test_examples_ship_with_the_plugin_and_are_small():
    shipped = [Path(example["image"]) for example in grey().examples()][:3]
    assert [path.name for path in shipped] == ["uci-digit-2.png", "uci-digit-5.png", "uci-digit-7.png"]
    for path in shipped:
        assert path.stat().st_size < 2000 and Image.open(path).size == (28, 28)


def test_examples_add_the_first_image_of_a_folder_and_of_each_sub_folder(tmp_path, monkeypatch):
    for name in ("cats/b.png", "cats/a.png", "dogs/c.png", "top.png"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        testing.test_image(size=8).save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    monkeypatch.setenv("GANZOO_EXAMPLES_CYCLEGAN", str(tmp_path))
    names = [Path(example["image"]).relative_to(tmp_path).as_posix() for example in grey().examples()[3:]]
    assert names == ["top.png", "cats/a.png", "dogs/c.png"]
    monkeypatch.setenv("GANZOO_EXAMPLES_CYCLEGAN", str(tmp_path / "missing"))
    assert len(grey().examples()) == 3


def test_the_test_emoji_ship_one_per_category_and_lead_for_a_colour_model(monkeypatch):
    monkeypatch.delenv("GANZOO_EXAMPLES_CYCLEGAN", raising=False)
    emoji = [Path(example["image"]) for example in grey().examples()[3:]]
    assert len(emoji) == 9 and len({path.name.split("-1")[0].split("-0")[0] for path in emoji}) == 9
    for path in emoji:
        assert path.stat().st_size < 5000 and Image.open(path).size == (64, 64)
    colour = CycleGAN(dataclasses.replace(CycleGAN.tiny_config(), channels=3)).examples()
    assert [example["image"] for example in colour] == [str(p) for p in emoji] + [
        example["image"] for example in grey().examples()[:3]]


def test_a_click_on_an_example_fills_the_inputs_then_translates(app):
    demo, _ = app
    dataset = next(block for block in demo.blocks.values() if isinstance(block, gr.Dataset))
    assert [Path(row[0]).name for row in dataset.samples[:3]] == ["uci-digit-2.png", "uci-digit-5.png",
                                                                  "uci-digit-7.png"]
    loads = [fn for fn in demo.fns.values() if any(target[0] == dataset._id for target in fn.targets)]
    assert len(loads) == 1
    runs = [fn for fn in demo.fns.values() if fn.trigger_after == loads[0]._id]
    assert len(runs) == 1 and [block.label for block in runs[0].outputs][:1] == ["Result"]
    assert runs[0].fn.__name__ == "cyclegan"  # the tab's own action


def test_the_directions_are_named_after_the_models_domains():
    from ganzoo.weights import load_folder

    emoji = next(s for s in load_folder(CycleGAN.models["Emoji"]).variant.inputs() if s.name == "direction")
    assert "a2b: Twemoji to Noto; b2a: Noto to Twemoji" in emoji.help
    # the app shows the names, and sends the value the API and the CLI take
    assert ui.shown_choices(emoji) == [("Twemoji to Noto", "a2b"), ("Noto to Twemoji", "b2a")]
    plain = next(s for s in CycleGAN(CycleGAN.tiny_config()).inputs() if s.name == "direction")
    assert "a2b: A to B" in plain.help


def test_a_shipped_example_names_the_model_it_is_for(monkeypatch):
    monkeypatch.delenv("GANZOO_EXAMPLES_CYCLEGAN", raising=False)
    examples = CycleGAN(CycleGAN.tiny_config()).examples()
    for example in examples:
        expected = "Emoji" if Path(example["image"]).name.startswith("twemoji-") else "UCI digits to MNIST"
        assert example["model"] == expected
