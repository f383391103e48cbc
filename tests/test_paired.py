"""Translations against the truth (ganzoo.paired): L1 and PSNR, the identity baseline, pairing
two folders by file name, and the emoji test split's baseline as its README gives it."""

from pathlib import Path

import pytest
import torch
from ganzoo.errors import UserError
from ganzoo.images import to_pil
from ganzoo.paired import evaluate_paired, l1_and_psnr, paired_figures, read_pairs
from ganzoo.registry import get_variant
from ganzoo.weights import random_model
from torch import nn

EMOJI = Path(__file__).resolve().parents[2] / "shared" / "data" / "emoji"


def random_images(n, seed, channels=3, size=8):
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_l1_and_psnr_in_unit_pixels():
    black, white = torch.full((2, 1, 4, 4), -1.0), torch.ones(2, 1, 4, 4)
    assert l1_and_psnr(black, white) == (1.0, 0.0)
    assert l1_and_psnr(black + 0.2, black) == pytest.approx((0.1, 20.0))  # 0.1 in [0, 1]: MSE 0.01
    assert l1_and_psnr(white, white) == (0.0, 100.0)


def test_identity_scores_the_baseline_and_a_perfect_mapping_l1_zero():
    inputs, truth = random_images(6, 0), random_images(6, 1)
    identity = paired_figures(inputs, truth, inputs)
    assert identity["paired_l1"] == identity["paired_l1_identity"] > 0.2
    assert identity["paired_psnr"] == identity["paired_psnr_identity"]
    perfect = paired_figures(truth.clone(), truth, inputs)
    assert perfect["paired_l1"] == 0 and perfect["paired_psnr"] == 100 and perfect["paired_images"] == 6
    assert perfect["paired_l1_identity"] == identity["paired_l1_identity"]


def write_folder(root: Path, names: dict[str, str], seed: int, channels: int = 1, size: int = 16) -> Path:
    """{file name: sub-folder} -> PNGs of random images."""
    for i, (name, folder) in enumerate(names.items()):
        (root / folder).mkdir(parents=True, exist_ok=True)
        to_pil(random_images(1, seed * 100 + i, channels, size)[0]).save(root / folder / f"{name}.png")
    return root


def test_folders_are_paired_by_file_name_and_an_unpaired_image_is_refused(tmp_path):
    a = write_folder(tmp_path / "a", {"1f600": "faces", "1f1e6": "flags", "2b50": "faces"}, seed=1)
    b = write_folder(tmp_path / "b", {"2b50": "x", "1f600": "y", "1f1e6": "z"}, seed=2)  # other folders, other order
    inputs, truth = read_pairs(a, b, 16, 1)
    assert inputs.class_names == ["faces", "flags"] and inputs.labels.tolist() == [1, 0, 0]  # 1f1e6, 1f600, 2b50
    from ganzoo.data import load_images

    assert torch.equal(truth[2], load_images(b / "x" / "2b50.png", 16, 1).images[0])
    assert torch.equal(inputs.images[0], load_images(a / "flags" / "1f1e6.png", 16, 1).images[0])
    write_folder(b, {"1f603": "y"}, seed=3)
    with pytest.raises(UserError, match=r"1 images have no pair .*1f603 \(only in .*b\)"):
        read_pairs(a, b, 16, 1)
    write_folder(a, {"1f603": "faces"}, seed=4)
    write_folder(a, {"1f603": "flags"}, seed=5)  # the same name in two sub-folders
    with pytest.raises(UserError, match="two images named 1f603"):
        read_pairs(a, b, 16, 1)


def test_a_cyclegan_that_changes_nothing_scores_the_identity_baseline(tmp_path):
    variant_class = get_variant("cyclegan")
    model = random_model(variant_class, config=variant_class.tiny_config())
    names = {f"{i:04x}": "all" for i in range(5)}
    a, b = write_folder(tmp_path / "a", names, seed=1), write_folder(tmp_path / "b", names, seed=2)
    random = evaluate_paired(model, a, b)
    assert random["paired_images"] == 5 and random["paired_l1"] != random["paired_l1_identity"]
    model.nets["generator_ab"] = nn.Identity()
    unchanged = evaluate_paired(model, a, b)
    assert unchanged["paired_l1"] == unchanged["paired_l1_identity"] == random["paired_l1_identity"]
    # b2a runs the other generator: still random, so it no longer scores the baseline
    backwards = evaluate_paired(model, a, b, direction="b2a")
    assert backwards["paired_l1"] not in (random["paired_l1"], unchanged["paired_l1"])
    model.nets["generator_ab"], model.nets["generator_ba"] = model.nets["generator_ba"], nn.Identity()
    assert evaluate_paired(model, a, b, direction="b2a") == unchanged


def test_eval_refuses_a_direction_the_model_does_not_offer(tmp_path, capsys):
    from ganzoo.cli import main
    from ganzoo.weights import save_weights

    variant_class = get_variant("cyclegan")
    model = random_model(variant_class, config=variant_class.tiny_config())
    save_weights(tmp_path / "w", model.variant, model.nets)
    assert main(["eval", "cyclegan", "--weights", str(tmp_path / "w"), "--direction", "sideways"]) == 2
    assert "translates a2b and b2a, not 'sideways'" in capsys.readouterr().err
    assert main(["eval", "dcgan", "--direction", "b2a"]) == 2
    assert "dcgan has no directions to choose from" in capsys.readouterr().err


@pytest.mark.skipif(not EMOJI.is_dir(), reason=f"needs the emoji dataset at {EMOJI}")
def test_the_emoji_test_splits_identity_baseline_is_the_readmes():
    inputs, truth = read_pairs(EMOJI / "twemoji" / "test", EMOJI / "noto" / "test", 64, 3)
    figures = paired_figures(inputs.images.float() / 127.5 - 1, truth.float() / 127.5 - 1,
                             inputs.images.float() / 127.5 - 1)
    assert figures["paired_images"] == 387 and len(inputs.class_names) == 9
    assert round(figures["paired_l1_identity"], 3) == 0.168 and round(figures["paired_psnr_identity"], 1) == 11.7


def test_the_label_kept_counts_only_inputs_the_judge_reads_right():
    from ganzoo.evaluation import judge_images, label_kept
    from ganzoo.judge import load_judge

    judge = load_judge(name="digits")
    inputs = random_images(40, 3, channels=1, size=28)
    read = judge_images(judge, [inputs]).probabilities.argmax(1)
    labels = read.clone()
    labels[:10] = (read[:10] + 1) % 10  # the judge misreads these ten inputs
    unchanged = label_kept(judge, inputs, [inputs], labels)
    assert unchanged == {"label_accuracy_input": 0.75, "label_kept_of_correct": 1.0}
    blank = torch.full_like(inputs, -1.0)
    blank_read = int(judge_images(judge, [blank]).probabilities.argmax(1)[0])
    expected = float((labels[10:] == blank_read).float().mean())
    assert label_kept(judge, inputs, [blank], labels)["label_kept_of_correct"] == pytest.approx(expected)
