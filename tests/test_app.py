"""The Gradio app, launched on a free local port and called through gradio_client: every
registered variant's tab answers on /<variant name>."""

import sys
import threading
import types

import pytest
from ganzoo import testing, ui
from ganzoo.plugins.dcgan import DCGAN
from ganzoo.registry import registry
from ganzoo.variant import ImageInput
from ganzoo.weights import save_weights
from gradio_client import Client, handle_file
from PIL import Image
from served_app import served

NAMES = sorted(registry())


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """Weights of each variant's tiny config after two training steps, one folder each."""
    folders = {}
    for name in NAMES:
        root = tmp_path_factory.mktemp(name)
        ctx, _ = testing.trained_context(registry()[name].variant, root)
        folders[name] = save_weights(root / "weights", ctx.variant, ctx.nets)
    return folders


@pytest.fixture(scope="module")
def client(tiny_weights, tmp_path_factory):
    monkeypatch = pytest.MonkeyPatch()
    for name, folder in tiny_weights.items():
        monkeypatch.setenv(f"GANZOO_WEIGHTS_{name.upper()}", str(folder))
    monkeypatch.setattr(ui, "MODELS", ui.ModelCache())  # no model cached by another test
    from ganzoo.app import build_app

    demo = build_app()
    with served(demo) as url:
        yield Client(url, verbose=False, download_files=str(tmp_path_factory.mktemp("dl")))
    monkeypatch.undo()


def test_every_variant_has_an_endpoint(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    for name in NAMES:
        assert f"/{name}" in endpoints


@pytest.mark.parametrize("name", NAMES)
def test_endpoint_returns_an_image_and_says_where_the_weights_came_from(client, name, tiny_weights, tmp_path):
    variant = registry()[name].variant(registry()[name].variant.tiny_config())
    arguments, values = [], testing.input_values(variant)
    for spec in ui.api_order(variant.inputs())[0]:  # the inputs before the model; those after it default
        value = values[spec.name]
        if isinstance(spec, ImageInput):
            value.save(tmp_path / f"{spec.name}.png")
            value = handle_file(str(tmp_path / f"{spec.name}.png"))
        arguments.append(value)
    image_path, weights = client.predict(*arguments, api_name=f"/{name}")
    image = Image.open(image_path)
    assert image.size[0] > 0 and image.mode in ("L", "RGB", "RGBA")
    assert str(tiny_weights[name]) in weights


def test_a_tab_without_trained_weights_says_so(monkeypatch):
    from ganzoo.registry import get_variant
    from ganzoo.weights import random_model

    model = random_model(get_variant("dcgan"))
    assert "untrained, random weights" in ui.weights_line(model)
    monkeypatch.delenv("GANZOO_WEIGHTS_DCGAN", raising=False)
    assert "loaded on first use" in ui.weights_line(variant_class=get_variant("dcgan"))


def test_building_the_app_loads_no_weights(monkeypatch):
    from ganzoo.app import build_app

    monkeypatch.setattr(ui, "load_variant_model", lambda *a, **k: pytest.fail("weights loaded at start"))
    assert build_app() is not None


# --------------------------------------------------------------------------- a crowd


def test_the_queue_is_bounded_and_heavy_tabs_run_one_at_a_time():
    from ganzoo.app import QUEUE_SIZE, build_app

    demo = build_app()
    assert demo._queue.max_size == QUEUE_SIZE
    limits = {fn.api_name: fn.concurrency_limit for fn in demo.fns.values() if fn.api_name in NAMES}
    assert set(limits) == set(NAMES)
    for name, limit in limits.items():
        takes_an_image = any(isinstance(spec, ImageInput) for spec in registry()[name].variant().inputs())
        assert limit == (1 if takes_an_image else ui.LIGHT_CONCURRENCY), name
    assert ui.LIGHT_CONCURRENCY > 1 and limits["dcgan"] > 1 and limits["cyclegan"] == 1


def test_a_slow_load_on_one_tab_does_not_hold_up_another(monkeypatch):
    """One lock per variant: while dcgan's weights load (held here until released), gan's load
    goes ahead; and dcgan is loaded once however many callers ask for it at the same time."""
    from ganzoo.registry import get_variant

    release, loads = threading.Event(), []

    def load(variant_class, *args):
        loads.append(variant_class.name)
        if variant_class.name == "dcgan":
            release.wait(timeout=30)
        return variant_class.name

    monkeypatch.setattr(ui, "load_variant_model", load)
    cache = ui.ModelCache()
    slow = [threading.Thread(target=cache.get, args=(get_variant("dcgan"),)) for _ in range(3)]
    for thread in slow:
        thread.start()
    other = threading.Thread(target=cache.get, args=(get_variant("gan"),))
    other.start()
    other.join(timeout=20)
    gan_loaded_while_dcgan_loads = not other.is_alive() and not release.is_set()
    release.set()
    for thread in slow:
        thread.join()
    assert gan_loaded_while_dcgan_loads
    assert sorted(loads) == ["dcgan", "gan"] and cache.get(get_variant("dcgan")) == "dcgan"


# --------------------------------------------------------------------------- plugins that fail


class BrokenNetworks(DCGAN):
    name = "broken_networks"
    title = "Broken networks"
    bundled = None

    def build_networks(self):
        raise RuntimeError("no kernels for this layer")


class BrokenInputs(DCGAN):
    name = "broken_inputs"
    title = "Broken inputs"

    def inputs(self):
        raise KeyError("seed")


@pytest.mark.filterwarnings("ignore::ganzoo.weights.RandomWeightsWarning")
def test_a_variant_whose_networks_fail_shows_its_tab_and_a_message_naming_the_plugin(monkeypatch, tmp_path):
    import gradio as gr
    from ganzoo.app import build_app
    from ganzoo.registry import Registration

    monkeypatch.setattr(ui, "MODELS", ui.ModelCache())
    variants = {"broken_networks": Registration(BrokenNetworks, "broken-nets-plugin"),
                "broken_inputs": Registration(BrokenInputs, "broken-inputs-plugin"),
                "dcgan": registry()["dcgan"]}
    demo = build_app(variants)  # starts, with every tab
    assert {fn.api_name for fn in demo.fns.values()} >= {"broken_networks", "dcgan"}
    texts = " ".join(str(block.value) for block in demo.blocks.values() if isinstance(block, gr.Markdown))
    assert "broken_inputs** (plugin `broken-inputs-plugin`) could not build its tab: KeyError" in texts

    action = ui.make_action(BrokenNetworks, BrokenNetworks().inputs(), output_folder=tmp_path,
                            plugin="broken-nets-plugin")
    with pytest.raises(gr.Error, match=r"variant 'broken_networks' from plugin 'broken-nets-plugin' could "
                                       r"not be loaded: RuntimeError: no kernels for this layer"):
        action(0, 4, progress=lambda *a, **k: None)


# --------------------------------------------------------------------------- ZeroGPU


class FakeSpaces(types.ModuleType):
    """``spaces`` as ZeroGPU has it: GPU(fn) or GPU(duration=...)(fn); records each call's
    duration and whether a call is running."""

    def __init__(self):
        super().__init__("spaces")
        self.durations, self.seconds, self.inside = [], [], False

    def GPU(self, function=None, duration=60):
        def wrap(fn):
            self.durations.append(duration)

            def run(*args, **kwargs):
                self.seconds.append(duration(*args, **kwargs) if callable(duration) else duration)
                self.inside = True
                try:
                    return fn(*args, **kwargs)
                finally:
                    self.inside = False
            return run
        return wrap if function is None else wrap(function)


def test_zerogpu_holds_the_gpu_as_long_as_the_inputs_need_and_downloads_before(monkeypatch, tiny_weights, tmp_path):
    from ganzoo.plugins import style_transfer
    from ganzoo.registry import get_variant
    from ganzoo.weights import config_without_network

    spaces = FakeSpaces()
    monkeypatch.setitem(sys.modules, "spaces", spaces)
    monkeypatch.setenv("GANZOO_WEIGHTS_STYLE_TRANSFER", str(tiny_weights["style_transfer"]))
    monkeypatch.setattr(ui, "MODELS", ui.ModelCache())
    loaded_inside = []  # for each load: weights, then VGG features (the downloads), on the GPU's time?
    load_model, load_features = ui.load_variant_model, style_transfer.load_feature_extractor
    monkeypatch.setattr(ui, "load_variant_model", lambda *a: (loaded_inside.append(spaces.inside), load_model(*a))[1])
    monkeypatch.setattr(style_transfer, "load_feature_extractor",
                        lambda config: (loaded_inside.append(spaces.inside), load_features(config))[1])

    variant_class = get_variant("style_transfer")
    specs = variant_class(config_without_network(variant_class)).inputs()
    action = ui.make_action(variant_class, specs, tmp_path / "out")
    photo = tmp_path / "photo.png"
    testing.test_image(size=48).save(photo)
    values = {"content": str(photo), "style": str(photo), "style_preset": style_transfer.GATYS, "size": 64,
              "steps": 10, "style_weight": 10}
    image, _ = action(*[values[spec.name] for spec in specs], progress=lambda *a, **k: None)
    assert Image.open(image).size == (56, 48)  # 54x48, its sides made multiples of 4
    assert loaded_inside == [False, False]
    assert callable(spaces.durations[0]) and 20 <= spaces.seconds[0] < 60  # a short run asks for little

    big = {**values, "content": Image.new("RGB", (1600, 1200)), "size": 1024, "steps": 1000}
    assert spaces.durations[0](big, None) > 60  # ZeroGPU's default would stop it partway

    dcgan = ui.make_action(get_variant("dcgan"), get_variant("dcgan")().inputs(), tmp_path / "out")
    assert dcgan is not None and spaces.durations[-1](dict(seed=0, n=4), None) == 60
