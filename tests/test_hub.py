"""Publishing to and loading from the Hub, against the project's fake Hub on 127.0.0.1."""

import uuid

import pytest
import torch
from ganzoo.cli import main
from ganzoo.hub import push
from ganzoo.registry import get_variant
from ganzoo.testing import make_image_folder
from ganzoo.training import TrainSettings, train
from ganzoo.weights import WeightsError, load_folder, load_model
from huggingface_hub import constants, hf_hub_download

DCGAN = get_variant("dcgan")


def new_repo() -> str:
    return f"test-user/dcgan-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def run(tmp_path):
    data = make_image_folder(tmp_path / "data", size=16, channels=1)
    settings = TrainSettings(steps=2, batch_size=4, device="cpu", sample_every=1, checkpoint_every=1)
    train(DCGAN(DCGAN.tiny_config()), {"data": str(data)}, tmp_path / "run", settings, show_progress=False)
    return tmp_path / "run"


def outputs(model) -> torch.Tensor:
    return torch.stack([torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8)
                        for im in model.generate(seed=4, n=3).images])


def test_push_then_load_gives_the_same_model(hub, run):
    repo = new_repo()
    commit = push(run, repo)
    assert len(commit) == 40
    model = load_model(DCGAN, repo)
    assert repo in model.source and commit[:8] in model.source
    assert torch.equal(outputs(model), outputs(load_folder(run)))


def test_the_model_card_describes_the_run(hub, run):
    """And names the local data folder without the trainer's own path."""
    repo = new_repo()
    push(run, repo)
    card = open(hf_hub_download(repo, "README.md")).read()
    assert card.startswith("---\n")
    assert card.count("- steps:") == 1  # trained steps once, not again from the settings
    for expected in ("library_name: ganzoo", "- dcgan", "training_steps: 2", "ganzoo_version:",
                     "ganzoo sample dcgan --weights", "![samples](samples.png)", "- data (data): `data`"):
        assert expected in card, expected
    assert str(run.parent) not in card
    assert hf_hub_download(repo, "samples.png")


def test_a_pinned_revision_loads_that_revision(hub, run, tmp_path):
    repo = new_repo()
    first = push(run, repo)
    settings = TrainSettings(steps=4, batch_size=4, device="cpu", sample_every=100, checkpoint_every=100)
    train(DCGAN(DCGAN.tiny_config()), {"data": str(tmp_path / "data")}, run, settings, resume=True,
          show_progress=False)
    second = push(run, repo)
    assert first != second
    old, new = load_model(DCGAN, f"{repo}@{first}"), load_model(DCGAN, repo)
    assert first[:8] in old.source and second[:8] in new.source
    # weights, not images: a tiny generator's few steps may not move a pixel by a grey level
    weights = lambda model: torch.cat([p.flatten() for p in model.nets["generator"].parameters()])
    assert not torch.equal(weights(old), weights(new))


def test_cli_push_and_sample_from_the_hub(hub, run, tmp_path, capsys):
    repo = new_repo()
    assert main(["push", str(run), "--repo-id", f"hf://{repo}"]) == 0  # the form --weights takes works here too
    spec = capsys.readouterr().out.split("--weights ")[1].strip()
    assert spec.startswith(f"hf://{repo}@")  # never read as a local folder, whatever folders exist
    assert main(["sample", "dcgan", "--weights", spec, "-n", "4", "-o", str(tmp_path / "grid.png")]) == 0
    assert (tmp_path / "grid.png").exists()


@pytest.mark.parametrize("spec, message", [
    ("test-user/no-such-model", "not found"),
])
def test_missing_repo(hub, spec, message):
    with pytest.raises(WeightsError, match=message):
        load_model(DCGAN, spec)


def test_missing_revision(hub, run):
    repo = new_repo()
    push(run, repo)
    with pytest.raises(WeightsError, match="revision 'v9' not found"):
        load_model(DCGAN, f"{repo}@v9")


def test_a_repo_that_is_not_a_ganzoo_model(hub):
    repo = new_repo()
    hub.seed(repo, {"README.md": b"# something else\n"})
    with pytest.raises(WeightsError, match="has no config.json. A ganzoo model holds"):
        load_model(DCGAN, repo)


def test_corrupt_safetensors_on_the_hub(hub, run):
    repo = new_repo()
    push(run, repo)
    hub.corrupt_file(repo, "model.safetensors")
    with pytest.raises(WeightsError, match="corrupt or not a safetensors file"):
        load_model(DCGAN, repo)


def test_offline_uses_the_cache_and_says_what_to_do_without_one(hub, run, monkeypatch):
    cached, never_downloaded = new_repo(), new_repo()
    push(run, cached)
    push(run, never_downloaded)
    online = outputs(load_model(DCGAN, cached))
    requests_before = len(hub.requests)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert torch.equal(outputs(load_model(DCGAN, cached)), online)
    with pytest.raises(WeightsError, match="cannot be reached.*no copy is cached"):
        load_model(DCGAN, never_downloaded)
    assert len(hub.requests) == requests_before  # offline means no request at all


def test_a_bundled_models_card_names_it_and_credits_the_emoji_it_trained_on(tmp_path):
    """A model shipped beside the default is used with --weights SLUG; emoji ask for attribution."""
    import dataclasses
    import json

    from ganzoo.hub import model_card

    sources = {"data": "../shared/data/emoji/twemoji/train", "data_b": "/home/me/emoji/noto/train"}
    (tmp_path / "run.json").write_text(json.dumps({"sources": sources}))
    cyclegan = get_variant("cyclegan")
    info = {"variant": "cyclegan", "config": dataclasses.asdict(cyclegan.tiny_config())}
    card = model_card(tmp_path, info, None, samples=False, model_name="Twemoji to Noto")
    assert "ganzoo sample cyclegan --weights twemoji-to-noto --image image.png" in card
    assert "CC BY 4.0" in card and "Apache License 2.0" in card
    (tmp_path / "run.json").write_text(json.dumps({"sources": {"data": "../shared/data/mnist"}}))
    default = model_card(tmp_path, {"variant": "dcgan", "config": dataclasses.asdict(DCGAN.tiny_config())}, None,
                         samples=False)
    assert "--weights" not in default.split("## Use")[1].split("## Training")[0]
    assert "## Data and licences" not in default
