"""CycleGAN: both directions, awkward input images, the reference implementation's weight
names and checkpoint import, the image pool and the learning-rate schedule across a resume."""

import dataclasses

import pytest
import torch
from ganzoo import testing
from ganzoo.errors import UserError
from ganzoo.images import BadImageError, to_tensor
from ganzoo.plugins.cyclegan import CycleGAN, CycleGANConfig, ResnetGenerator, query_pool
from ganzoo.training import setup_training, train
from ganzoo.weights import WeightsError, load_folder, random_model
from PIL import Image
from safetensors.torch import load_file


def tiny(**overrides) -> CycleGANConfig:
    return dataclasses.replace(CycleGAN.tiny_config(), **overrides)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return random_model(CycleGAN, config=tiny())


# --------------------------------------------------------------------------- inference


def test_both_directions_translate_with_their_own_generator(model):
    image = testing.test_image(size=20)
    a2b = model.generate(image=image, direction="a2b").images
    b2a = model.generate(image=image, direction="b2a").images
    assert len(a2b) == len(b2a) == 1
    assert a2b[0].size == b2a[0].size == model.variant.output_size({"image": image})
    assert a2b[0].tobytes() != b2a[0].tobytes()


def odd_images():
    palette = Image.new("P", (30, 18))
    palette.putpalette([v for i in range(256) for v in (i, 255 - i, i // 2)])
    palette.paste(7, (0, 0, 15, 18))
    rgba = testing.test_image(size=24).convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))
    return {
        "grey": testing.test_image(size=21, mode="L"),
        "rgba": rgba,
        "palette": palette,
        "one_pixel": Image.new("RGB", (1, 1), (200, 10, 10)),
        "very_wide": Image.new("L", (3000, 20), 128),
        "very_tall_16bit": Image.new("I;16", (13, 700), 40000),
    }


@pytest.mark.parametrize("kind", list(odd_images()))
def test_any_image_gives_a_bounded_output_of_the_declared_size(model, kind):
    image = odd_images()[kind]
    result = model.generate(image=image, direction="a2b").images[0]
    max_side = model.config.max_side
    assert result.mode == "L"  # the tiny config is grey
    assert result.size == model.variant.output_size({"image": image})
    assert all(side % 4 == 0 and 8 <= side <= max_side for side in result.size), result.size


def test_images_smaller_than_the_training_size_are_scaled_up_to_it():
    # a UCI digit is 8x8; the bundled model was trained at 28 px
    model = random_model(CycleGAN, config=tiny(image_size=28, max_side=64))
    assert model.generate(image=Image.new("L", (8, 8), 90), direction="a2b").images[0].size == (28, 28)
    assert model.variant.output_size({"image": Image.new("L", (16, 8))}) == (56, 28)
    assert model.variant.output_size({"image": Image.new("L", (40, 36))}) == (40, 36)  # large enough: kept


def test_colour_model_turns_grey_input_into_colour():
    colour = random_model(CycleGAN, config=tiny(channels=3))
    result = colour.generate(image=testing.test_image(mode="L"), direction="b2a").images[0]
    assert result.mode == "RGB"


def test_a_path_is_read_like_an_upload(model, tmp_path):
    image = testing.test_image(size=20)
    image.save(tmp_path / "in.png")
    from_path = model.generate(image=str(tmp_path / "in.png"), direction="a2b").images[0]
    assert from_path.tobytes() == model.generate(image=image, direction="a2b").images[0].tobytes()
    assert model.variant.output_size({"image": tmp_path / "in.png"}) == from_path.size


def test_a_file_that_is_not_an_image_is_a_clear_error(model, tmp_path):
    (tmp_path / "notes.txt").write_text("not a picture")
    with pytest.raises(BadImageError, match="not an image.*PNG, JPEG"):
        model.generate(image=str(tmp_path / "notes.txt"))
    with pytest.raises(UserError, match="upload"):
        model.generate(image=None)


def test_the_input_help_states_the_size_cap():
    help_text = CycleGAN(tiny(max_side=300)).inputs()[0].help
    assert "300 px" in help_text


# --------------------------------------------------------------------------- the reference's weights


def test_generator_weight_names_are_the_reference_implementations():
    keys = list(ResnetGenerator(3, 64, 9).state_dict())
    assert keys[:2] == ["model.1.weight", "model.1.bias"]
    assert "model.10.conv_block.1.weight" in keys and "model.18.conv_block.5.bias" in keys
    assert keys[-2:] == ["model.26.weight", "model.26.bias"]
    assert len(keys) == 48
    assert sum(p.numel() for p in ResnetGenerator(3, 64, 9).parameters()) == 11_378_179  # the reference's 11.378 M


def reference_checkpoint(path, channels=3, width=8, n_blocks=2, prefix="", stale=False, seed=0):
    """A state dict as the authors' code saves it, and the module that made it."""
    torch.manual_seed(seed)
    net = ResnetGenerator(channels, width, n_blocks).eval()
    state = {prefix + key: value for key, value in net.state_dict().items()}
    if stale:  # PyTorch < 0.4 saved running statistics of instance norm layers
        for layer in ("model.2", "model.5", "model.10.conv_block.2"):
            state[f"{prefix}{layer}.running_mean"] = torch.zeros(width)
            state[f"{prefix}{layer}.running_var"] = torch.ones(width)
            state[f"{prefix}{layer}.num_batches_tracked"] = torch.tensor(0)
    torch.save(state, path)
    return net


@pytest.mark.parametrize("prefix, stale", [("", False), ("module.", False), ("module.", True), ("", True)])
def test_import_of_a_published_generator(tmp_path, prefix, stale):
    reference = reference_checkpoint(tmp_path / "horse2zebra.pth", prefix=prefix, stale=stale)
    CycleGAN.import_checkpoint(tmp_path / "horse2zebra.pth", tmp_path / "imported")
    assert sorted(load_file(tmp_path / "imported" / "model.safetensors")) == sorted(
        "generator_ab." + key for key in reference.state_dict())
    model = load_folder(tmp_path / "imported", "cpu", CycleGAN)
    assert (model.config.channels, model.config.width, model.config.n_blocks) == (3, 8, 2)
    assert model.config.directions == "a2b"
    assert [spec.choices for spec in model.variant.inputs() if spec.name == "direction"] == [("a2b",)]

    image = testing.test_image(size=32)
    ours = model.generate(image=image, direction="a2b").images[0]
    with torch.no_grad():
        theirs = reference(to_tensor(model.variant.prepare_image(image), 3).unsqueeze(0))[0]
    assert torch.allclose(to_tensor(ours, 3), theirs, atol=1 / 127.5 + 1e-6)
    with pytest.raises(UserError, match="only A to B.*reverse checkpoint"):
        model.generate(image=image, direction="b2a")


def test_import_of_a_training_runs_pair_gives_both_directions(tmp_path):
    g_a = reference_checkpoint(tmp_path / "latest_net_G_A.pth", channels=1, n_blocks=3, seed=1)
    g_b = reference_checkpoint(tmp_path / "latest_net_G_B.pth", channels=1, n_blocks=3, seed=2)
    CycleGAN.import_checkpoint(tmp_path / "latest_net_G_A.pth", tmp_path / "imported")
    model = load_folder(tmp_path / "imported", "cpu", CycleGAN)
    assert model.config.directions == "both" and model.config.channels == 1
    x = to_tensor(model.variant.prepare_image(testing.test_image(size=24)), 1).unsqueeze(0)
    with torch.no_grad():
        assert torch.equal(model.nets["generator_ab"](x), g_a(x))
        assert torch.equal(model.nets["generator_ba"](x), g_b(x))


def test_wrong_files_are_refused_with_what_to_import_instead(tmp_path):
    (tmp_path / "text.pth").write_text("hello")
    torch.save([torch.zeros(2)], tmp_path / "list.pth")
    torch.save(torch.nn.Linear(2, 2), tmp_path / "pickled_module.pth")
    torch.save({"net.0.weight": torch.zeros(8, 3, 4, 4)}, tmp_path / "dcgan.pth")
    torch.save({"model.model.0.weight": torch.zeros(8, 3, 4, 4)}, tmp_path / "unet.pth")
    batch_norm = ResnetGenerator(3, 8, 2).state_dict()
    batch_norm["model.2.weight"] = torch.ones(8)
    torch.save(batch_norm, tmp_path / "batchnorm.pth")
    expected = {"text.pth": "cannot be read as a PyTorch state dict",
                "pickled_module.pth": "never pickled code",
                "list.pth": "holds a list, not a state dict",
                "dcgan.pth": "not a ResnetGenerator state dict.*net.0.weight",
                "unet.pth": "U-Net",
                "batchnorm.pth": "batch norm"}
    for name, message in expected.items():
        with pytest.raises(WeightsError, match=message) as error:
            CycleGAN.import_checkpoint(tmp_path / name, tmp_path / "out")
        assert "resnet_9blocks" in str(error.value) or name == "batchnorm.pth" and "instance" in str(error.value)
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- training


def test_image_pool_fills_then_swaps_half_the_time():
    torch.manual_seed(0)
    pool = []
    first = torch.randn(3, 1, 4, 4)
    assert torch.equal(query_pool(pool, first, 3), first) and len(pool) == 3
    returned = torch.cat([query_pool(pool, torch.full((1, 1, 4, 4), float(i)), 3) for i in range(200)])
    from_pool = sum(not torch.equal(image, torch.full_like(image, float(i))) for i, image in enumerate(returned))
    assert 60 < from_pool < 140 and len(pool) == 3


def test_learning_rate_is_constant_then_falls_linearly_to_zero(tmp_path):
    variant = CycleGAN(tiny(decay_start_step=1, decay_steps=2))
    ctx, _ = setup_training(variant, testing.tiny_sources(variant, tmp_path), testing.tiny_settings())
    rates = []
    for ctx.step in range(5):
        rates.append(variant.train_step(ctx)["lr"])
    lr = variant.config.lr
    assert rates == pytest.approx([lr, lr, lr / 2, 0, 0])
    assert ctx.optimizers["generator"].param_groups[0]["lr"] == 0


def test_a_resumed_run_ends_exactly_where_an_uninterrupted_one_does(tmp_path):
    """The image pools are checkpointed and drawn with the checkpointed torch RNG; the
    learning rate follows the restored step."""
    config = tiny(decay_start_step=2, decay_steps=3)
    sources = testing.tiny_sources(CycleGAN(config), tmp_path)
    settings = testing.tiny_settings(steps=5)
    train(CycleGAN(dataclasses.replace(config)), sources, tmp_path / "straight", settings, show_progress=False)
    train(CycleGAN(dataclasses.replace(config)), sources, tmp_path / "resumed", settings, show_progress=False,
          stop_after=3)
    train(CycleGAN(dataclasses.replace(config)), sources, tmp_path / "resumed", settings, show_progress=False,
          resume=True)
    straight = torch.load(tmp_path / "straight/checkpoints/last.pt", weights_only=True)
    resumed = torch.load(tmp_path / "resumed/checkpoints/last.pt", weights_only=True)
    assert straight["step"] == resumed["step"] == 5
    for name, state in straight["nets"].items():
        for key, value in state.items():
            assert torch.equal(value, resumed["nets"][name][key]), f"{name}.{key} differs after resuming"
    for pool in ("pool_a", "pool_b"):
        assert len(straight["variant_state"][pool]) == config.pool_size
        assert all(torch.equal(a, b) for a, b in zip(straight["variant_state"][pool], resumed["variant_state"][pool]))
