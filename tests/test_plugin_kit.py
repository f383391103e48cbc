"""The plugin kit: the example package in examples/ganzoo-plugin-example installs offline with
pip, and its variant then appears wherever a built-in one does: the registry (under its
plugin's name), `ganzoo list`, the app as a tab and on the API. Its own tests pass too."""

import importlib
import importlib.metadata
import importlib.util
import os
import site
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from core import testing, ui
from core.plugins import collect_variants, registry
from core.weights import save_weights

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "ganzoo-plugin-example"
DISTRIBUTION, MODULE = "ganzoo-plugin-example", "ganzoo_plugin_example"
PLUGIN, VARIANT = "example", "example_mlp"
QUIET_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def _installed() -> bool:
    try:
        importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _pip_install(*target: str) -> subprocess.CompletedProcess:
    # --no-index: never the network; --no-build-isolation: the environment's own setuptools;
    # --no-deps: the package's dependency, ganzoo, is this checkout.
    return subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--no-build-isolation",
                           "--no-deps", "--quiet", *target], cwd=ROOT, env=QUIET_ENV, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="session")
def example_installed():
    """The example package installed in this environment (editable; a plain install where an
    editable one cannot be built), and importable from this very process."""
    if not _installed():
        result = _pip_install("-e", str(EXAMPLE))
        if result.returncode != 0:
            result = _pip_install(str(EXAMPLE))
        assert result.returncode == 0, f"pip could not install the example plugin:\n{result.stdout}{result.stderr}"
        importlib.invalidate_caches()
        assert _installed()
    if importlib.util.find_spec(MODULE) is None:
        # Installed after this interpreter started: its .pth file (the editable finder) has not
        # been read. Read it now, as the interpreter would have at start.
        for file in importlib.metadata.distribution(DISTRIBUTION).files or ():
            if file.name.endswith(".pth"):
                site.addpackage(str(file.locate().parent), file.name, None)
        importlib.invalidate_caches()
    assert importlib.util.find_spec(MODULE) is not None, f"{MODULE} is installed but cannot be imported"


def test_example_declares_the_ganzoo_entry_point(example_installed):
    entry_points = importlib.metadata.distribution(DISTRIBUTION).entry_points.select(group="ganzoo")
    assert [(ep.name, ep.value) for ep in entry_points] == [(PLUGIN, f"{MODULE}.variant")]


def test_registry_finds_the_example_variant_under_its_plugin_name(example_installed):
    registration = collect_variants()[VARIANT]
    assert registration.plugin == PLUGIN
    assert registration.variant.__module__ == f"{MODULE}.variant"


def test_ganzoo_list_shows_the_example_variant(example_installed):
    result = subprocess.run([sys.executable, "-m", "core.cli", "list"], cwd=ROOT, env=QUIET_ENV,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    row = next((line.split() for line in result.stdout.splitlines() if line.startswith(VARIANT + " ")), None)
    assert row is not None, f"{VARIANT} is not listed:\n{result.stdout}"
    assert PLUGIN in row


def test_example_package_passes_its_own_tests(example_installed):
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE)],
                            cwd=ROOT, env=QUIET_ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_app_has_a_tab_and_an_endpoint_for_the_example(example_installed, tmp_path, monkeypatch):
    import gradio as gr
    from gradio_client import Client

    from app import build_app

    variant_class = registry(refresh=True)[VARIANT].variant  # refreshed: the cache may predate the installation
    ctx, _ = testing.trained_context(variant_class, tmp_path / "train")
    weights = save_weights(tmp_path / "weights", ctx.variant, ctx.nets)
    monkeypatch.setenv(f"GANZOO_WEIGHTS_{VARIANT.upper()}", str(weights))
    monkeypatch.setattr(ui, "MODELS", ui.ModelCache())

    demo = build_app()
    tabs = {block.id: block.label for block in demo.blocks.values() if isinstance(block, gr.Tab)}
    assert tabs.get(VARIANT) == variant_class.title
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=str(tmp_path / "downloads"))
        assert f"/{VARIANT}" in client.view_api(print_info=False, return_format="dict")["named_endpoints"]
        image_path, source = client.predict(1, 4, api_name=f"/{VARIANT}")  # seed, number of images
    finally:
        demo.close()
    assert Image.open(image_path).size[0] >= variant_class.tiny_config().image_size
    assert str(weights) in source
