"""Weights folders: strict loading, clear errors, and the order in which weights are chosen."""

import json
import warnings
from pathlib import Path

import pytest
import torch
from ganzoo.registry import get_variant
from ganzoo.weights import (
    CONFIG_FILE,
    RANDOM_SOURCE,
    WEIGHTS_FILE,
    RandomWeightsWarning,
    WeightsError,
    describe_default,
    load_folder,
    load_model,
    parse_spec,
    random_model,
    save_weights,
)
from safetensors.torch import load_file, save_file

DCGAN = get_variant("dcgan")


@pytest.fixture
def folder(tmp_path):
    model = random_model(DCGAN, config=DCGAN.tiny_config())
    return save_weights(tmp_path / "weights", model.variant, model.nets)


def test_round_trip_in_float16_stays_close(tmp_path):
    model = random_model(DCGAN, config=DCGAN.tiny_config())
    save_weights(tmp_path / "half", model.variant, model.nets, dtype=torch.float16)
    assert load_file(tmp_path / "half" / WEIGHTS_FILE)["generator.net.0.weight"].dtype == torch.float16
    loaded = load_folder(tmp_path / "half")
    z = torch.randn(4, 8)
    with torch.no_grad():
        assert torch.allclose(model.nets["generator"](z), loaded.nets["generator"](z), atol=1e-2)
    assert loaded.nets["generator"].net[0].weight.dtype == torch.float32


def test_missing_and_unexpected_keys_are_named(folder):
    tensors = load_file(folder / WEIGHTS_FILE)
    tensors.pop("generator.net.0.weight")
    tensors["generator.extra.weight"] = torch.zeros(1)
    save_file(tensors, folder / WEIGHTS_FILE)
    with pytest.raises(WeightsError) as error:
        load_folder(folder)
    assert "generator.net.0.weight" in str(error.value) and "generator.extra.weight" in str(error.value)


def test_wrong_shapes_are_named(folder):
    info = json.loads((folder / CONFIG_FILE).read_text())
    info["config"]["width"] = 8
    (folder / CONFIG_FILE).write_text(json.dumps(info))
    with pytest.raises(WeightsError, match="wrong shape"):
        load_folder(folder)


def test_corrupt_safetensors(folder):
    (folder / WEIGHTS_FILE).write_bytes(b"\x00garbage" * 10)
    with pytest.raises(WeightsError, match="corrupt or not a safetensors file"):
        load_folder(folder)


def test_config_of_another_variant_or_version(folder):
    with pytest.raises(WeightsError, match="holds dcgan weights, not wgan_gp"):
        load_folder(folder, variant_class=get_variant("wgan_gp"))
    info = json.loads((folder / CONFIG_FILE).read_text())
    info["config"]["attention"] = True
    (folder / CONFIG_FILE).write_text(json.dumps(info))
    with pytest.raises(WeightsError, match="does not know: attention"):
        load_folder(folder)
    (folder / CONFIG_FILE).write_text("{not json")
    with pytest.raises(WeightsError, match="not valid JSON"):
        load_folder(folder)


def test_explicit_choice_wins_and_fails_loudly(folder, monkeypatch, tmp_path):
    monkeypatch.setenv("GANZOO_WEIGHTS_DCGAN", str(folder))
    assert load_model(DCGAN).source == f"local folder {folder}"
    assert str(folder) in describe_default(DCGAN)
    monkeypatch.setenv("GANZOO_WEIGHTS_DCGAN", str(tmp_path / "gone"))
    with pytest.raises(WeightsError):  # never a silent fallback to other weights
        load_model(DCGAN)


def test_bundled_then_random(folder, monkeypatch):
    monkeypatch.delenv("GANZOO_WEIGHTS_DCGAN", raising=False)
    monkeypatch.setattr(DCGAN, "bundled_weights", classmethod(lambda cls: folder))
    model = load_model(DCGAN)
    assert model.source == "weights bundled with ganzoo" and not model.is_random
    assert describe_default(DCGAN) == "bundled"
    monkeypatch.setattr(DCGAN, "bundled_weights", classmethod(lambda cls: None))
    with pytest.warns(RandomWeightsWarning, match="random weights"):
        model = load_model(DCGAN)
    assert model.is_random and model.source == RANDOM_SOURCE


def test_written_files_are_readable_like_any_other(folder):
    import os
    import stat

    mask = os.umask(0)
    os.umask(mask)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        assert stat.S_IMODE(os.stat(folder / name).st_mode) == 0o666 & ~mask


# --------------------------------------------------------------------------- specs: path or Hub repo


@pytest.fixture
def no_hub(monkeypatch, tmp_path):
    """Work in an empty folder with a runs/ sub-folder; any Hub download fails the test."""
    import ganzoo.hub
    import huggingface_hub

    def refuse(*args, **kwargs):
        raise AssertionError("a local path must never become a Hub request")

    for module, name in [(ganzoo.hub, "download_weights"), (ganzoo.hub, "download_file"),
                         (huggingface_hub, "hf_hub_download"), (huggingface_hub, "snapshot_download")]:
        monkeypatch.setattr(module, name, refuse)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "runs").mkdir()
    (tmp_path / "home").mkdir()
    monkeypatch.delenv("GANZOO_WEIGHTS_DCGAN", raising=False)
    return tmp_path


@pytest.mark.parametrize("spec", ["runs/typo", "runs/typo@v1", "./typo", "../typo", "~/typo", "/abs/typo",
                                  "~nosuchuser_ganzoo/typo"])
def test_a_missing_local_path_fails_at_once_without_the_hub(no_hub, spec):
    if spec == "/abs/typo":
        spec = str(no_hub / "abs" / "typo")
    with pytest.raises(WeightsError, match="no such folder: .*typo.*hf://") as error:
        load_model(DCGAN, spec)
    if spec.startswith("runs/"):  # the ambiguous case names the Hub spelling of this very spec
        assert f"hf://{spec}" in str(error.value)


def test_the_environment_variable_follows_the_same_rule(no_hub, monkeypatch):
    monkeypatch.setenv("GANZOO_WEIGHTS_DCGAN", "runs/typo")
    with pytest.raises(WeightsError, match="no such folder"):
        load_model(DCGAN)


def test_hub_ids_and_local_folders(no_hub):
    assert parse_spec("hf://user/name@rev") == ("user/name", "rev")
    assert parse_spec("hf://runs/typo") == ("runs/typo", None)  # hf:// wins over the runs/ folder
    assert parse_spec("user/name") == ("user/name", None)  # no user/ folder here: a Hub id, as before
    assert parse_spec("user/name@v2") == ("user/name", "v2")
    (no_hub / "runs" / "dcgan").mkdir()
    assert parse_spec("runs/dcgan") == Path("runs/dcgan")
    with pytest.raises(WeightsError, match="neither an existing folder nor a Hub repo id"):
        parse_spec("hf://just-a-name")


def test_a_default_repo_is_a_hub_repo_even_beside_a_folder_of_its_name(no_hub, monkeypatch):
    import ganzoo.hub

    asked = []

    def download_weights(repo_id, revision=None):
        asked.append((repo_id, revision))
        raise WeightsError("offline")

    monkeypatch.setattr(ganzoo.hub, "download_weights", download_weights)
    monkeypatch.setattr(ganzoo.hub, "hub_reachable", lambda: True)
    monkeypatch.setenv("GANZOO_NO_DEFAULT_HUB", "0")
    monkeypatch.setattr(DCGAN, "default_repo", "runs/dcgan")
    load_model(DCGAN)  # falls back to the bundled weights
    assert asked == [("runs/dcgan", None)]
