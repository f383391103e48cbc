"""The emoji judge (core/judge-weights/emoji/): shipped with its SHA-256, its report and its
reference statistics, chosen for colour models, and as accurate on the emoji test split as its
report says (that part skips without ../shared/data/emoji)."""

import fnmatch
import json
import shutil
import tomllib
from pathlib import Path

import pytest
import torch
from ganzoo import judge as judge_module
from ganzoo.errors import UserError
from ganzoo.evaluation import Reference, load_reference
from ganzoo.judge import JUDGES, JudgeError, judge_for, load_judge

ROOT = Path(__file__).resolve().parent.parent
EMOJI = ROOT.parent / "shared" / "data" / "emoji"
SPEC = JUDGES["emoji"]


def test_the_shipped_emoji_judge_matches_its_checksum_loads_and_refuses_another(tmp_path):
    judge = load_judge(name="emoji")
    assert judge(torch.zeros(2, 3, 32, 32)).shape == (2, 9)
    assert judge.features(torch.zeros(2, 3, 64, 64)).shape == (2, judge_module.EMOJI_FEATURES)  # 64x64 emoji
    assert judge.features(torch.zeros(2, 1, 28, 28)).shape == (2, judge_module.EMOJI_FEATURES)  # grey
    assert all(p.dtype == torch.float32 for p in judge.parameters())  # float16 on disk
    assert SPEC.file.stat().st_size < 500_000
    tampered = tmp_path / "model.safetensors"
    shutil.copy(SPEC.file, tampered)
    with open(tampered, "r+b") as f:
        f.seek(-1, 2)
        f.write(b"\x01")
    with pytest.raises(JudgeError, match=r"not the judge's .* \(emoji\)"):
        load_judge(tampered, name="emoji")
    with pytest.raises(JudgeError, match="unknown judge 'faces'; the judges are digits, emoji"):
        load_judge(name="faces")


def test_the_digit_judge_is_as_it_was():
    assert judge_module.JUDGE_FILE == SPEC.directory.parent / "digits" / "model.safetensors"
    assert judge_module.JUDGE_SHA256 == "261af1d68d7937383e13496aca4f9c9b1ad35c5f4ece6b63067e96b24d244180"
    assert load_judge().name == "digits" and load_judge(name="digits")(torch.zeros(1, 1, 28, 28)).shape == (1, 10)


def test_the_report_names_the_dataset_and_its_licences():
    report = json.loads((SPEC.directory / "report.json").read_text())
    assert report["sha256"] == SPEC.sha256
    assert report["classes"] == list(judge_module.EMOJI_CATEGORIES)
    licences = " ".join(report["licences"].values())
    assert "Twemoji" in licences and "CC BY 4.0" in licences and "Noto" in licences and "Apache" in licences
    assert "emoji" in report["dataset"] and 0.6 < report["test_accuracy"] <= 1


def test_the_emoji_reference_ships_and_belongs_to_the_emoji_judge():
    reference = load_reference(load_judge(name="emoji"))  # None: the judge's own statistics
    assert reference.mean.shape == (judge_module.EMOJI_FEATURES,)
    assert {"fd_real_floor", "classifier_is_real", "label_accuracy_real"} <= set(reference.figures)
    with pytest.raises(UserError, match="emoji judge's statistics, not the digits judge's"):
        Reference.load(load_judge(), SPEC.reference)
    with pytest.raises(UserError, match="--real mnist is another judge's statistics; the emoji judge's are 'emoji'"):
        load_reference(load_judge(name="emoji"), "mnist")


def test_colour_models_get_the_emoji_judge_and_grey_ones_the_digits():
    class Config:
        channels = 3

    assert judge_for(Config()) == "emoji"
    Config.channels = 1
    assert judge_for(Config()) == "digits"


def test_package_data_ships_every_judge_file():
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["ganzoo"]
    files = [p.relative_to(ROOT / "core").as_posix() for p in (ROOT / "core" / "judge-weights").rglob("*")
             if p.is_file()]
    assert {"judge-weights/emoji/model.safetensors", "judge-weights/emoji/report.json",
            "judge-weights/emoji/emoji-test-reference.safetensors"} <= set(files)
    assert all(any(fnmatch.fnmatch(f, g) for g in globs) for f in files)


@pytest.mark.skipif(not EMOJI.is_dir(), reason=f"needs the emoji dataset at {EMOJI}")
def test_the_judge_scores_the_test_split_as_its_report_says():
    from ganzoo.data import load_images

    judge = load_judge(name="emoji")
    report = json.loads((SPEC.directory / "report.json").read_text())
    correct = total = 0
    for style in ("twemoji", "noto"):
        test = load_images(EMOJI / style / "test", 32, 3)
        assert test.class_names == list(judge_module.EMOJI_CATEGORIES)
        with torch.no_grad():
            predicted = judge(test.images.float() / 127.5 - 1).argmax(1)
        correct, total = correct + int((predicted == test.labels).sum()), total + len(test)
    assert round(correct / total, 4) == report["test_accuracy"]
