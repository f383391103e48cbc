"""The moving average of the generator's weights (--ema-decay): what it averages, what it
publishes, and how it joins a run that trained without one."""

import pytest
import torch
from ganzoo.averaging import WeightAverage, decay_at
from ganzoo.errors import UserError
from ganzoo.registry import get_variant
from ganzoo.testing import make_image_folder
from ganzoo.training import CHECKPOINT, TrainSettings, train
from safetensors.torch import load_file
from torch import nn


def test_early_updates_use_a_lower_decay():
    assert decay_at(1, 0.999) == pytest.approx(2 / 11)
    assert decay_at(100, 0.999) == pytest.approx(101 / 110)
    assert decay_at(100_000, 0.999) == 0.999


def test_parameters_are_averaged_and_buffers_copied():
    live = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    average = WeightAverage({"generator": live}, ["generator"], decay=0.5)
    before = live[0].weight.detach().clone()
    with torch.no_grad():
        live[0].weight.add_(1.0)
        live[1].running_mean.fill_(7.0)
    average.update(step=100)  # decay 0.5: halfway to the live weights
    kept = average.nets["generator"]
    assert torch.allclose(kept[0].weight, before + 0.5)
    assert torch.equal(kept[1].running_mean, torch.full((2,), 7.0))
    assert torch.equal(live[0].weight, before + 1.0)  # the live network is untouched
    assert not any(p.requires_grad for p in kept.parameters())


def test_decay_outside_zero_one_is_refused():
    with pytest.raises(UserError, match="between 0 and 1"):
        WeightAverage({"g": nn.Linear(1, 1)}, ["g"], decay=1.0)


@pytest.fixture
def data(tmp_path):
    return make_image_folder(tmp_path / "data", size=16, channels=1)


def _train(data, out, steps, ema_decay, resume=False):
    variant_class = get_variant("dcgan")
    settings = TrainSettings(steps=steps, batch_size=4, seed=0, device="cpu", sample_every=100,
                             checkpoint_every=100, ema_decay=ema_decay)
    return train(variant_class(variant_class.tiny_config()), {"data": str(data)}, out, settings,
                 resume=resume, show_progress=False)


def test_published_weights_are_the_average_not_the_live_generator(data, tmp_path):
    _train(data, tmp_path / "run", steps=5, ema_decay=0.99)
    checkpoint = torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)
    published = load_file(str(tmp_path / "run" / "model.safetensors"))
    key = "net.0.weight"
    assert torch.equal(published[f"generator.{key}"], checkpoint["average"]["generator"][key])
    assert not torch.equal(published[f"generator.{key}"], checkpoint["nets"]["generator"][key])
    assert set(checkpoint["average"]) == {"generator"}  # the discriminator is not published


def test_a_run_without_an_average_starts_one_from_its_live_weights_on_resume(data, tmp_path):
    out = tmp_path / "run"
    _train(data, out, steps=3, ema_decay=0.0)
    live_at_3 = torch.load(out / CHECKPOINT, weights_only=True)["nets"]["generator"]
    _train(data, out, steps=4, ema_decay=0.999, resume=True)
    checkpoint = torch.load(out / CHECKPOINT, weights_only=True)
    key = "net.0.weight"
    # one update with decay (1 + 4) / (10 + 4) from the step-3 weights towards the step-4 ones
    weight = 1 - 5 / 14
    expected = torch.lerp(live_at_3[f"{key}"], checkpoint["nets"]["generator"][key], weight)
    assert torch.allclose(checkpoint["average"]["generator"][key], expected, atol=1e-6)
