"""Model.generate keeps every registered variant to the bounds its inputs declare (the ones the
app's components show), so the CLI and the Python API refuse what the app cannot send."""

import math
import re

import pytest
from ganzoo import testing
from ganzoo.cli import main
from ganzoo.errors import UserError
from ganzoo.registry import get_variant, registry
from ganzoo.variant import SEED_MAX, Choice, Generated, ImageInput, Seed, Slider
from ganzoo.weights import random_model

VARIANTS = sorted(registry())


def recording_model(name, monkeypatch):
    """A tiny model of the variant whose own ``generate`` only records the values it gets: the
    checks must happen before any work (style transfer's 1024 px, 1000 steps would take minutes)."""
    variant_class = registry()[name].variant
    model = random_model(variant_class, "cpu", variant_class.tiny_config())
    calls = []

    def generate(model, progress=None, **values):
        calls.append(values)
        return Generated([])

    monkeypatch.setattr(model.variant, "generate", generate)
    return model, calls, testing.input_values(model.variant)


def specs_of(name, kind):
    variant_class = registry()[name].variant
    return [(name, spec) for spec in variant_class(variant_class.tiny_config()).inputs() if isinstance(spec, kind)]


SLIDERS = [case for name in VARIANTS for case in specs_of(name, Slider)]
CHOICES = [case for name in VARIANTS for case in specs_of(name, Choice)]
IMAGES = [case for name in VARIANTS for case in specs_of(name, ImageInput)]
SEEDS = [name for name in VARIANTS if specs_of(name, Seed)]
ids = lambda case: f"{case[0]}-{case[1].name}" if isinstance(case, tuple) else str(case)


@pytest.mark.parametrize("case", SLIDERS, ids=ids)
def test_a_slider_refuses_values_just_outside_and_takes_its_ends(case, monkeypatch):
    name, spec = case
    model, calls, values = recording_model(name, monkeypatch)
    low, high = spec.minimum, spec.maximum
    for outside in (low - spec.step, high + spec.step, math.nextafter(low, -math.inf), math.nextafter(high, math.inf)):
        with pytest.raises(UserError, match=f"{spec.name} must be between {low:g} and {high:g}.*not "):
            model.generate(**{**values, spec.name: outside})
    assert calls == []
    for end in (low, high, float(low), float(high)):  # Gradio sends floats
        model.generate(**{**values, spec.name: end})
        given = calls.pop()[spec.name]
        assert given == end and type(given) is (int if spec.is_integer else float)


@pytest.mark.parametrize("case", SLIDERS, ids=ids)
@pytest.mark.parametrize("bad", [1e30, -1e30, math.nan, math.inf, -math.inf, "abc", "5", True, [3]])
def test_a_slider_refuses_what_is_not_a_number_in_range(case, bad, monkeypatch):
    name, spec = case
    model, calls, values = recording_model(name, monkeypatch)
    with pytest.raises(UserError, match=f"{spec.name} must be between"):
        model.generate(**{**values, spec.name: bad})
    assert calls == []


@pytest.mark.parametrize("case", [case for case in SLIDERS if case[1].is_integer], ids=ids)
def test_an_integer_slider_refuses_fractions(case, monkeypatch):
    name, spec = case
    model, calls, values = recording_model(name, monkeypatch)
    with pytest.raises(UserError, match=rf"\(a whole number\), not {spec.minimum + 0.5}"):
        model.generate(**{**values, spec.name: spec.minimum + 0.5})
    assert calls == []


@pytest.mark.parametrize("name", SEEDS)
def test_seeds_are_whole_numbers_from_0_to_2_63_minus_1(name, monkeypatch):
    model, calls, values = recording_model(name, monkeypatch)
    for bad in (-1, SEED_MAX + 1, 1e30, 2.5, math.nan, math.inf, "abc", "7"):
        with pytest.raises(UserError, match=f"seed must be a whole number between 0 and {SEED_MAX}, not "):
            model.generate(**{**values, "seed": bad})
    assert calls == []
    for good, expected in ((0, 0), (SEED_MAX, SEED_MAX), (7.0, 7)):
        model.generate(**{**values, "seed": good})
        assert calls.pop()["seed"] == expected
    assert "2**63 - 1" in Seed().help


@pytest.mark.parametrize("case", CHOICES, ids=ids)
def test_a_choice_refuses_anything_else_and_names_the_choices(case, monkeypatch):
    name, spec = case
    model, calls, values = recording_model(name, monkeypatch)
    message = f"unknown {spec.name.replace('_', ' ')} 'no such'; choose one of {', '.join(spec.choices)}"
    with pytest.raises(UserError, match=re.escape(message)):
        model.generate(**{**values, spec.name: "no such"})
    assert calls == []
    for choice in spec.choices:
        model.generate(**{**values, spec.name: choice})
        assert calls.pop()[spec.name] == choice


@pytest.mark.parametrize("case", IMAGES, ids=ids)
def test_an_image_input_takes_an_image_or_a_path(case, monkeypatch, tmp_path):
    name, spec = case
    model, calls, values = recording_model(name, monkeypatch)
    with pytest.raises(UserError, match=f"{spec.name} must be an image or the path of one, not int"):
        model.generate(**{**values, spec.name: 42})
    if not spec.optional:
        with pytest.raises(UserError, match=f"no {spec.label.lower()} given: upload one, or pass --"):
            model.generate(**{**values, spec.name: None})
    assert calls == []
    testing.test_image().save(tmp_path / "in.png")
    for image in (testing.test_image(), str(tmp_path / "in.png"), tmp_path / "in.png"):
        model.generate(**{**values, spec.name: image})
        assert calls.pop()[spec.name] is image


def test_dcgan_refuses_100000_images_and_runs_at_its_bounds():
    dcgan = get_variant("dcgan")
    model = random_model(dcgan, "cpu", dcgan.tiny_config())
    with pytest.raises(UserError, match="n must be between 1 and 64 .*not 100000"):
        model.generate(n=100000)
    assert len(model.generate(n=64.0, seed=SEED_MAX).images) == 64  # the real thing, at the ends


def test_the_cli_refuses_out_of_range_inputs_with_one_line(capsys, tmp_path):
    assert main(["sample", "dcgan", "-n", "100000", "-o", str(tmp_path / "grid.png")]) == 2
    assert "n must be between 1 and 64" in capsys.readouterr().err
    assert not (tmp_path / "grid.png").exists()

