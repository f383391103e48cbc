"""`ganzoo eval`'s wiring of the checks of issue 14: the judge chosen by the model's images or
by --judge, the memorisation check (--train-data) and translations against the truth
(--paired-truth)."""

import json

import pytest
from ganzoo.cli import main
from ganzoo.testing import make_image_folder

TINY = ["--image-size", "16", "--width", "4", "--batch-size", "4", "--quiet"]


def figures(tmp_path, *args) -> dict:
    out = tmp_path / "figures.json"
    assert main(["eval", *map(str, args), "--json", str(out)]) == 0
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def colour_run(tmp_path_factory):
    """A tiny DCGAN of 16x16 colour images, trained with the judge scoring it (the emoji judge)."""
    root = tmp_path_factory.mktemp("colour")
    data = make_image_folder(root / "data", 16, 3)
    out = root / "run"
    assert main(["train", "dcgan", "--data", str(data), "--out", str(out), "--steps", "2", "--channels", "3",
                 "--latent-dim", "8", "--eval-every", "2", "--eval-samples", "16", *TINY]) == 0
    return out, data


def test_a_colour_model_is_judged_by_the_emoji_judge_unless_told(colour_run, tmp_path, capsys):
    out, data = colour_run
    best = json.loads((out / "best" / "best.json").read_text())
    assert best["step"] == 2 and best["figures"]["fd"] >= 0  # scored during training with the emoji judge
    emoji = figures(tmp_path, "dcgan", "--weights", out, "-n", 16)
    assert emoji["judge"] == "emoji" and "label_accuracy_real" in emoji  # the shipped test-split statistics
    assert any(line.split() == ["judge", "emoji"] for line in capsys.readouterr().out.splitlines())
    digits = figures(tmp_path, "dcgan", "--weights", out, "-n", 16, "--judge", "digits", "--real", data)
    assert digits["judge"] == "digits" and digits["fd"] != emoji["fd"]
    assert main(["eval", "dcgan", "--weights", str(out), "-n", "4", "--real", "mnist"]) == 2
    assert "the emoji judge's are 'emoji'" in capsys.readouterr().err


def test_the_memorisation_check_against_held_out_images_or_leave_one_out(colour_run, tmp_path, capsys):
    out, data = colour_run
    held_out = make_image_folder(tmp_path / "held-out", 16, 3, seed=7)
    against_real = figures(tmp_path, "dcgan", "--weights", out, "-n", 20, "--train-data", data, "--real", held_out)
    assert against_real["memorisation_real"] == "held-out" and against_real["memorisation_real_images"] == 12
    assert against_real["memorisation_train_images"] == 12 and against_real["memorisation_ratio"] > 0
    report = capsys.readouterr().out
    assert "memorisation ratio" in report and "near-copies" in report
    # beside it, the floor a model of the training images can reach: the real images against them
    assert against_real["fd_real_vs_train"] > 0 and "real against training images" in report
    itself = figures(tmp_path, "dcgan", "--weights", out, "-n", 20, "--train-data", data, "--real", data)
    assert itself["fd_real_vs_train"] == pytest.approx(0, abs=1e-3)
    alone = figures(tmp_path, "dcgan", "--weights", out, "-n", 20, "--train-data", data)  # --real: statistics
    assert alone["memorisation_real"] == "leave-one-out"
    assert alone["memorisation_nn_median"] == against_real["memorisation_nn_median"]


@pytest.fixture(scope="module")
def translation(tmp_path_factory):
    """A tiny CycleGAN and two folders of the same file names in two 'styles'."""
    root = tmp_path_factory.mktemp("paired")
    a = make_image_folder(root / "a", 16, 1, classes=("all",), per_class=5, seed=1)
    b = make_image_folder(root / "b", 16, 1, classes=("all",), per_class=5, seed=2)
    out = root / "run"
    assert main(["train", "cyclegan", "--data", str(a), "--data-b", str(b), "--out", str(out), "--steps", "1",
                 "--channels", "1", "--n-blocks", "1", "--disc-layers", "1", *TINY]) == 0
    return out, a, b


def test_translations_are_measured_against_the_truth(translation, tmp_path, capsys):
    out, a, b = translation
    paired = figures(tmp_path, "cyclegan", "--weights", out, "--data", a, "--paired-truth", b, "--real", b)
    assert paired["paired_images"] == 5 and paired["samples"] == 5
    assert 0 < paired["paired_l1"] < 1 and paired["paired_l1_identity"] > 0.2  # two sets of random images
    report = capsys.readouterr().out
    assert "L1 against the true images" in report and "identity baseline" in report
    assert main(["eval", "cyclegan", "--weights", str(out), "--paired-truth", str(b)]) == 2
    assert "--paired-truth needs --data" in capsys.readouterr().err
    assert main(["eval", "dcgan", "--data", str(a), "--paired-truth", str(b)]) == 2
    assert "dcgan does not translate images" in capsys.readouterr().err
