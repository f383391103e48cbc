"""The app under a crowd: 16 gradio_client callers make 5 calls each on /dcgan while 8 more
translate an image on /cyclegan, all at once, with the bundled weights. Every call must
succeed with the right image, and equal seeds must give equal bytes (Gradio once rewrote a
cached output in place while another caller downloaded it: 1 call in 80 failed).

Run with -s to see the latency figures (printed, never asserted)."""

import io
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from ganzoo import testing, ui
from ganzoo.app import build_app
from ganzoo.registry import get_variant
from ganzoo.weights import load_model
from gradio_client import Client, handle_file
from PIL import Image
from served_app import served

DCGAN_CALLERS, DCGAN_CALLS, CYCLEGAN_CALLS = 16, 5, 8
SEEDS = 4  # few distinct seeds, so that many calls produce the very same image at once


@pytest.fixture(scope="module")
def url():
    monkeypatch = pytest.MonkeyPatch()
    for name in ("DCGAN", "CYCLEGAN"):
        monkeypatch.delenv(f"GANZOO_WEIGHTS_{name}", raising=False)  # the bundled weights
    monkeypatch.setattr(ui, "MODELS", ui.ModelCache())
    demo = build_app()
    with served(demo) as url:
        yield url
    monkeypatch.undo()


def pixels(image) -> np.ndarray:
    return np.asarray(image if isinstance(image, Image.Image) else Image.open(image))


def expected_images(photo: Path) -> tuple[dict, np.ndarray]:
    dcgan = load_model(get_variant("dcgan"))
    by_seed = {seed: pixels(dcgan.generate(seed=seed).grid()) for seed in range(SEEDS)}
    cyclegan = load_model(get_variant("cyclegan"))
    return by_seed, pixels(cyclegan.generate(image=Image.open(photo)).images[0])


def test_a_crowd_gets_correct_images_and_no_call_fails(url, tmp_path):
    photo = tmp_path / "photo.png"
    testing.test_image(size=40).convert("L").save(photo)
    by_seed, translated = expected_images(photo)

    def dcgan_caller(index: int) -> list:
        client = Client(url, verbose=False, download_files=str(tmp_path / f"dcgan-{index}"))
        results = []
        for call in range(DCGAN_CALLS):
            seed = (index * DCGAN_CALLS + call) % SEEDS
            start = time.perf_counter()
            path, _ = client.predict(seed, 16, api_name="/dcgan")
            results.append((seed, Path(path).read_bytes(), time.perf_counter() - start))
        return results

    def cyclegan_caller(index: int) -> tuple:
        client = Client(url, verbose=False, download_files=str(tmp_path / f"cyclegan-{index}"))
        start = time.perf_counter()
        path, _ = client.predict(handle_file(str(photo)), "a2b", api_name="/cyclegan")
        return Path(path).read_bytes(), time.perf_counter() - start

    with ThreadPoolExecutor(DCGAN_CALLERS + CYCLEGAN_CALLS) as pool:
        dcgan_jobs = [pool.submit(dcgan_caller, i) for i in range(DCGAN_CALLERS)]
        cyclegan_jobs = [pool.submit(cyclegan_caller, i) for i in range(CYCLEGAN_CALLS)]
        dcgan_results = [result for job in dcgan_jobs for result in job.result()]
        cyclegan_results = [job.result() for job in cyclegan_jobs]

    assert len(dcgan_results) == DCGAN_CALLERS * DCGAN_CALLS and len(cyclegan_results) == CYCLEGAN_CALLS
    for seed in range(SEEDS):
        files = {data for s, data, _ in dcgan_results if s == seed}
        assert len(files) == 1, f"seed {seed} gave {len(files)} different files"
        assert np.array_equal(pixels(io.BytesIO(files.pop())), by_seed[seed])
    assert len({data for data, _ in cyclegan_results}) == 1
    assert np.array_equal(pixels(io.BytesIO(cyclegan_results[0][0])), translated)

    for name, latencies in (("dcgan", [t for *_, t in dcgan_results]), ("cyclegan", [t for _, t in cyclegan_results])):
        p50, p95 = np.percentile(latencies, [50, 95])
        print(f"\n{name}: {len(latencies)} calls, latency p50 {p50:.3f} s, p95 {p95:.3f} s, "
              f"max {max(latencies):.3f} s, mean {statistics.mean(latencies):.3f} s")
