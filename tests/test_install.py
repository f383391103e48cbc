"""A normal install: the wheel built from this checkout, installed into a fresh virtual
environment, gives a working ganzoo (list, sample with the bundled weights, eval with the
judge, the app) under the one name `ganzoo`; and a checkout that pip never installed (what a
Hugging Face Space runs) starts the app with `python app.py`.

Offline and without touching this environment: the wheel is built from a copy of the sources
with this environment's setuptools, and the fresh venv sees this environment's packages
(torch, gradio ...) through a .pth file, but not its editable ganzoo, whose finder is only
activated by a .pth file in a real site directory.
"""

import json
import os
import shutil
import site
import socket
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import pytest
from gradio_client import Client

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "requirements.txt", "app.py", "core", "plugins")
ENV = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "OMP_NUM_THREADS": "1",
       "GANZOO_NO_DEFAULT_HUB": "1", "PYTHONDONTWRITEBYTECODE": "1"}
ENV.pop("PYTHONPATH", None)


def _run(command, cwd, timeout=300, env=ENV) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout, check=False)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    """A copy of the files a clone has (no build output, no caches)."""
    copy = tmp_path_factory.mktemp("checkout")
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, copy / name)
    return copy


@pytest.fixture(scope="module")
def wheel(checkout, tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--no-cache-dir", "--no-deps", "--no-index", "--no-build-isolation",
          "--quiet", "--wheel-dir", dist, checkout], cwd=dist)
    (found,) = dist.glob("ganzoo-*.whl")
    return found


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory) -> Path:
    """A new venv without ganzoo, whose interpreter finds this environment's dependencies."""
    venv = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=venv)
    python = venv / "bin" / "python"
    purelib = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                        cwd=venv).stdout.strip())
    ours = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib"), *site.getsitepackages()}
    (purelib / "_dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    return venv


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve_and_call_dcgan(command, cwd, tmp_path) -> tuple[str, str]:
    """Start the app with ``command``, call /dcgan once, stop it; (image path, weights line)."""
    port = _free_port()
    env = {**ENV, "GRADIO_SERVER_PORT": str(port)}
    server = subprocess.Popen([str(c) for c in command], cwd=cwd, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, f"the app exited:\n{server.stdout.read()[-3000:]}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the app did not start within 120 s"
                time.sleep(0.5)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=str(tmp_path))
        return client.predict(1, 4, api_name="/dcgan")
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_wheel_installs_one_namespace_with_its_weights_and_judge(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    assert {name for name in top_level if not name.endswith(".dist-info")} == {"ganzoo"}, top_level
    for required in ("ganzoo/api.py", "ganzoo/__main__.py", "ganzoo/plugins/dcgan.py",
                     "ganzoo/plugins/weights/dcgan/model.safetensors", "ganzoo/plugins/weights/cgan/config.json",
                     "ganzoo/judge-weights/digits/model.safetensors",
                     "ganzoo/judge-weights/digits/mnist-test-reference.safetensors",
                     "ganzoo/judge-weights/emoji/model.safetensors", "ganzoo/judge-weights/emoji/report.json",
                     "ganzoo/judge-weights/emoji/emoji-test-reference.safetensors"):
        assert required in names, f"the wheel lacks {required}"
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "ganzoo = ganzoo.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_a_checkout_that_pip_never_installed_serves_the_app(checkout, fresh_venv, tmp_path):
    """A Space: requirements installed, the repository copied in, `python app.py`."""
    python = fresh_venv / "bin" / "python"
    probe = _run([python, "-c", "import importlib.util; print(importlib.util.find_spec('ganzoo'))"], cwd=tmp_path)
    assert probe.stdout.strip() == "None", "the fresh venv must not see an installed ganzoo"
    image, weights = _serve_and_call_dcgan([python, "app.py"], checkout, tmp_path)
    assert Path(image).stat().st_size > 0
    assert "bundled" in weights


def test_pip_install_of_the_wheel_gives_a_working_ganzoo(wheel, fresh_venv, tmp_path):
    python = fresh_venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-cache-dir", "--no-deps", "--no-index",
          "--quiet", wheel], cwd=tmp_path)
    work = tmp_path / "elsewhere"  # not the checkout: nothing may come from the repository
    work.mkdir()
    where = _run([python, "-c", "import ganzoo, ganzoo.api; print(ganzoo.__file__)"], cwd=work).stdout
    assert str(fresh_venv) in where

    listing = _run([fresh_venv / "bin" / "ganzoo", "list"], cwd=work).stdout
    bundled = [line.split()[0] for line in listing.splitlines()[1:] if "bundled" in line]
    assert {"gan", "dcgan", "wgan", "wgan_gp", "lsgan", "began", "cgan", "cyclegan"} <= set(bundled), listing

    from PIL import Image

    Image.new("L", (28, 28)).save(work / "digit.png")
    # One interpreter for every sample: each `ganzoo` start imports torch and every plugin.
    script = ("import json, sys\nfrom ganzoo.cli import main\n"
              "codes = {}\n"
              "for name in json.loads(sys.argv[1]):\n"
              "    extra = ['--image', 'digit.png'] if name == 'cyclegan' else []\n"
              "    codes[name] = main(['sample', name, '-o', name + '.png', *extra])\n"
              "print(json.dumps(codes))\n")
    result = _run([python, "-c", script, json.dumps(bundled)], cwd=work)
    assert json.loads(result.stdout.splitlines()[-1]) == {name: 0 for name in bundled}
    assert result.stderr.count("weights: weights bundled with ganzoo") == len(bundled), result.stderr
    for name in bundled:
        assert Image.open(work / f"{name}.png").size[0] >= 28

    report = _run([fresh_venv / "bin" / "ganzoo", "eval", "dcgan", "-n", "200"], cwd=work).stdout
    assert "Frechet distance" in report and "classifier Inception score" in report

    image, weights = _serve_and_call_dcgan([python, "-m", "ganzoo.app"], work, tmp_path)
    assert Path(image).stat().st_size > 0
    assert "bundled" in weights
