"""Quality figures: the maths, the shipped judge, and evaluation of each kind of variant."""

import dataclasses
import json
import shutil

import pytest
import torch
from ganzoo import judge as judge_module
from ganzoo.cli import main
from ganzoo.data import load_images
from ganzoo.evaluation import Reference, evaluate_model, frechet_distance, generate_for_evaluation, inception_score
from ganzoo.judge import JudgeError, load_judge
from ganzoo.registry import get_variant
from ganzoo.testing import make_image_folder, trained_context
from ganzoo.weights import random_model


def test_frechet_distance_of_gaussians():
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(20_000, 4, generator=generator)
    b = torch.randn(20_000, 4, generator=generator)
    assert frechet_distance(a, b) < 0.01
    # a mean shift of 3 in one coordinate adds 9; doubling the spread adds 4 * (2 - 1)^2 = 4
    assert frechet_distance(a, b + torch.tensor([3.0, 0, 0, 0])) == pytest.approx(9, abs=0.1)
    assert frechet_distance(a, b * 2) == pytest.approx(4, abs=0.1)


def test_inception_score_bounds():
    confident_and_varied = torch.eye(10).repeat(100, 1)
    assert inception_score(confident_and_varied) == pytest.approx(10, rel=1e-6)
    assert inception_score(torch.full((1000, 10), 0.1)) == pytest.approx(1)
    one_class = torch.zeros(1000, 10)
    one_class[:, 3] = 1
    assert inception_score(one_class) == pytest.approx(1)


def test_the_shipped_judge_matches_its_checksum_and_refuses_another(tmp_path):
    judge = load_judge()
    assert judge(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert judge.features(torch.zeros(2, 3, 32, 32)).shape == (2, judge_module.FEATURES)  # RGB, other sizes
    tampered = tmp_path / "model.safetensors"
    shutil.copy(judge_module.JUDGE_FILE, tampered)
    with open(tampered, "r+b") as f:
        f.seek(-1, 2)
        f.write(b"\x01")
    with pytest.raises(JudgeError, match="not the judge's"):
        load_judge(tampered)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = make_image_folder(tmp_path_factory.mktemp("real"), 28, 1, classes=[str(i) for i in range(10)],
                               per_class=4)
    return Reference.from_images(load_judge(), load_images(folder, 28, 1))


def test_noise_to_image_figures(reference):
    model = random_model(get_variant("dcgan"), config=get_variant("dcgan").tiny_config())
    figures = evaluate_model(model, reference, n=60, seed=1)
    assert figures["samples"] == 60
    assert figures["fd"] > 0 and 1 <= figures["classifier_is"] <= 10
    assert {"fd_real_floor", "classifier_is_real", "label_accuracy_real"} <= set(figures)
    assert "label_accuracy" not in figures
    assert evaluate_model(model, reference, n=60, seed=1) == figures  # seeded


def test_conditional_gan_is_scored_on_the_labels_it_was_asked_for(reference, tmp_path):
    """By class name: a model of the digits 3 and 7 asks for the judge's 3 and 7, not its 0 and 1;
    classes the judge does not know get no label accuracy rather than a meaningless one."""
    ctx, _ = trained_context(get_variant("cgan"), tmp_path)
    config = dataclasses.replace(ctx.variant.config, num_classes=2, class_names=["3", "7"])
    model = random_model(get_variant("cgan"), config=config)
    asked = torch.cat(generate_for_evaluation(model, 40, 0)[0])
    read = reference.judge.head(reference.judge.features(asked)).argmax(1)
    expected = float((read == torch.tensor([3, 7]).repeat(20)).float().mean())
    figures = evaluate_model(model, reference, n=40, seed=0)
    assert figures["label_accuracy"] == pytest.approx(expected)
    # by class, under the judge's names: each class's share of the 20 asked for, averaging to the whole
    by_class = figures["label_accuracy_by_class"]
    assert list(by_class) == ["3", "7"]
    assert by_class["3"] == pytest.approx(float((read[0::2] == 3).float().mean()))
    assert sum(by_class.values()) / 2 == pytest.approx(expected)
    real = figures["label_accuracy_real_by_class"]
    assert list(real) == [str(i) for i in range(10)]
    assert figures["label_accuracy_real_balanced"] == pytest.approx(sum(real.values()) / 10)
    shapes = random_model(get_variant("cgan"), config=dataclasses.replace(config, class_names=["cat", "dog"]))
    assert "label_accuracy" not in evaluate_model(shapes, reference, n=40, seed=0)


def test_cyclegan_is_scored_on_translated_labels(reference, tmp_path):
    variant_class = get_variant("cyclegan")
    config = variant_class.tiny_config()
    model = random_model(variant_class, config=config)
    source = load_images(make_image_folder(tmp_path / "a", config.image_size, config.channels,
                                           classes=["3", "7"]), config.image_size, config.channels)
    figures = evaluate_model(model, reference, n=1000, seed=0, data=source)
    assert figures["samples"] == len(source)
    assert 0 <= figures["label_accuracy"] <= 1


def test_ganzoo_eval_and_training_keeps_the_best(tmp_path, capsys):
    real = make_image_folder(tmp_path / "real", 28, 1, classes=[str(i) for i in range(10)], per_class=3)
    out = tmp_path / "run"
    assert main(["train", "dcgan", "--data", str(real), "--out", str(out), "--steps", "4", "--batch-size", "8",
                 "--eval-every", "2", "--eval-samples", "50", "--quiet", "--width", "4", "--latent-dim", "8"]) == 0
    best = json.loads((out / "best" / "best.json").read_text())
    assert best["metric"] == "fd" and best["step"] in (2, 4)
    assert (out / "best" / "model.safetensors").exists()
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert "eval_fd" in logged[1] and "eval_fd" not in logged[0]
    assert main(["eval", "dcgan", "--weights", str(out / "best"), "-n", "64", "--real", str(real),
                 "--json", str(tmp_path / "figures.json")]) == 0
    report = capsys.readouterr().out
    assert "Frechet distance" in report and "real-vs-real floor" in report
    assert json.loads((tmp_path / "figures.json").read_text())["samples"] == 64


@pytest.fixture(scope="module")
def inception_file(tmp_path_factory):
    """An Inception v3 file in torchvision's format, with random weights: real ones cannot be
    downloaded here, and the plumbing is the same."""
    from torchvision.models import Inception3

    path = tmp_path_factory.mktemp("inception") / "inception_v3_google-0cc3c7bd.pth"
    torch.manual_seed(0)
    torch.save(Inception3(init_weights=True).state_dict(), path)
    return path


def test_ganzoo_eval_adds_the_inception_fid_when_given_inception_weights(inception_file, tmp_path, capsys,
                                                                            monkeypatch):
    real = make_image_folder(tmp_path / "real", 28, 1, classes=["0", "1"], per_class=2)
    monkeypatch.setenv("GANZOO_INCEPTION_WEIGHTS", str(inception_file))
    assert main(["eval", "dcgan", "-n", "4", "--real", str(real), "--json", str(tmp_path / "figures.json")]) == 0
    assert "Inception FID (torchvision weights)" in capsys.readouterr().out
    figures = json.loads((tmp_path / "figures.json").read_text())
    assert figures["inception_fd"] > 0 and figures["inception_fd_real_floor"] >= 0

    monkeypatch.delenv("GANZOO_INCEPTION_WEIGHTS")
    assert main(["eval", "dcgan", "-n", "6", "--real", str(real)]) == 0
    assert "not measured" in capsys.readouterr().out


def test_unusable_inception_weights_are_refused_before_any_work(tmp_path, capsys):
    wrong = tmp_path / "wrong.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, wrong)
    assert main(["eval", "dcgan", "-n", "6", "--inception-weights", str(wrong)]) == 2
    assert "does not hold torchvision's Inception v3 weights" in capsys.readouterr().err
    assert main(["eval", "dcgan", "-n", "6", "--inception-weights", str(tmp_path / "none.pth")]) == 2
    assert "no Inception weights at" in capsys.readouterr().err


def test_judging_images_builds_no_autograd_graph(reference):
    """Scores are read with float(): a graph would cost memory and warn on every figure."""
    from ganzoo.evaluation import judge_images

    outputs = judge_images(reference.judge, [torch.zeros(4, 1, 28, 28)])
    assert not outputs.features.requires_grad and not outputs.probabilities.requires_grad
