"""scripts/train_defaults.py reproduces every bundled model: each model a variant ships has a
recipe, each recipe's commands parse with the CLI's own parser, and the DiffAugment ablation
trains the recipe with nothing changed but the augmentation."""

import importlib
import sys
from pathlib import Path

import pytest
from ganzoo.cli import _peek, build_parser
from ganzoo.registry import BUILTIN_PLUGINS, registry

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = ROOT / "plugins" / "weights"


@pytest.fixture(scope="module")
def scripts():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        yield importlib.import_module("train_defaults"), importlib.import_module("diffaugment_ablation")
    finally:
        sys.path.remove(str(ROOT / "scripts"))
        for name in ("train_defaults", "diffaugment_ablation"):
            sys.modules.pop(name, None)


def shipped_models() -> dict[str, tuple[str, str]]:
    """plugins/weights/<folder> -> (variant, model name), as the built-in variants declare them."""
    found = {}
    for registration in registry().values():
        if registration.plugin in BUILTIN_PLUGINS:
            for model, folder in registration.variant.bundled_models().items():
                found[folder.name] = (registration.variant.name, model)
    return found


def test_every_bundled_model_has_a_recipe_and_every_recipe_a_declared_model(scripts):
    train_defaults, _ = scripts
    recipes = {name: (r.variant, r.model) for name, r in train_defaults.RECIPES.items()}
    assert recipes == shipped_models()
    on_disk = {p.parent.name for p in WEIGHTS.glob("*/config.json")}
    assert on_disk <= set(recipes), "a weights folder no recipe makes"


def test_every_recipe_command_parses(scripts):
    train_defaults, ablation = scripts
    commands = [train_defaults.stage_command(name, stage) for name in train_defaults.RECIPES
                for stage in range(1, train_defaults.stage_count(name) + 1)]
    commands += [ablation.without_diffaugment(name) for name in ablation.ABLATIONS]
    for argv in commands:
        args = build_parser(argv).parse_args(argv)
        assert args.command == "train" and _peek(argv, "--out").startswith(str(train_defaults.RUNS))


def test_the_ablation_changes_only_the_augmentation_and_the_length(scripts):
    train_defaults, ablation = scripts
    for name, steps in ablation.ABLATIONS.items():
        expected = train_defaults.stage_command(name, 1)
        at = expected.index("--diffaugment")
        del expected[at:at + 2]
        expected[expected.index("--steps") + 1] = str(steps)
        expected[expected.index("--out") + 1] = str(train_defaults.RUNS / f"{name}-no-diffaugment")
        assert ablation.without_diffaugment(name) == expected
