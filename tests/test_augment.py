"""DiffAugment (ganzoo.augment): each transformation does what it says, with gradients, from
the global RNG, and the hooks augment only the named networks, only in training mode."""

import json

import pytest
import torch
from ganzoo.augment import (
    FULL_POLICY,
    augmented_network_names,
    brightness,
    contrast,
    cutout,
    diff_augment,
    install_diffaugment,
    parse_policy,
    setup_diffaugment,
    saturation,
    translation,
)
from ganzoo.errors import UserError
from ganzoo.registry import get_variant
from torch import nn


def test_the_policy_parser_takes_known_names_and_lists_them_for_an_unknown_one():
    assert len(parse_policy(FULL_POLICY)) == 3
    assert len(parse_policy(" color , cutout ")) == 2
    assert parse_policy("") == []
    with pytest.raises(UserError, match="unknown DiffAugment policy 'colour'; known: color, translation, cutout"):
        parse_policy("colour,translation")


def _positions(n=16, size=16) -> torch.Tensor:
    """Images whose pixels are 1 + their own index (y * size + x), so a moved pixel says where it came from."""
    return (torch.arange(size * size, dtype=torch.float32) + 1).view(1, 1, size, size).repeat(n, 2, 1, 1)


def test_translation_moves_each_image_by_at_most_an_eighth_with_a_zero_border():
    torch.manual_seed(0)
    size = 16
    moved = translation(_positions(64, size))
    shifts = set()
    for image in moved[:, 0]:
        ys, xs = torch.nonzero(image, as_tuple=True)
        source = image[ys, xs].long() - 1
        dy, dx = ys - source // size, xs - source % size
        assert len(set(dy.tolist())) == 1 and len(set(dx.tolist())) == 1  # one shift for the whole image
        shift = (int(dy[0]), int(dx[0]))
        assert max(map(abs, shift)) <= size // 8
        assert len(ys) == (size - abs(shift[0])) * (size - abs(shift[1]))  # the rest is the zero border
        shifts.add(shift)
    assert len(shifts) > 10  # 25 possible shifts of up to 2 pixels either way
    assert torch.equal(moved[:, 0], moved[:, 1])  # channels move together


def test_cutout_zeroes_one_square_of_half_the_side_clipped_by_the_border():
    torch.manual_seed(0)
    size = 16
    out = cutout(torch.ones(64, 3, size, size))
    assert torch.equal(out[:, 0], out[:, 2])
    areas = []
    for image in out[:, 0]:
        ys, xs = torch.nonzero(image == 0, as_tuple=True)
        height, width = int(ys.max() - ys.min() + 1), int(xs.max() - xs.min() + 1)
        assert height <= size // 2 and width <= size // 2 and len(ys) == height * width  # one rectangle
        areas.append(len(ys))
    assert max(areas) == (size // 2) ** 2 and min(areas) < (size // 2) ** 2  # whole squares and clipped ones


def test_colour_changes_brightness_saturation_and_contrast_as_described():
    torch.manual_seed(0)
    images = torch.rand(32, 3, 8, 8) * 2 - 1
    offsets = (brightness(images) - images).flatten(1)
    assert torch.allclose(offsets, offsets[:, :1].expand_as(offsets))  # one offset per image
    assert offsets.abs().max() <= 0.5 and offsets[:, 0].std() > 0.1
    grey = images[:, :1].repeat(1, 3, 1, 1)
    assert torch.allclose(saturation(grey), grey)  # a grey image has no saturation to change
    assert not torch.allclose(saturation(images), images)
    changed = contrast(images)
    assert torch.allclose(changed.mean(dim=(1, 2, 3)), images.mean(dim=(1, 2, 3)), atol=1e-6)
    spread = changed.std(dim=(1, 2, 3)) / images.std(dim=(1, 2, 3))
    assert spread.min() >= 0.5 - 1e-5 and spread.max() <= 1.5 + 1e-5 and spread.std() > 0.1


def test_the_full_policy_passes_gradients_and_draws_from_the_global_rng():
    images = (torch.rand(8, 3, 16, 16) * 2 - 1).requires_grad_()
    torch.manual_seed(5)
    first = diff_augment(images, FULL_POLICY)
    first.sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    torch.manual_seed(5)
    assert torch.equal(diff_augment(images, FULL_POLICY), first)
    assert not torch.equal(diff_augment(images, FULL_POLICY), first)  # the RNG moved on


class Recorder(nn.Module):
    """Passes its input through and keeps what it saw, with any extra argument."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1))
        self.seen = None

    def forward(self, images, labels=None):
        self.seen = (images, labels)
        return images * self.weight


def test_hooks_augment_the_named_networks_in_training_mode_only():
    nets = {"generator": Recorder(), "discriminator": Recorder(), "discriminator_b": Recorder()}
    keys = {name: list(net.state_dict()) for name, net in nets.items()}
    handles = install_diffaugment(nets, FULL_POLICY, ("discriminator", "discriminator_b"))
    images, labels = torch.rand(4, 3, 16, 16), torch.arange(4)
    nets["discriminator"](images, labels)
    augmented, passed_labels = nets["discriminator"].seen
    assert not torch.equal(augmented, images) and passed_labels is labels
    nets["discriminator_b"](images)
    assert not torch.equal(nets["discriminator_b"].seen[0], images)
    nets["generator"](images)
    assert nets["generator"].seen[0] is images
    nets["discriminator"].eval()(images)
    assert nets["discriminator"].seen[0] is images  # previews and evaluations see images as they are
    assert {name: list(net.state_dict()) for name, net in nets.items()} == keys
    for handle in handles:
        handle.remove()
    nets["discriminator"].train()(images)
    assert nets["discriminator"].seen[0] is images


def test_the_generator_learns_through_the_augmentation():
    generator, discriminator = nn.Conv2d(3, 3, 1), nn.Conv2d(3, 1, 3)
    install_diffaugment({"d": discriminator}, FULL_POLICY, ("d",))
    discriminator(generator(torch.rand(4, 3, 16, 16))).mean().backward()
    assert generator.weight.grad.abs().sum() > 0


def test_networks_augmented_by_default_and_the_refusals():
    dcgan = get_variant("dcgan")(get_variant("dcgan").tiny_config())
    assert augmented_network_names(dcgan, dcgan.build_networks()) == ("discriminator",)
    cyclegan = get_variant("cyclegan")(get_variant("cyclegan").tiny_config())
    nets = cyclegan.build_networks()
    assert augmented_network_names(cyclegan, nets) == ("discriminator_a", "discriminator_b")
    assert len(setup_diffaugment(cyclegan, nets, "cutout")) == 2
    began = get_variant("began")(get_variant("began").tiny_config())
    nets = began.build_networks()
    assert augmented_network_names(began, nets) == ()
    with pytest.raises(UserError, match="auto-encoder whose reconstruction is compared with its own input"):
        setup_diffaugment(began, nets, "translation")
    assert setup_diffaugment(began, nets, "") == []  # no policy: nothing to refuse
    style = get_variant("style_transfer")  # without its optional discriminator
    with pytest.raises(UserError, match="has no discriminator for --diffaugment to augment"):
        setup_diffaugment(style(style.Config()), style(style.Config()).build_networks(), FULL_POLICY)


# ---- wiring: ganzoo train --diffaugment

TINY = ["--image-size", "16", "--width", "4", "--latent-dim", "8", "--batch-size", "4", "--quiet"]


def test_train_diffaugment_is_recorded_changes_training_and_is_refused_where_it_does_not_apply(tmp_path, capsys):
    from ganzoo.cli import main
    from ganzoo.testing import make_image_folder
    from safetensors.torch import load_file

    data = str(make_image_folder(tmp_path / "data", size=16, channels=1))

    def train(out, *flags):
        return main(["train", "dcgan", "--data", data, "--out", str(tmp_path / out), "--steps", "2", *TINY, *flags])

    assert train("plain") == 0 and train("augmented", "--diffaugment", FULL_POLICY) == 0
    info = json.loads((tmp_path / "augmented" / "run.json").read_text())
    assert info["settings"]["diffaugment"] == FULL_POLICY
    assert json.loads((tmp_path / "plain" / "run.json").read_text())["settings"]["diffaugment"] == ""
    plain, augmented = (load_file(tmp_path / run / "model.safetensors") for run in ("plain", "augmented"))
    assert any(not torch.equal(plain[key], augmented[key]) for key in plain)  # the generator learnt otherwise
    assert main(["train", "dcgan", "--out", str(tmp_path / "augmented"), "--resume", "--steps", "3", "--quiet"]) == 0
    capsys.readouterr()

    assert train("typo", "--diffaugment", "color,rotation") == 2
    assert "unknown DiffAugment policy 'rotation'; known: color, translation, cutout" in capsys.readouterr().err
    assert main(["train", "began", "--data", data, "--out", str(tmp_path / "began"), "--steps", "1",
                 "--image-size", "16", "--width", "4", "--quiet", "--diffaugment", "cutout"]) == 2
    assert "auto-encoder whose reconstruction is compared with its own input" in capsys.readouterr().err
