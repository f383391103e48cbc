"""The Train tab in a real browser (Debian's Chromium, driven by Playwright): upload a tiny zip,
start a tiny DCGAN, see the sample grid change, stop, resume, find the run again after a
reload, download the model, and generate with it from the DCGAN tab's model picker.

Skipped, with the reason, where Chromium or Playwright is missing (`.ci/run` installs
Chromium). The browser may reach 127.0.0.1 only: every other request is aborted before it
leaves. Screenshots of the key moments go to $GANZOO_SCREENSHOTS, else the test's tmp folder."""

import io
import os
import re
import shutil
import zipfile
from pathlib import Path

import pytest
import torch
from ganzoo import ui
from ganzoo.app import build_app
from ganzoo.jobs import JobManager
from ganzoo.registry import registry
from PIL import Image
from served_app import served

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: `apt-get install chromium` (.ci/run does)")

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
WAIT = 120_000  # ms: generous, for a busy 2-core machine; conditions are awaited, never times
NAME = "browser run"


def tiny_zip(path: Path) -> Path:
    """20 grey 16x16 images in two class folders under one top folder, and a stray text file."""
    generator = torch.Generator().manual_seed(0)
    with zipfile.ZipFile(path, "w") as archive:
        for label in ("circles", "squares"):
            for index in range(10):
                pixels = (torch.rand(16, 16, generator=generator) * 255).to(torch.uint8).numpy()
                buffer = io.BytesIO()
                Image.fromarray(pixels, mode="L").save(buffer, format="png")
                archive.writestr(f"shapes/{label}/{index}.png", buffer.getvalue())
        archive.writestr("shapes/notes.txt", "not an image")
    return path


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("GANZOO_DATA", str(tmp_path / "no-data"))  # no data sets: the upload is the choice
    monkeypatch.delenv("GANZOO_WEIGHTS_DCGAN", raising=False)
    monkeypatch.setattr(ui, "MODELS", ui.ModelCache())
    jobs = JobManager(tmp_path / "jobs")
    demo = build_app({"dcgan": registry()["dcgan"]}, jobs=jobs)
    with served(demo) as url:
        try:
            yield url, jobs
        finally:
            jobs.shutdown()


@pytest.fixture
def page(tmp_path):
    with playwright.sync_playwright() as driver:
        # Chromium's profile, crash reports and dconf go under tmp_path, not the user's home.
        home = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
                "XDG_CACHE_HOME": str(tmp_path / "cache")}
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True,
                                         env={**os.environ, **home})
        context = browser.new_context(viewport={"width": 1400, "height": 1800}, accept_downloads=True)
        context.route(re.compile(r"^(?!https?://127\.0\.0\.1[:/]).*"), lambda route: route.abort())
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


class Shots:
    def __init__(self, page, folder: Path):
        self.page, self.folder, self.taken = page, folder, []
        folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, name: str) -> None:
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)


def _step(page) -> int:
    match = re.search(r"step ([\d,]+) of", page.locator("#train-status").inner_text())
    return int(match.group(1).replace(",", "")) if match else -1


def _grid_source(page) -> str | None:
    image = page.locator("#train-grid img")
    return image.first.get_attribute("src") if image.count() else None


def _set(page, elem_id: str, value) -> None:
    field = page.locator(f"#{elem_id} input").first
    field.fill(str(value))
    field.press("Tab")


def test_train_watch_stop_resume_and_use_from_the_browser(app, page, tmp_path):
    url, jobs = app
    expect = playwright.expect
    shots = Shots(page, Path(os.environ.get("GANZOO_SCREENSHOTS") or tmp_path / "screenshots"))
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_role("tab", name="Train").click()

    page.locator("#train-upload input[type=file]").set_input_files(str(tiny_zip(tmp_path / "shapes.zip")))
    expect(page.locator("#train-upload")).to_contain_text("shapes.zip", timeout=WAIT)
    for elem_id, value in [("train-steps", 100_000), ("train-batch-size", 4), ("train-image-size", 16),
                           ("train-channels", 1), ("train-width", 4), ("train-sample-every", 2),
                           ("train-checkpoint-every", 10)]:
        _set(page, elem_id, value)
    page.locator("#train-name textarea, #train-name input").first.fill(NAME)
    shots("settings")
    page.locator("#train-start").click()

    # Watch: the status counts steps, and the grid is replaced as training goes on.
    expect(page.locator("#train-status")).to_contain_text("training, step", timeout=WAIT)
    # Gradio names a cached image by the hash of its bytes: another src is another grid.
    page.wait_for_function("() => { const img = document.querySelector('#train-grid img');"
                           " return img && img.complete && img.naturalWidth > 0; }", timeout=WAIT)
    first = _grid_source(page)
    shots("training-first-grid")
    page.wait_for_function("(src) => { const img = document.querySelector('#train-grid img');"
                           " return img && img.getAttribute('src') !== src && img.complete && img.naturalWidth > 0; }",
                           arg=first, timeout=WAIT)
    expect(page.locator("#train-status")).to_contain_text("steps/s", timeout=WAIT)
    shots("training-grid-changed")

    # Stop: a checkpoint, and Resume offered.
    page.locator("#train-stop").click()
    expect(page.locator("#train-status")).to_contain_text("stopped", timeout=WAIT)
    stopped_at = _step(page)
    assert stopped_at > 0
    expect(page.locator("#train-resume")).to_be_enabled(timeout=WAIT)
    shots("stopped")

    # A reload finds the run again (the browser's id is in its local storage).
    page.reload(wait_until="domcontentloaded")
    page.get_by_role("tab", name="Train").click()
    expect(page.locator("#train-status")).to_contain_text(f'Run "{NAME}"', timeout=WAIT)
    expect(page.locator("#train-status")).to_contain_text("stopped", timeout=WAIT)

    # Resume: training continues from the checkpoint, past where it stopped.
    page.locator("#train-resume").click()
    expect(page.locator("#train-status")).to_contain_text("training, step", timeout=WAIT)
    page.wait_for_function("(after) => { const m = document.querySelector('#train-status').innerText"
                           ".match(/step ([\\d,]+) of/); return m && Number(m[1].replace(/,/g, '')) > after; }",
                           arg=stopped_at + 4, timeout=WAIT)
    shots("resumed")
    page.locator("#train-stop").click()
    expect(page.locator("#train-status")).to_contain_text("stopped", timeout=WAIT)
    expect(page.locator("#train-download")).to_be_enabled(timeout=WAIT)
    shots("stopped-again")

    # Download: the weights, their config and a model card.
    with page.expect_download(timeout=WAIT) as download:
        page.locator("#train-download").click()
    saved = tmp_path / "download.zip"
    download.value.save_as(saved)
    names = zipfile.ZipFile(saved).namelist()
    assert {"browser-run/config.json", "browser-run/model.safetensors", "browser-run/README.md"} <= set(names)

    # Use: the run is in the DCGAN tab's model picker, and answers there.
    page.get_by_role("tab", name="DCGAN").click()
    picker = page.locator("#model-dcgan input").first
    picker.click()
    option = page.get_by_role("option", name=NAME)
    expect(option).to_be_visible(timeout=WAIT)
    page.wait_for_timeout(500)  # for the screenshot only: the list fades in
    shots("model-picker")
    option.click()
    page.locator("#generate-dcgan").click()
    expect(page.locator("#weights-dcgan")).to_contain_text(f'model "{NAME}"', timeout=WAIT)
    expect(page.locator("#result-dcgan img")).to_be_visible(timeout=WAIT)
    shots("generated-with-the-run")
    print("screenshots:", *shots.taken, sep="\n  ")


@pytest.fixture
def cgan_app(monkeypatch):
    monkeypatch.delenv("GANZOO_WEIGHTS_CGAN", raising=False)
    monkeypatch.setattr(ui, "MODELS", ui.ModelCache())
    with served(build_app({"cgan": registry()["cgan"]})) as url:
        yield url


def test_the_emoji_model_draws_a_flag_from_the_browser(cgan_app, page, tmp_path):
    """Picking the conditional GAN's Emoji model puts the emoji categories in the class picker."""
    expect = playwright.expect
    shots = Shots(page, Path(os.environ.get("GANZOO_SCREENSHOTS") or tmp_path / "screenshots"))
    page.goto(cgan_app, wait_until="domcontentloaded")
    page.locator("#model-cgan input").first.click()
    page.get_by_role("option", name="Emoji").click()
    expect(page.locator("#weights-cgan")).to_contain_text('model "Emoji"', timeout=WAIT)
    page.get_by_role("combobox", name="Class").click()
    flags = page.get_by_role("option", name="flags")
    expect(flags).to_be_visible(timeout=WAIT)
    expect(page.get_by_role("option", name="7", exact=True)).to_have_count(0)
    expect(page.locator("body")).to_contain_text("one of activities, animals-nature", timeout=WAIT)
    flags.click()
    page.locator("#generate-cgan").click()
    expect(page.locator("#result-cgan img")).to_be_visible(timeout=WAIT)
    expect(page.locator("#weights-cgan")).to_contain_text("Emoji", timeout=WAIT)
    shots("a-flag")


@pytest.fixture
def cyclegan_app(monkeypatch):
    monkeypatch.delenv("GANZOO_WEIGHTS_CYCLEGAN", raising=False)
    monkeypatch.delenv("GANZOO_EXAMPLES_CYCLEGAN", raising=False)
    monkeypatch.setattr(ui, "MODELS", ui.ModelCache())
    with served(build_app({"cyclegan": registry()["cyclegan"]})) as url:
        yield url


def test_one_click_on_a_test_emoji_restyles_it_with_the_emoji_model(cyclegan_app, page, tmp_path):
    """The examples name their model: a Twemoji example picks the Emoji CycleGAN, whose
    directions are named after its styles."""
    expect = playwright.expect
    shots = Shots(page, Path(os.environ.get("GANZOO_SCREENSHOTS") or tmp_path / "screenshots"))
    page.goto(cyclegan_app, wait_until="domcontentloaded")
    page.get_by_text("twemoji-flags-1f1e6-1f1f4.png").click()
    expect(page.locator("#weights-cyclegan")).to_contain_text('model "Emoji"', timeout=WAIT)
    expect(page.locator("#result-cyclegan img")).to_be_visible(timeout=WAIT)
    expect(page.get_by_text("Twemoji to Noto", exact=True)).to_be_visible(timeout=WAIT)
    shots("a-translated-flag")
