"""Docs are code: every `ganzoo ...` command line in the README, docs/, the example plugin's README,
the bundled model cards and the cards `model_card` writes parses with the CLI's own parser.

A command line is a line of a fenced code block that starts with `ganzoo ` (after any
`NAME=value` environment assignments, or `torchrun` and its options up to `-m`), or a comment
in one that quotes such a command (`# which runs: ganzoo train ...`). Backslash-continued
lines are joined, trailing `# comments` dropped and placeholders such as `<revision>` given a
plausible value. Commands that name a third-party variant (the example's `example_mlp`, the
guide's `my_gan`) parse with that plugin installed as pip would install it, from the code the
docs ship.

``documented_commands()`` lists every command this module parses.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import importlib
import io
import re
import shlex
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from ganzoo.cli import _peek, build_parser  # _peek: how the CLI itself reads a flag before parsing
from ganzoo.hub import model_card
from ganzoo.registry import collect_variants, get_plugin_manager, registry

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "ganzoo-plugin-example"
DOCS = ("README.md", "docs/*.md", "examples/*/README.md", "plugins/weights/*/README.md")
PLACEHOLDERS = {"<revision>": "main"}
GUIDE_PLUGIN = "# my_gan/variant.py"  # the first line of the guide's minimal plugin


@dataclasses.dataclass(frozen=True)
class Command:
    source: str  # file:line, or the card it came from
    text: str  # the command parsed: continuation lines joined, comments dropped, placeholders filled
    argv: tuple[str, ...]  # the words after `ganzoo`
    written: frozenset[str]  # folders that commands before it in the same source write (--out)

    def __str__(self) -> str:
        return f"{self.source}: {self.text}"


# --------------------------------------------------------------------------- extraction


def _code_lines(text: str):
    """(line number, line) of each line inside fenced code blocks, continuations joined."""
    fenced, pending, start = False, "", 0
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced, pending = not fenced, ""
            continue
        if not fenced:
            continue
        if not pending:
            start = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        yield start, pending + line
        pending = ""


def _words(line: str) -> list[str] | None:
    """The words of a ganzoo command on this line, from `ganzoo` on; None if it holds none."""
    line = line.strip()
    if line.startswith("#"):  # a command quoted in a comment: "# which runs: ganzoo train ..."
        line = re.sub(r"^#\s*(?:[\w ,]+:\s+)?", "", line)
    for placeholder, value in PLACEHOLDERS.items():
        line = line.replace(placeholder, value)
    try:
        words = shlex.split(line, comments=True)
    except ValueError:
        return None
    while words and re.fullmatch(r"[A-Za-z_]\w*=.*", words[0]):  # NAME=value before the command
        words.pop(0)
    if words and words[0] == "torchrun" and "-m" in words:  # torchrun [its options] -m ganzoo ...
        words = words[words.index("-m") + 1:]
    return words if words and words[0] == "ganzoo" and len(words) > 1 else None


def commands_in(text: str, source: str) -> list[Command]:
    found, written = [], set()
    for number, line in _code_lines(text):
        words = _words(line)
        if words is None:
            continue
        argv = tuple(words[1:])
        found.append(Command(f"{source}:{number}", shlex.join(words), argv, frozenset(written)))
        out = _peek(argv, "--out")
        if argv[0] in ("train", "import") and out:
            written.add(out.rstrip("/"))
    return found


def card_commands() -> list[Command]:
    """The commands of cards written now by `model_card` for every built-in variant: one as
    `ganzoo push` writes it (a Hub repo id) and one as scripts/train_defaults.py writes it
    for bundled weights (no repo id); and a style transfer card for a trained style, whose
    preset name the parser cannot know before the weights are downloaded."""
    builtins = collect_variants(get_plugin_manager(load_entry_points=False))
    cards = []
    for name, registration in builtins.items():
        config = dataclasses.asdict(registration.variant.tiny_config())
        cards += [(f"card({name}, pushed)", {"variant": name, "config": config}, f"you/{name}"),
                  (f"card({name}, bundled)", {"variant": name, "config": config}, None)]
    styled = dataclasses.asdict(builtins["style_transfer"].variant.tiny_config()) | {"style_name": "starry night"}
    cards.append(("card(style_transfer, pushed, a trained style)",
                  {"variant": "style_transfer", "config": styled}, "you/starry-night"))
    found = []
    with tempfile.TemporaryDirectory() as run:  # an empty run folder: no run.json, no metrics
        for source, info, repo_id in cards:
            found += commands_in(model_card(Path(run), info, repo_id, samples=False), source)
    return found


def documented_commands() -> list[Command]:
    """Every command this module parses: the docs' and the cards' `model_card` writes now."""
    found = []
    for pattern in DOCS:
        for path in sorted(ROOT.glob(pattern)):
            found += commands_in(path.read_text(), str(path.relative_to(ROOT)))
    return found + card_commands()


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


def guide_plugin_source() -> str:
    """The guide's minimal plugin (`my_gan/variant.py`), as the docs print it."""
    for pattern in DOCS:
        for path in sorted(ROOT.glob(pattern)):
            for block in _python_blocks(path.read_text()):
                if block.startswith(GUIDE_PLUGIN):
                    return block
    raise AssertionError(f"no python block starting with {GUIDE_PLUGIN!r} in the docs")


# --------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def third_party_plugins(tmp_path_factory):
    """The example plugin and the guide's my_gan, installed as pip would (the module, and a
    dist-info with the entry point, on sys.path) without touching the environment."""
    site = tmp_path_factory.mktemp("site")
    (site / "my_gan").mkdir()
    (site / "my_gan" / "__init__.py").write_text("")
    (site / "my_gan" / "variant.py").write_text(guide_plugin_source())
    plugins = {"my_gan": ("my_gan", "my_gan.variant"),
               "ganzoo_plugin_example": ("example", "ganzoo_plugin_example.variant")}
    for distribution, (entry_name, module) in plugins.items():
        info = site / f"{distribution}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[ganzoo]\n{entry_name} = {module}\n")
    paths = [str(site), str(EXAMPLE)]
    sys.path[:0] = paths
    importlib.invalidate_caches()
    try:
        registry(refresh=True)
        yield
    finally:
        for path in paths:
            sys.path.remove(path)
        for name in [m for m in sys.modules if m.split(".")[0] in plugins]:
            del sys.modules[name]
        importlib.invalidate_caches()
        registry(refresh=True)


@pytest.mark.parametrize("command", documented_commands(), ids=str)
def test_documented_command_parses(command, third_party_plugins):
    argv = list(command.argv)
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
            build_parser(argv).parse_args(argv)
    except SystemExit:
        pytest.fail(f"`{command.text}` does not parse: {errors.getvalue().strip()}")
    weights = _peek(argv, "--weights") if argv[0] in ("sample", "eval") else None
    if weights and weights.rstrip("/") not in command.written:
        # bundled weights are the variant's default: no --weights; `bundled/x` reads as a Hub repo
        assert not weights.removeprefix("hf://").startswith("bundled/"), command.text


def test_a_bundled_card_names_no_weights():
    """Bundled weights are the variant's default, so their card's command has no --weights
    (scripts/train_defaults.py wrote `--weights bundled/<name>`, which the CLI reads as a Hub repo)."""
    bundled = [c for c in card_commands() if "bundled" in c.source]
    assert bundled and not [c.text for c in bundled if "--weights" in c.argv]


def test_every_kind_of_documented_command_is_found():
    """The extraction finds what it must: the three defects of issue 12 were in these lines."""
    commands = documented_commands()
    sources = {c.source.split(":")[0].split("/")[0] for c in commands}
    assert {"README.md", "docs", "examples", "plugins", "card(cgan, pushed)", "card(cgan, bundled)"} <= sources
    verbs = {c.argv[0] for c in commands}
    assert {"list", "train", "sample", "push", "eval", "import"} <= verbs
    variants = {c.argv[1] for c in commands if c.argv[0] in ("train", "sample") and len(c.argv) > 1}
    assert {"cyclegan", "cgan", "style_transfer", "example_mlp", "my_gan"} <= variants
    # continued lines joined, comments and environment assignments dropped, placeholders filled
    joined = [c for c in commands if "--init-from" in c.argv and "--decay-steps" in c.argv]
    assert joined and all("#" not in word for c in commands for word in c.argv)
    assert any(c.argv[:2] == ("eval", "wgan_gp") for c in commands)
    assert not [c for c in commands if "<" in " ".join(c.argv)]


def test_the_guide_and_the_example_import_only_ganzoo_api():
    """Third-party plugins use one public module: the guide's code and the example's sources."""
    sources = [(f"docs/writing-a-plugin.md block {i}", block)
               for i, block in enumerate(_python_blocks((ROOT / "docs" / "writing-a-plugin.md").read_text()))]
    sources += [(str(path.relative_to(ROOT)), path.read_text()) for path in sorted(EXAMPLE.rglob("*.py"))]
    imported = []
    for name, code in sources:
        tree = ast.parse(textwrap.dedent(code))  # a method on its own is printed indented
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.append((name, node.module))
            elif isinstance(node, ast.Import):
                imported += [(name, alias.name) for alias in node.names]
        # comments that tell the reader what to import count too ("# with: from ganzoo.api import step")
        imported += [(name, m) for m in re.findall(r"#.*?\bfrom (\S+) import", code)]
    platform = [(name, module) for name, module in imported
                if module.split(".")[0] in ("ganzoo", "core", "plugins") and module != "ganzoo.api"]
    assert not platform, f"plugins import the platform only from ganzoo.api: {platform}"
    assert any(module == "ganzoo.api" for _, module in imported)
