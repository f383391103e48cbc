"""The repository as a product: README commands, Space metadata, requirements in step."""

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent


def _front_matter() -> str:
    text = (ROOT / "README.md").read_text()
    assert text.startswith("---\n"), "a Space's README starts with YAML front matter"
    return text.split("---\n")[1]


def _requirement_names(lines) -> dict[str, str]:
    parsed = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if line:
            name = re.split(r"[<>=!~;\[ ]", line, maxsplit=1)[0].lower().replace("_", "-")
            parsed[name] = line.replace(" ", "").lower().replace("_", "-")
    return parsed


def test_requirements_txt_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert _requirement_names(project["dependencies"]) == _requirement_names(
        (ROOT / "requirements.txt").read_text().splitlines())


def test_readme_is_a_valid_gradio_space():
    front = _front_matter()
    for line in ("sdk: gradio", "app_file: app.py", 'python_version: "3.12"', "models:",
                 "preload_from_hub:\n  - timm/vgg19.tv_in1k model.safetensors"):
        assert line in front, line


def test_readme_first_commands_start_the_app_and_run_the_tests():
    body = (ROOT / "README.md").read_text().split("---\n", 2)[2]
    commands = [line.strip() for line in body.splitlines() if line.startswith("    ")][:2]
    assert commands[0].endswith("python app.py") and "pip install -e ." in commands[0]
    assert commands[1].endswith("python -m pytest") and '".[test]"' in commands[1]
    assert commands[1] in (ROOT / ".ci" / "run").read_text(), ".ci/run runs the README's test command"


def test_the_suite_cannot_reach_beyond_loopback():
    import socket

    import pytest
    from network_guard import NetworkAccessInTests

    with pytest.raises(NetworkAccessInTests, match="8.8.8.8"):
        socket.create_connection(("8.8.8.8", 53), timeout=1)
    with pytest.raises(NetworkAccessInTests, match="huggingface.co"):
        socket.getaddrinfo("huggingface.co", 443)


def test_the_code_imports_itself_only_as_ganzoo():
    """Only the name a wheel installs: `import core`/`plugins` would work from a checkout (the
    current folder is on sys.path) and break after `pip install .`."""
    generic = re.compile(r"^\s*(from|import)\s+(core|plugins|app)\b", re.M)
    offenders = [str(path.relative_to(ROOT)) for folder in ("core", "plugins", "tests", "scripts", "examples")
                 for path in (ROOT / folder).rglob("*.py") if generic.search(path.read_text())]
    assert offenders == []


def test_plugins_import_only_the_public_api():
    internal = re.compile(r"^\s*from\s+ganzoo\.(?!api\b)\w+", re.M)
    offenders = [path.name for path in [*(ROOT / "plugins").glob("*.py"),
                                        *(ROOT / "examples").rglob("*.py")] if internal.search(path.read_text())]
    assert offenders == []
