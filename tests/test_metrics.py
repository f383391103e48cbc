"""The diversity measure (ganzoo.metrics) and its place in the training log."""

import json

import pytest
import torch
from ganzoo.metrics import diversity
from ganzoo.registry import get_variant
from ganzoo.testing import make_image_folder
from ganzoo.training import CHECKPOINT, TrainSettings, train


def bars(n: int, size: int = 28) -> torch.Tensor:
    """n images, each a white vertical bar at its own place on black."""
    images = -torch.ones(n, 1, size, size)
    for i in range(n):
        left = i * (size - 4) // max(1, n - 1)
        images[i, :, :, left:left + 4] = 1
    return images


def test_identical_images_have_no_diversity():
    image = bars(5)[2]
    assert diversity(image.expand(16, -1, -1, -1)) == pytest.approx(0.0, abs=1e-9)


def test_different_images_have_more_diversity_than_near_copies():
    varied = diversity(bars(16))
    copies = bars(16)[[3] * 16] + 0.05 * torch.randn(16, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    assert varied > 0.5
    assert diversity(copies) < 0.1 * varied


def test_pixel_noise_counts_for_less_than_different_shapes():
    """Downsampling first: an untrained generator's speckle is not variety."""
    generator = torch.Generator().manual_seed(0)
    speckle = (bars(16)[[3] * 16] + 0.5 * torch.randn(16, 1, 28, 28, generator=generator)).clamp(-1, 1)
    assert diversity(speckle) < 0.5 * diversity(bars(16))


def test_diversity_is_the_mean_over_distinct_pairs_whatever_the_order():
    images = bars(8)
    assert diversity(images.flip(0)) == pytest.approx(diversity(images))
    # Doubled, the batch has 4x the distances (the copies' own pairs are 0) over 16*15 pairs, not 8*7.
    assert diversity(torch.cat([images, images])) == pytest.approx(diversity(images) * 4 * 8 * 7 / (16 * 15))


def test_diversity_needs_two_images():
    with pytest.raises(ValueError, match="at least two"):
        diversity(bars(1))


# --------------------------------------------------------------------------- in training


@pytest.fixture
def data(tmp_path):
    return {"data": str(make_image_folder(tmp_path / "data", size=16, channels=1))}


def settings(**overrides) -> TrainSettings:
    return TrainSettings(**{**dict(steps=4, batch_size=4, seed=1, device="cpu", sample_every=100,
                                   checkpoint_every=100, diversity_every=2), **overrides})


def tiny_dcgan():
    variant_class = get_variant("dcgan")
    return variant_class(variant_class.tiny_config())


def read_log(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_training_logs_diversity_of_samples_and_of_real_images(data, tmp_path):
    result = train(tiny_dcgan(), data, tmp_path / "run", settings(), show_progress=False)
    log = read_log(tmp_path / "run")
    assert [("diversity" in line) for line in log] == [False, True, False, True]
    measured = [line for line in log if "diversity" in line]
    for line in measured:
        assert line["diversity"] >= 0 and line["diversity_real"] > 0
    assert measured[0]["diversity_real"] == measured[1]["diversity_real"]  # measured once, on a fixed batch
    assert result.last_metrics["diversity"] == measured[-1]["diversity"]


def test_diversity_every_zero_turns_it_off(data, tmp_path):
    train(tiny_dcgan(), data, tmp_path / "run", settings(diversity_every=0), show_progress=False)
    assert not any("diversity" in line for line in read_log(tmp_path / "run"))


def test_measuring_diversity_does_not_change_training(data, tmp_path):
    """Measured in eval mode with the global RNG untouched: the same weights as without it, and
    an interrupted run resumes to the same log."""
    train(tiny_dcgan(), data, tmp_path / "off", settings(diversity_every=0), show_progress=False)
    train(tiny_dcgan(), data, tmp_path / "on", settings(diversity_every=1), show_progress=False)
    train(tiny_dcgan(), data, tmp_path / "resumed", settings(diversity_every=1), show_progress=False, stop_after=3)
    train(tiny_dcgan(), data, tmp_path / "resumed", settings(diversity_every=1), show_progress=False, resume=True)
    off, on, resumed = (torch.load(tmp_path / run / CHECKPOINT, weights_only=True) for run in ("off", "on", "resumed"))
    for net in off["nets"]:
        for key, value in off["nets"][net].items():
            assert torch.equal(value, on["nets"][net][key]), f"{net}.{key} changed by measuring diversity"
            assert torch.equal(value, resumed["nets"][net][key]), f"{net}.{key} differs after resuming"
    assert torch.equal(off["rng"]["torch"], on["rng"]["torch"])
    strip = lambda run: [{k: v for k, v in line.items() if k != "steps_per_s"} for line in read_log(tmp_path / run)]
    assert strip("on") == strip("resumed")


def test_a_preview_that_draws_random_numbers_does_not_change_training(data, tmp_path):
    dcgan = get_variant("dcgan")

    class RandomPreview(dcgan):
        def preview(self, nets, batches, seed=0):
            torch.randn(3)  # the global RNG, which training's noise also comes from
            return super().preview(nets, batches, seed)

    for every in (0, 1):
        train(RandomPreview(dcgan.tiny_config()), data, tmp_path / f"every-{every}", settings(diversity_every=every),
              show_progress=False)
    runs = [torch.load(tmp_path / f"every-{every}" / CHECKPOINT, weights_only=True) for every in (0, 1)]
    assert torch.equal(runs[0]["rng"]["torch"], runs[1]["rng"]["torch"])
    for key, value in runs[0]["nets"]["generator"].items():
        assert torch.equal(value, runs[1]["nets"]["generator"][key]), key
