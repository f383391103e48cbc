"""The `ganzoo` command line: train, interrupt, resume, sample, list."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import ganzoo.registry as registry_module
from ganzoo.api import Choice, Generated, UserError, Variant
from ganzoo.cli import main
from ganzoo.registry import Registration, get_variant
from ganzoo.testing import make_image_folder
from ganzoo.training import CHECKPOINT, TrainSettings, train
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--image-size", "16", "--width", "4", "--latent-dim", "8"]


@pytest.fixture
def data(tmp_path):
    return make_image_folder(tmp_path / "data", size=16, channels=1)


def run_cli(*args) -> int:
    return main([str(a) for a in args])


def test_list_shows_every_variant_with_its_plugin(capsys):
    assert run_cli("list") == 0
    out = capsys.readouterr().out
    assert "NAME" in out and "DEFAULT WEIGHTS" in out
    assert "dcgan" in out and "ganzoo.plugins.dcgan" in out and "wgan_gp" in out


def test_tiny_train_writes_a_run_folder(data, tmp_path):
    out = tmp_path / "run"
    assert run_cli("train", "dcgan", "--data", data, "--out", out, "--steps", 4, "--batch-size", 4,
                   "--sample-every", 2, "--checkpoint-every", 2, "--quiet", *TINY) == 0
    for name in ("run.json", "config.json", "model.safetensors", CHECKPOINT, "metrics.jsonl", "samples.png"):
        assert (out / name).exists(), name
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [1, 2, 3, 4]
    assert {"loss_d", "loss_g", "steps_per_s"} <= set(lines[0])
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step_0000002.png", "step_0000004.png"]
    config = json.loads((out / "config.json").read_text())
    assert config["variant"] == "dcgan" and config["config"]["width"] == 4 and "ganzoo_version" in config


def test_sample_from_a_run_folder_is_reproducible(data, tmp_path):
    out = tmp_path / "run"
    run_cli("train", "dcgan", "--data", data, "--out", out, "--steps", 2, "--batch-size", 4, "--quiet", *TINY)
    assert run_cli("sample", "dcgan", "--weights", out, "-n", 6, "--seed", 1, "-o", tmp_path / "a.png") == 0
    assert run_cli("sample", "dcgan", "--weights", out, "-n", 6, "--seed", 1, "-o", tmp_path / "b.png") == 0
    assert run_cli("sample", "dcgan", "--weights", out, "-n", 6, "--seed", 2, "-o", tmp_path / "c.png") == 0
    a, b, c = (Image.open(tmp_path / f"{x}.png").tobytes() for x in "abc")
    assert a == b and a != c
    assert run_cli("sample", "dcgan", "--weights", out, "-n", 5, "--out-dir", tmp_path / "many") == 0
    assert len(list((tmp_path / "many").glob("*.png"))) == 5
    manifest = json.loads((tmp_path / "many" / "manifest.json").read_text())
    assert manifest["variant"] == "dcgan" and str(out) in manifest["weights"]


def test_sample_with_weights_of_another_variant_says_so(data, tmp_path, capsys):
    out = tmp_path / "run"
    run_cli("train", "dcgan", "--data", data, "--out", out, "--steps", 1, "--batch-size", 4, "--quiet", *TINY)
    assert run_cli("sample", "wgan_gp", "--weights", out, "-o", tmp_path / "x.png") == 2
    assert "dcgan weights, not wgan_gp" in capsys.readouterr().err


@pytest.mark.parametrize("name, ema_decay", [("dcgan", 0.0), ("wgan_gp", 0.0), ("dcgan", 0.9)])
def test_interrupted_run_resumes_to_the_same_state_as_an_uninterrupted_one(name, ema_decay, data, tmp_path):
    variant_class = get_variant(name)
    settings = TrainSettings(steps=6, batch_size=4, seed=3, device="cpu", sample_every=100, checkpoint_every=100,
                             ema_decay=ema_decay)
    sources = {"data": str(data)}

    train(variant_class(variant_class.tiny_config()), sources, tmp_path / "straight", settings, show_progress=False)
    first = train(variant_class(variant_class.tiny_config()), sources, tmp_path / "resumed", settings,
                  show_progress=False, stop_after=4)
    assert not first.finished and first.step == 4
    second = train(variant_class(variant_class.tiny_config()), sources, tmp_path / "resumed", settings,
                   resume=True, show_progress=False)
    assert second.finished and second.step == 6

    straight = torch.load(tmp_path / "straight" / CHECKPOINT, weights_only=True)
    resumed = torch.load(tmp_path / "resumed" / CHECKPOINT, weights_only=True)
    assert straight["step"] == resumed["step"] == 6
    for net in straight["nets"]:
        for key, value in straight["nets"][net].items():
            assert torch.equal(value, resumed["nets"][net][key]), f"{net}.{key} differs"
    assert (straight["average"] is None) == (ema_decay == 0)
    for net, state in (straight["average"] or {}).items():
        for key, value in state.items():
            assert torch.equal(value, resumed["average"][net][key]), f"average {net}.{key} differs"
    for opt in straight["optimizers"]:
        for index, state in straight["optimizers"][opt]["state"].items():
            for key, value in state.items():
                assert torch.equal(torch.as_tensor(value), torch.as_tensor(resumed["optimizers"][opt]["state"][index][key]))
    assert torch.equal(straight["rng"]["torch"], resumed["rng"]["torch"])
    assert straight["streams"] == resumed["streams"]
    straight_log = (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()
    resumed_log = (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()
    strip = lambda lines: [{k: v for k, v in json.loads(line).items() if k != "steps_per_s"} for line in lines]
    assert strip(straight_log) == strip(resumed_log)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stop_signal_saves_a_checkpoint_that_resumes(data, tmp_path, signum):
    """A real SIGINT (Ctrl-C) or SIGTERM (kill, Docker, Spaces) to a real `ganzoo train` process."""
    out = tmp_path / "run"
    command = [sys.executable, "-m", "ganzoo", "train", "dcgan", "--data", str(data), "--out", str(out),
               "--steps", "100000", "--batch-size", "4", "--checkpoint-every", "100000", "--quiet", *TINY]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 120
        metrics = out / "metrics.jsonl"
        while not (metrics.exists() and len(metrics.read_text().splitlines()) >= 3):
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "training did not start"
            time.sleep(0.1)
        process.send_signal(signum)
        output, _ = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 128 + signum, output  # 130 for Ctrl-C, 143 for SIGTERM
    assert "--resume" in output and "Traceback" not in output
    checkpoint = torch.load(out / CHECKPOINT, weights_only=True)
    assert checkpoint["step"] >= 3
    logged = len((out / "metrics.jsonl").read_text().splitlines())
    assert logged == checkpoint["step"]  # nothing logged that the checkpoint does not hold

    assert run_cli("train", "dcgan", "--out", out, "--resume", "--steps", checkpoint["step"] + 2, "--quiet") == 0
    assert torch.load(out / CHECKPOINT, weights_only=True)["step"] == checkpoint["step"] + 2


def test_resume_refuses_config_changes_and_missing_runs(data, tmp_path, capsys):
    assert run_cli("train", "dcgan", "--out", tmp_path / "nothing", "--resume") == 2
    assert "not a ganzoo run folder" in capsys.readouterr().err
    out = tmp_path / "run"
    run_cli("train", "dcgan", "--data", data, "--out", out, "--steps", 1, "--batch-size", 4, "--quiet", *TINY)
    assert run_cli("train", "dcgan", "--out", out, "--resume", "--width", "8") == 2
    assert "cannot change when resuming" in capsys.readouterr().err
    assert run_cli("train", "dcgan", "--data", data, "--out", out, "--steps", 2, "--quiet", *TINY) == 2
    assert "--resume" in capsys.readouterr().err


def test_bad_inputs_get_clear_messages(tmp_path, capsys):
    assert run_cli("train", "nosuchgan", "--data", tmp_path, "--out", tmp_path / "r") == 2
    assert "Known variants" in capsys.readouterr().err
    assert run_cli("train", "dcgan", "--data", tmp_path / "missing", "--out", tmp_path / "r") == 2
    assert "no dataset at" in capsys.readouterr().err
    assert run_cli("sample", "dcgan", "--weights", tmp_path / "missing", "-o", tmp_path / "x.png") == 2
    assert "no such folder" in capsys.readouterr().err  # an absolute path is a path, never a Hub repo id
    (tmp_path / "notweights").mkdir()
    assert run_cli("sample", "dcgan", "--weights", tmp_path / "notweights", "-o", tmp_path / "x.png") == 2
    assert "not a ganzoo weights folder" in capsys.readouterr().err


@pytest.mark.parametrize("flag, value, message", [
    ("--steps", -3, "--steps must be a whole number of at least 0"),
    ("--batch-size", 0, "--batch-size must be a whole number of at least 1"),
    ("--checkpoint-every", 0, "--checkpoint-every must be a whole number of at least 1"),
    ("--eval-samples", 0, "--eval-samples must be a whole number of at least 1"),
    ("--eval-every", -1, "--eval-every must be a whole number of at least 0 (0: off)"),
    ("--epochs", -1, "--epochs must be more than 0"),
])
def test_out_of_range_training_settings_are_refused_before_any_work(flag, value, message, data, tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli("train", "dcgan", "--data", data, "--out", out, "--steps", 2, "--quiet", *TINY, flag, value) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_sample_every_0_writes_only_the_last_grid(data, tmp_path):
    out = tmp_path / "run"
    assert run_cli("train", "dcgan", "--data", data, "--out", out, "--steps", 3, "--batch-size", 4,
                   "--sample-every", 0, "--quiet", *TINY) == 0
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step_0000003.png"]


def test_tuple_fields_take_their_values(data, tmp_path):
    out = tmp_path / "run"
    assert run_cli("train", "gan", "--data", data, "--out", out, "--steps", 1, "--batch-size", 4, "--quiet",
                   "--image-size", 16, "--generator-widths", 8, 16, "--discriminator-widths", 8,
                   "--betas", 0.5, 0.9) == 0
    config = json.loads((out / "config.json").read_text())["config"]
    assert config["generator_widths"] == [8, 16] and config["betas"] == [0.5, 0.9]


def test_init_from_starts_a_new_run_from_another_runs_networks_and_optimisers(data, tmp_path, capsys):
    first, second = tmp_path / "first", tmp_path / "second"
    run_cli("train", "dcgan", "--data", data, "--out", first, "--steps", 3, "--batch-size", 4, "--quiet", *TINY,
            "--lr", "0.001")
    # a second stage: the first run's config and data, with noise clusters and another rate added
    assert run_cli("train", "dcgan", "--init-from", first, "--out", second, "--steps", 0, "--batch-size", 4,
                   "--quiet", "--noise-clusters", 3, "--lr", "0.0005") == 0
    before = torch.load(first / CHECKPOINT, weights_only=True)
    after = torch.load(second / CHECKPOINT, weights_only=True)
    assert after["step"] == 0
    for name, state in before["nets"].items():
        for key, value in state.items():
            assert torch.equal(value, after["nets"][name][key]), f"{name}.{key}"
    assert set(after["nets"]["generator"]) - set(before["nets"]["generator"]) == {"noise.centres"}
    moments = lambda checkpoint: checkpoint["optimizers"]["generator"]["state"][0]["exp_avg"]
    assert torch.equal(moments(before), moments(after))
    assert after["optimizers"]["generator"]["param_groups"][0]["lr"] == 0.0005  # this run's rate, not the source's
    info = json.loads((second / "run.json").read_text())
    assert info["initialised_from"] == str(first) and info["config"]["width"] == 4
    assert info["sources"] == json.loads((first / "run.json").read_text())["sources"]
    # and it trains on from there
    assert run_cli("train", "dcgan", "--out", second, "--resume", "--steps", 2, "--quiet") == 0
    assert json.loads((second / "run.json").read_text())["initialised_from"] == str(first)


def test_init_from_refuses_runs_that_do_not_fit(data, tmp_path, capsys):
    first = tmp_path / "first"
    run_cli("train", "dcgan", "--data", data, "--out", first, "--steps", 1, "--batch-size", 4, "--quiet", *TINY)
    capsys.readouterr()
    assert run_cli("train", "dcgan", "--init-from", first, "--out", tmp_path / "wider", "--width", 8, "--quiet") == 2
    assert "does not fit this config" in capsys.readouterr().err
    assert run_cli("train", "wgan_gp", "--init-from", first, "--out", tmp_path / "other", "--quiet") == 2
    assert "is a dcgan run, not wgan_gp" in capsys.readouterr().err
    assert run_cli("train", "dcgan", "--init-from", first, "--out", first, "--resume") == 2
    assert "give one of them" in capsys.readouterr().err
    assert run_cli("train", "dcgan", "--init-from", tmp_path / "nothing", "--out", tmp_path / "x") == 2
    assert "not a ganzoo run folder" in capsys.readouterr().err


# --------------------------------------------------------------------------- errors and choices


@dataclasses.dataclass
class EchoConfig:
    pass


class Echo(Variant):
    """Generates one blank image and records what it was given; `--fail` makes it fail."""

    name, title, paper = "echo", "Echo", "none"
    Config = EchoConfig
    inference_networks = ()
    untrained_mode = "a test variant"
    given: list = []

    def build_networks(self):
        return {}

    def inputs(self):
        return [Choice("mode", "Mode", "", "fast and rough", choices=("fast and rough", "slow (careful)")),
                Choice("fail", "Fail", "", "no", choices=("no", "user", "bug", "value"))]

    def generate(self, model, progress=None, mode="fast and rough", fail="no"):
        Echo.given.append(mode)
        if fail == "user":
            raise UserError("that cannot be done; do this instead")
        if fail == "bug":
            return Generated([1 / 0])
        if fail == "value":
            raise ValueError("a bug that happens to be a ValueError")
        return Generated([Image.new("L", (4, 4))])


@pytest.fixture
def echo(monkeypatch):
    monkeypatch.setattr(registry_module, "_cache", {**registry_module.registry(), "echo": Registration(Echo, "tests")})
    Echo.given.clear()
    return Echo


@pytest.mark.parametrize("given", ["slow (careful)", "slow-careful"])
def test_a_choice_reaches_generate_as_its_exact_text(echo, given, tmp_path):
    assert run_cli("sample", "echo", "--mode", given, "-o", tmp_path / "x.png") == 0
    assert echo.given == ["slow (careful)"]


def test_a_user_error_is_one_line_and_status_2(echo, tmp_path, capsys):
    assert run_cli("sample", "echo", "--fail", "user", "-o", tmp_path / "x.png") == 2
    err = capsys.readouterr().err
    assert err.endswith("ganzoo: error: that cannot be done; do this instead\n") and "Traceback" not in err


@pytest.mark.parametrize("fail, error", [("bug", ZeroDivisionError), ("value", ValueError)])
def test_a_bug_keeps_its_traceback(echo, fail, error, tmp_path):
    with pytest.raises(error):
        run_cli("sample", "echo", "--fail", fail, "-o", tmp_path / "x.png")


def test_optional_commands_a_variant_lacks_are_user_errors(tmp_path, capsys):
    (tmp_path / "model.pth").write_bytes(b"")
    assert run_cli("import", "dcgan", tmp_path / "model.pth", "--out", tmp_path / "out") == 2
    assert "dcgan cannot import checkpoints from other projects; these variants can: cyclegan" in capsys.readouterr().err
    assert run_cli("eval", "style_transfer") == 2
    assert "style_transfer cannot be scored by `ganzoo eval`; these variants can: began, cgan" in capsys.readouterr().err
