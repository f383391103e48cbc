"""The plugin kit: the example package in examples/ganzoo-plugin-example installs offline with
pip, and its variant then appears wherever a built-in one does: the registry (under its
plugin's name), `ganzoo list`, the app as a tab and on the API. Its own tests pass too.

pip installs it into a throwaway folder (``--target``), never into the environment the tests
run in: that folder goes on ``sys.path`` (and PYTHONPATH for subprocesses) for this module only.
"""

import importlib
import importlib.metadata
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from ganzoo import testing, ui
from ganzoo.registry import collect_variants, registry
from ganzoo.weights import save_weights

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "ganzoo-plugin-example"
DISTRIBUTION, MODULE = "ganzoo-plugin-example", "ganzoo_plugin_example"
PLUGIN, VARIANT = "example", "example_mlp"
QUIET_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


@pytest.fixture(scope="module")
def example_installed(tmp_path_factory):
    """The example package installed by pip into a throwaway folder, importable from this
    process; yields that folder and the environment for subprocesses that should see it."""
    target = tmp_path_factory.mktemp("site")
    # A copy: building in place would leave build/ and .egg-info/ in the checkout.
    source = shutil.copytree(EXAMPLE, tmp_path_factory.mktemp("src") / EXAMPLE.name,
                             ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    # --no-index: never the network; --no-build-isolation: this environment's setuptools;
    # --no-deps: the package's dependency, ganzoo, is this checkout.
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--no-cache-dir", "--no-index", "--no-build-isolation",
                             "--no-deps", "--quiet", "--target", str(target), str(source)],
                            cwd=tmp_path_factory.getbasetemp(), env=QUIET_ENV, capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, f"pip could not build the example plugin:\n{result.stdout}{result.stderr}"
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    try:
        env = {**QUIET_ENV, "PYTHONPATH": os.pathsep.join([str(target), QUIET_ENV.get("PYTHONPATH", "")])}
        yield SimpleNamespace(target=target, env=env)
    finally:
        sys.path.remove(str(target))
        for name in [m for m in sys.modules if m == MODULE or m.startswith(MODULE + ".")]:
            del sys.modules[name]
        importlib.invalidate_caches()
        registry(refresh=True)  # forget the example's variant


def test_pip_put_the_example_in_the_throwaway_folder_only(example_installed):
    distribution = importlib.metadata.distribution(DISTRIBUTION)
    assert Path(distribution.locate_file("")).resolve() == example_installed.target.resolve()
    outside = [p for p in sys.path if Path(p).resolve() != example_installed.target.resolve()]
    assert not [d for d in importlib.metadata.distributions(path=outside) if d.metadata["Name"] == DISTRIBUTION]


def test_example_declares_the_ganzoo_entry_point(example_installed):
    entry_points = importlib.metadata.distribution(DISTRIBUTION).entry_points.select(group="ganzoo")
    assert [(ep.name, ep.value) for ep in entry_points] == [(PLUGIN, f"{MODULE}.variant")]


def test_registry_finds_the_example_variant_under_its_plugin_name(example_installed):
    registration = collect_variants()[VARIANT]
    assert registration.plugin == PLUGIN
    assert registration.variant.__module__ == f"{MODULE}.variant"


def test_ganzoo_list_shows_the_example_variant(example_installed):
    result = subprocess.run([sys.executable, "-m", "ganzoo", "list"], cwd=ROOT, env=example_installed.env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    row = next((line.split() for line in result.stdout.splitlines() if line.startswith(VARIANT + " ")), None)
    assert row is not None, f"{VARIANT} is not listed:\n{result.stdout}"
    assert PLUGIN in row


def test_example_package_passes_its_own_tests(example_installed):
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE)],
                            cwd=ROOT, env=example_installed.env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_app_has_a_tab_and_an_endpoint_for_the_example(example_installed, tmp_path, monkeypatch):
    import gradio as gr
    from gradio_client import Client

    from ganzoo.app import build_app

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
