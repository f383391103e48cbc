"""Noise-to-image extras: the walk between two seeds (spherical interpolation, as an animation)
and truncation, in the Python API, the CLI and the app."""

import dataclasses

import numpy as np
import pytest
import torch
from ganzoo import ui
from ganzoo.api import UserError
from ganzoo.cli import main
from ganzoo.images import save_animation
from ganzoo.plugins.dcgan import DCGAN
from ganzoo.plugins.gan import GAN
from ganzoo.sampling import noise, slerp, truncate
from ganzoo.weights import random_model, save_weights
from gradio_client import Client
from PIL import Image, ImageSequence
from served_app import served


def pixels(image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


@pytest.fixture(scope="module")
def model():
    """A tiny DCGAN whose noise goes through a mixture of 3 clusters."""
    torch.manual_seed(0)
    return random_model(DCGAN, "cpu", DCGAN.tiny_config())


# --------------------------------------------------------------------------- slerp, truncation


def test_slerp_starts_and_ends_at_the_seeds_noise_and_keeps_to_the_sphere():
    a, b = noise(2, 100, seed=7)
    t = torch.linspace(0, 1, 9)
    path = slerp(a, b, t)
    assert path.shape == (9, 100)
    assert torch.equal(path[0], a) and torch.equal(path[-1], b)
    expected_norms = (1 - t) * a.norm() + t * b.norm()
    assert torch.allclose(path.norm(dim=1), expected_norms, rtol=1e-5)
    cosines = torch.nn.functional.cosine_similarity(path[:-1], path[1:])
    assert torch.allclose(cosines, cosines[0].expand(8), atol=1e-5)  # even steps along the great circle
    straight = (a + b) / 2
    assert straight.norm() < 0.8 * path[4].norm()  # a straight line cuts inside the sphere


def test_slerp_of_a_vector_with_itself_stays_there():
    a = noise(1, 10, seed=1)[0]
    assert torch.allclose(slerp(a, a, torch.linspace(0, 1, 4)), a.expand(4, 10))


def test_truncate_scales_toward_zero_from_start_and_psi_1_is_the_identity():
    z = noise(4, 6, seed=2)
    assert torch.equal(truncate(z, 1.0), z)
    assert torch.allclose(truncate(z, 0.5), z * 0.5)
    kept = truncate(z, 0.5, start=1)
    assert torch.equal(kept[:, 0], z[:, 0]) and torch.allclose(kept[:, 1:], z[:, 1:] * 0.5)


def test_truncation_keeps_a_noise_mixtures_cluster_coordinate(model):
    z = noise(4, model.config.latent_dim, seed=3)
    assert torch.equal(model.variant.truncate(model, z, 0.5)[:, 0], z[:, 0])
    plain = random_model(GAN, "cpu", dataclasses.replace(GAN.tiny_config(), noise_clusters=0))
    assert torch.allclose(plain.variant.truncate(plain, z[:, :plain.config.latent_dim], 0.5),
                          z[:, :plain.config.latent_dim] * 0.5)


def test_truncation_1_draws_the_untruncated_images_and_less_draws_others(model):
    plain = model.generate(seed=5, n=4).images
    assert all(np.array_equal(pixels(x), pixels(y)) for x, y in zip(plain, model.generate(seed=5, n=4, truncation=1.0).images))
    truncated = model.generate(seed=5, n=4, truncation=0.3).images
    assert any(not np.array_equal(pixels(x), pixels(y)) for x, y in zip(plain, truncated))
    with pytest.raises(UserError, match=r"truncation must be between 0.1 and 1"):
        model.generate(seed=5, n=4, truncation=0)


# --------------------------------------------------------------------------- the walk


def test_a_walk_has_its_frames_and_begins_and_ends_at_the_seeds_images(model):
    frames = model.variant.walk(model, seed_a=3, seed_b=4, frames=5)
    assert len(frames) == 5 and frames[0].size == (16, 16)
    for frame, seed in ((frames[0], 3), (frames[-1], 4)):  # one grey level: other batch sizes may round otherwise
        assert np.abs(pixels(frame) - pixels(model.generate(seed=seed, n=1).images[0])).max() <= 1
    assert not np.array_equal(pixels(frames[0]), pixels(frames[-1]))


@pytest.mark.parametrize("frames", [1, 121, 2.5])
def test_a_walk_refuses_frames_out_of_range(model, frames):
    with pytest.raises(UserError, match=r"frames must be between 2 and 120 \(a whole number\)"):
        model.variant.walk(model, seed_a=0, seed_b=1, frames=frames)


def test_an_animation_is_webp_or_gif_by_its_suffix(tmp_path):
    frames = [Image.new("L", (8, 8), shade) for shade in (0, 80, 160, 240)]
    for name in ("a.webp", "a.gif"):
        image = Image.open(save_animation(frames, tmp_path / name))
        assert image.format == name.split(".")[1].upper() and image.n_frames == 4
    with pytest.raises(UserError, match=r"\.webp or \.gif"):
        save_animation(frames, tmp_path / "a.png")


# --------------------------------------------------------------------------- the CLI


@pytest.fixture(scope="module")
def weights(model, tmp_path_factory):
    return save_weights(tmp_path_factory.mktemp("tiny") / "weights", model.variant, model.nets)


def test_the_cli_writes_an_animated_webp_of_n_frames(weights, model, tmp_path):
    out = tmp_path / "walk.webp"
    assert main(["sample", "dcgan", "--weights", str(weights), "--device", "cpu",
                 "--interpolate", "3", "4", "--frames", "6", "--truncation", "0.8", "-o", str(out)]) == 0
    image = Image.open(out)
    assert image.format == "WEBP" and image.is_animated and image.n_frames == 6
    expected = model.variant.walk(model, seed_a=3, seed_b=4, frames=6, truncation=0.8)
    first = next(ImageSequence.Iterator(image)).convert("L")
    assert np.array_equal(pixels(first), pixels(expected[0]))  # lossless


@pytest.mark.parametrize("args, message", [
    (["--interpolate", "1", "2", "--frames", "500"], "frames must be between 2 and 120"),
    (["--interpolate", "1", "2", "--frames", "1"], "frames must be between 2 and 120"),
    (["--frames", "8"], "give the walk's ends with --interpolate"),
    (["--interpolate", "1", "2", "-n", "4"], "leave out -n"),
    (["--interpolate", "1", "2", "-o", "walk.png"], "an animated .webp or .gif"),
])
def test_the_cli_refuses_a_bad_walk_with_a_message(weights, tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)  # where walk.webp, the default output, would go
    assert main(["sample", "dcgan", "--weights", str(weights), "--device", "cpu", *args]) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------- the app


@pytest.fixture(scope="module")
def client(weights, tmp_path_factory):
    from ganzoo.app import build_app
    from ganzoo.registry import registry

    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("GANZOO_WEIGHTS_DCGAN", str(weights))
    monkeypatch.setattr(ui, "MODELS", ui.ModelCache())
    demo = build_app({"dcgan": registry()["dcgan"]})
    with served(demo) as url:
        yield Client(url, verbose=False, download_files=str(tmp_path_factory.mktemp("dl")))
    monkeypatch.undo()


def test_the_tab_animates_a_walk(client, model):
    path, weights_line = client.predict(3, 4, 5, api_name="/dcgan_walk")  # from, to, frames
    image = Image.open(path)
    assert image.format == "WEBP" and image.n_frames == 5 and "local folder" in weights_line
    first = next(ImageSequence.Iterator(image)).convert("L")
    assert first.width >= ui.WALK_SIDE and first.width % 16 == 0  # scaled up by a whole factor
    expected = model.variant.walk(model, seed_a=3, seed_b=4, frames=5)[0].resize(first.size, Image.NEAREST)
    assert np.array_equal(pixels(first), pixels(expected))


def test_truncation_comes_after_the_model_so_older_callers_keep_their_places(client):
    plain, _ = client.predict(1, 4, api_name="/dcgan")
    same, _ = client.predict(1, 4, "default", 1.0, api_name="/dcgan")
    truncated, _ = client.predict(1, 4, "default", 0.3, api_name="/dcgan")
    assert np.array_equal(pixels(Image.open(plain)), pixels(Image.open(same)))
    assert not np.array_equal(pixels(Image.open(plain)), pixels(Image.open(truncated)))


def test_a_plugin_whose_generate_predates_truncation_keeps_working():
    class OldStyle(DCGAN):
        name = "old_style"

        def generate(self, model, progress=None, seed=0, n=16):
            return super().generate(model, progress, seed, n)

    old = random_model(OldStyle, "cpu", OldStyle.tiny_config())
    assert [spec.name for spec in old.variant.inputs()] == ["seed", "n"]
    assert len(old.generate(seed=1, n=2).images) == 2
    assert len(old.variant.walk(old, seed_a=1, seed_b=2, frames=3, truncation=0.5)) == 3
    assert "truncation" in [spec.name for spec in DCGAN().inputs()]
