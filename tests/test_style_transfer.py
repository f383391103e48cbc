"""Style transfer: Gatys optimisation and Johnson training with a tiny random feature network,
VGG-19 weights from a local file or a clear error when there are none, presets that run in
one pass."""

import dataclasses
import socket
import time

import pytest
import torch
from ganzoo import testing
from ganzoo.data import load_images
from ganzoo.errors import UserError
from ganzoo.images import to_pil, to_tensor
from ganzoo.losses import gram_matrix
from ganzoo.plugins.style_transfer import (
    GATYS,
    StyleTransfer,
    VGGWeightsError,
    gatys,
    layer_indices,
    load_feature_extractor,
    to_unit,
)
from ganzoo.training import setup_training
from ganzoo.weights import WeightsError, load_folder, random_model, save_weights
from safetensors.torch import save_file

from ganzoo.plugins import style_transfer


def tiny(**overrides):
    return dataclasses.replace(StyleTransfer.tiny_config(), **overrides)


def stripes(size=32, period=4):
    """A style with an unmistakable texture: diagonal colour stripes in [-1, 1], (3, H, W)."""
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size + 8), indexing="ij")
    phase = ((x + y) // period % 2).float()
    return torch.stack([phase * 2 - 1, 1 - phase * 2, torch.full_like(phase, -0.5)])


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny convolutions on a shared, busy CPU run far faster on one thread than on two that
    wait for each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def no_vgg_env(monkeypatch):
    monkeypatch.delenv(style_transfer.VGG19_WEIGHTS_ENV, raising=False)
    monkeypatch.delenv(style_transfer.VGG19_REPO_ENV, raising=False)
    monkeypatch.setattr(style_transfer, "_vgg_failures", {})  # no failure remembered from another test


# --------------------------------------------------------------------------- Gatys


def test_gatys_lowers_the_losses_and_moves_the_grams_to_the_style():
    config = tiny()
    features = load_feature_extractor(config)
    content = to_unit(to_tensor(testing.test_image(size=32, seed=1), 3).unsqueeze(0))
    style = to_unit(stripes().unsqueeze(0))
    image, history = gatys(features, content, style, config.content_layer, config.style_layers,
                           steps=25, style_weight=10.0)
    assert image.shape == content.shape and 0 <= image.min() and image.max() <= 1
    assert history[-1]["total"] < 0.2 * history[0]["total"]
    assert history[-1]["style"] < 0.2 * history[0]["style"]
    with torch.no_grad():
        target = features(style, config.style_layers)
        before = features(content, config.style_layers)
        after = features(image, config.style_layers)
    for name in config.style_layers:
        start = (gram_matrix(before[name]) - gram_matrix(target[name])).norm()
        end = (gram_matrix(after[name]) - gram_matrix(target[name])).norm()
        # The deepest layers see only a few positions of a 32-pixel image: closer, not close.
        assert end < (0.3 if name in ("conv1_1", "conv2_1", "conv3_1") else 0.9) * start, name


def test_gatys_mode_reports_progress_and_needs_no_trained_network():
    model = random_model(StyleTransfer, config=tiny())  # what the default tab has
    assert model.variant.inputs()[2].choices == [GATYS]
    calls = []
    content, style = testing.test_image(size=24, seed=1), to_pil(stripes())
    result = model.generate(progress=lambda fraction, text="": calls.append(fraction),
                            content=content, style=style, steps=12)
    assert calls == sorted(calls) and calls[-1] == 1.0 and len(set(calls)) >= 12
    assert result.images[0].size == model.variant.output_size({"content": content, "size": 512})
    with pytest.raises(UserError, match="needs a style image"):
        model.generate(content=content)
    with pytest.raises(UserError, match="steps must be between"):
        model.generate(content=content, style=style, steps=0)


def test_output_size_is_the_longest_side_capped_in_multiples_of_4(tmp_path):
    path = tmp_path / "photo.png"
    to_pil(torch.zeros(3, 90, 150)).save(path)  # the CLI passes paths, the app PIL images
    variant = StyleTransfer(tiny())
    assert variant.output_size({"content": str(path), "size": 64}) == (64, 40)
    assert variant.output_size({"content": path, "size": 1024}) == (152, 88)  # never enlarged
    model = random_model(StyleTransfer, config=tiny())
    assert model.generate(content=str(path), style=str(path), size=64, steps=10).images[0].size == (64, 40)


# --------------------------------------------------------------------------- VGG-19 weights


def test_missing_vgg_weights_say_how_to_get_them(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # and nothing is cached (private HF_HOME)
    model = random_model(StyleTransfer)  # the real config: VGG-19 from timm/vgg19.tv_in1k
    with pytest.raises(WeightsError) as error:
        model.generate(content=testing.test_image(), style=testing.test_image(seed=1), steps=10)
    assert isinstance(error.value, VGGWeightsError)
    message = str(error.value)
    assert "not available" in message and "hf download timm/vgg19.tv_in1k model.safetensors" in message
    assert "GANZOO_VGG19_WEIGHTS" in message
    assert "features" not in model.extras  # nothing half-loaded is cached


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


def _clicks(model, n=2):
    """The style transfer tab's action, n times, as far as the VGG-19 weights: the messages."""
    messages = []
    for _ in range(n):
        start = time.perf_counter()
        with pytest.raises(VGGWeightsError) as error:
            model.generate(content=testing.test_image(), style=testing.test_image(seed=1), steps=10)
        messages.append(str(error.value))
        print(f"click {len(messages)}: message after {time.perf_counter() - start:.2f} s")
    return messages


def test_without_vgg_weights_an_unreachable_hub_fails_at_once_and_says_how_to_get_them(monkeypatch):
    """huggingface_hub retries an unreachable Hub for ~24 s, once per file, on every click; the
    tab asks once whether the Hub answers at all, and then remembers."""
    import huggingface_hub
    from huggingface_hub import constants

    downloads = []
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda *a, **k: downloads.append(a) or pytest.fail(
        "a download was tried from a Hub that does not answer"))
    messages = _clicks(random_model(StyleTransfer))
    assert downloads == [] and messages[0] == messages[1]
    assert "cannot be reached" in messages[0] and "hf download timm/vgg19.tv_in1k model.safetensors" in messages[0]
    assert "GANZOO_VGG19_WEIGHTS" in messages[0]


def test_without_vgg_weights_the_hub_is_asked_once_per_process_and_a_later_download_is_used(hub, monkeypatch):
    repo = "test-user/vgg19-elsewhere"
    monkeypatch.setenv(style_transfer.VGG19_REPO_ENV, repo)
    model, before = random_model(StyleTransfer), len(hub.requests)
    messages = _clicks(model, n=1)
    first = hub.requests[before:]
    assert [path for _, path in first if repo in path] and len([p for _, p in first if repo not in p]) == 1  # one probe
    messages += _clicks(model, n=2)
    assert len(hub.requests) == before + len(first)  # remembered: no new request
    assert messages[0] == messages[1] == messages[2] and f"Hub repo {repo} not found" in messages[0]

    # `hf download` puts the file in the cache: the next click uses it, the Hub unasked
    from huggingface_hub import hf_hub_download

    hub.seed(repo, {"model.safetensors": b"not checked here"})
    cached = hf_hub_download(repo, "model.safetensors")
    path, source = style_transfer.vgg19_file(StyleTransfer.Config())
    assert str(path) == cached and repo in source


def test_missing_vgg_weights_stop_training_before_it_starts(monkeypatch, tmp_path):
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    def offline(*args, **kwargs):
        raise LocalEntryNotFoundError("offline")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    variant = StyleTransfer(tiny(feature_network="vgg19"))
    with pytest.raises(VGGWeightsError, match="hf download"):
        variant.prepare_data({"data": "nowhere", "style_image": "nowhere.jpg"})
    monkeypatch.setenv(style_transfer.VGG19_WEIGHTS_ENV, str(tmp_path / "absent.safetensors"))
    with pytest.raises(VGGWeightsError, match="is not a file"):
        variant.prepare_data({"data": "nowhere", "style_image": "nowhere.jpg"})


def test_vgg19_loads_from_a_local_file_with_torchvisions_key_names(monkeypatch, tmp_path):
    from torchvision.models.vgg import cfgs, make_layers

    torch.manual_seed(0)
    reference = make_layers(cfgs["E"]).eval()  # torchvision's vgg19().features, without the classifier
    path = tmp_path / "model.safetensors"
    save_file({f"features.{k}": v for k, v in reference.state_dict().items()}, str(path))
    monkeypatch.setenv(style_transfer.VGG19_WEIGHTS_ENV, str(path))

    features = load_feature_extractor(StyleTransfer.Config())
    image = torch.rand(1, 3, 32, 32)
    normalised = (image - features.mean) / features.std
    with torch.no_grad():
        expected = reference[:layer_indices()["conv4_2"] + 1](normalised)
        assert torch.allclose(features(image, ["conv4_2"])["conv4_2"], expected, atol=1e-5)
    assert str(path) in features.source

    partial = {f"features.{k}": v for k, v in reference.state_dict().items() if not k.startswith("28.")}
    save_file(partial, str(path))
    with pytest.raises(VGGWeightsError, match=r"lacks VGG-19 feature tensors: features\.28\.bias, features\.28\."):
        load_feature_extractor(StyleTransfer.Config())


def test_the_tiny_random_network_is_only_used_when_named():
    assert StyleTransfer.Config().feature_network == "vgg19"
    with pytest.raises(UserError, match="feature_network must be one of"):
        StyleTransfer(tiny(feature_network="random"))


# --------------------------------------------------------------------------- training and presets


def train_tiny(tmp_path, steps, **overrides):
    variant = StyleTransfer(tiny(**overrides))
    style = tmp_path / "stripes.png"
    to_pil(stripes(16, 2)).save(style)  # a single image file as the style source
    content = testing.make_image_folder(tmp_path / "photos", 16, 3, per_class=4)
    ctx, _ = setup_training(variant, {"data": str(content), "style_image": str(style)},
                            testing.tiny_settings(batch_size=4))
    return ctx, [variant.train_step(ctx) for _ in range(steps)]


def test_training_lowers_the_perceptual_losses(tmp_path):
    ctx, losses = train_tiny(tmp_path, 40, adversarial_weight=0.0, tv_weight=0.0)
    assert set(ctx.nets) == {"generator"}  # no discriminator when the adversarial loss is off
    assert ctx.variant.config.style_name == "stripes"
    first = sum(step["loss_g"] for step in losses[:5]) / 5
    last = sum(step["loss_g"] for step in losses[-5:]) / 5
    assert last < 0.5 * first, (first, last)


def test_the_adversarial_loss_trains_a_discriminator(tmp_path):
    ctx, losses = train_tiny(tmp_path, 2, adversarial_weight=0.1)
    assert "discriminator" in ctx.nets and "loss_d" in losses[-1] and "loss_adversarial" in losses[-1]


def test_a_trained_preset_runs_in_one_pass_without_a_style_image(tmp_path, monkeypatch):
    ctx, _ = train_tiny(tmp_path, 2)
    save_weights(tmp_path / "weights", ctx.variant, ctx.nets)
    model = load_folder(tmp_path / "weights", "cpu", StyleTransfer)
    preset = model.variant.inputs()[2]
    assert preset.choices == [GATYS, "stripes"] and preset.default == "stripes"

    def no_features(*args):
        raise AssertionError("a preset must not need the feature network")

    monkeypatch.setattr(style_transfer, "load_feature_extractor", no_features)
    passes = []
    model.nets["generator"].register_forward_hook(lambda *args: passes.append(1))
    photo = tmp_path / "photo.png"
    testing.test_image(size=40).save(photo)
    result = model.generate(content=str(photo), size=64)
    assert passes == [1] and result.images[0].size == model.variant.output_size({"content": photo})

    untrained = random_model(StyleTransfer, config=model.config)  # claims the style, has random weights
    with pytest.raises(UserError, match="needs a trained style network"):
        untrained.generate(content=str(photo), style_preset="stripes")
    with pytest.raises(UserError, match="unknown style preset"):
        model.generate(content=str(photo), style_preset="monet")


def test_a_single_image_file_is_a_dataset_of_one(tmp_path):
    path = tmp_path / "painting.jpg"
    to_pil(stripes()).save(path)
    images = load_images(path, 16, 3)
    assert images.images.shape == (1, 3, 16, 16)
