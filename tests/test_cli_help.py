"""The `ganzoo` command line's help: fast, plugin-free top-level help, metavars that say what
a flag takes, config help from the fields' comments, and choices typed without quotes."""

import argparse
import dataclasses
import subprocess
import sys
import time

import pytest
from ganzoo.cli import add_config_flags, build_parser, field_comments, main, slug

HEAVY = ("torch", "gradio", "ganzoo.plugins", "ganzoo.registry")


def imported_modules(*args, cwd) -> set[str]:
    """The modules `python -m ganzoo ARGS` imports, from Python's own -X importtime log."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "ganzoo", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 2), done.stderr
    return {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize("args", [["--help"], [], ["--version"], ["train", "--help"], ["sample", "--help"]],
                         ids=lambda args: " ".join(args) or "no arguments")
def test_help_without_a_variant_loads_no_plugin_and_no_torch(args, tmp_path):
    modules = imported_modules(*args, cwd=tmp_path)
    assert "ganzoo.cli" in modules  # the log is read right
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY or m.startswith(HEAVY))
    assert heavy == []


def test_help_wall_time_is_printed(tmp_path):
    """A measurement, not an assertion: the wall time of `python -m ganzoo --help`."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ganzoo", "--help"], cwd=tmp_path, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    print(f"python -m ganzoo --help: {', '.join(f'{t:.3f}' for t in times)} s")


def help_of(capsys, *args) -> str:
    with pytest.raises(SystemExit) as exit:
        main([*args, "--help"])
    assert exit.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("args, expected", [
    (("train", "dcgan"), ["--data DATA", "--image-size IMAGE_SIZE", "--betas BETAS BETAS"]),
    (("train", "cyclegan"), ["--data DATA", "--data-b DATA"]),
    (("train", "style_transfer"), ["--data DATA", "--style-image DATA"]),
    (("sample", "dcgan"), ["-n N, --n N", "--seed SEED"]),
    (("sample", "cgan"), ["--label {all,0,1,2,3,4,5,6,7,8,9}", "--per-class PER_CLASS", "--seed SEED"]),
    (("sample", "cyclegan"), ["--image IMAGE", "--direction {a2b,b2a}"]),
    (("sample", "style_transfer"), ["--content IMAGE", "--style IMAGE", "--style-preset {any-style-gatys}",
                                    "--size SIZE", "--steps STEPS"]),
], ids=lambda value: " ".join(value) if isinstance(value, tuple) else "")
def test_metavars_say_what_a_flag_takes(args, expected, capsys):
    text = help_of(capsys, *args)
    assert "DATA__" not in text and "INPUT__" not in text and "CONFIG__" not in text
    for form in expected:
        assert form in text


def test_config_flags_say_what_the_field_means_and_its_default(capsys):
    text = " ".join(help_of(capsys, "train", "dcgan").split())
    assert "--width WIDTH channels of the generator's last and the discriminator's first layer (default: 64)" in text
    assert "--decay-steps DECAY_STEPS ... then linearly to zero over this many steps" in text
    assert "--channels CHANNELS default: 1" in text  # no comment: still its default


def test_sliders_show_their_range(capsys):
    text = " ".join(help_of(capsys, "sample", "style_transfer").split())
    assert "(64 to 1024; default: 512)" in text and "(default: any-style-gatys)" in text


# --------------------------------------------------------------------------- field help


@dataclasses.dataclass
class CommentedConfig:
    """A docstring # that is no comment."""

    # a comment on its own line describes no field
    plain: int = 1
    size: int = 28  # pixels per side; 100% of the %(prog)s
    told: float = dataclasses.field(default=0.5, metadata={"help": "given by metadata"})  # not this
    names: list = dataclasses.field(  # from the data
        default_factory=list)  # empty: 0, 1, ...
    flag: bool = False  # turn it on

    def method(self):
        inner: int = 3  # a local, not a field
        return inner


@dataclasses.dataclass
class CommentedChild(CommentedConfig):
    plain: int = 2  # now described


def test_field_comments_reads_each_fields_trailing_comment():
    assert field_comments(CommentedConfig) == {
        "size": "pixels per side; 100% of the %(prog)s",
        "told": "not this",
        "names": "from the data empty: 0, 1, ...",
        "flag": "turn it on",
    }
    assert field_comments(CommentedChild)["plain"] == "now described"
    assert field_comments(CommentedChild)["size"] == "pixels per side; 100% of the %(prog)s"


def test_config_help_prefers_metadata_then_the_comment_and_keeps_the_default():
    parser = argparse.ArgumentParser(prog="x")
    add_config_flags(parser, CommentedConfig)
    text = " ".join(parser.format_help().split())
    assert "--plain PLAIN default: 1" in text
    assert "--size SIZE pixels per side; 100% of the %(prog)s (default: 28)" in text
    assert "--told TOLD given by metadata (default: 0.5)" in text
    assert "--names NAMES from the data empty: 0, 1, ... (JSON; default: [])" in text
    assert "--flag, --no-flag turn it on (default: False)" in text


def test_a_config_without_source_shows_only_defaults():
    namespace = {"dataclasses": dataclasses, "__name__": "made_at_run_time"}
    exec("@dataclasses.dataclass\nclass Made:\n    width: int = 4  # unseen\n", namespace)
    assert field_comments(namespace["Made"]) == {}
    parser = argparse.ArgumentParser(prog="x")
    add_config_flags(parser, namespace["Made"])
    assert "--width WIDTH default: 4" in " ".join(parser.format_help().split())


# --------------------------------------------------------------------------- choices


def test_slug():
    assert slug("any style (Gatys)") == "any-style-gatys"
    assert slug("T-shirt/top") == "t-shirt-top"
    assert slug("a2b") == "a2b" and slug(slug("Ankle boot")) == slug("Ankle boot")


@pytest.mark.parametrize("given", ["any style (Gatys)", "any-style-gatys", "Any Style Gatys"])
def test_a_choice_with_spaces_takes_its_exact_text_or_its_slug(given):
    argv = ["sample", "style_transfer", "--style-preset", given]
    args = build_parser(argv).parse_args(argv)
    assert args.input__style_preset == "any style (Gatys)"


def test_an_unknown_choice_lists_the_forms_to_type(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["sample", "style_transfer", "--style-preset", "cubism"])
    assert exit.value.code == 2
    assert "invalid choice: 'cubism' (choose from any-style-gatys)" in capsys.readouterr().err
