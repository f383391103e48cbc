"""The Train tab through its API (gradio_client): the same flow a browser drives, hostile zips,
a killed training process, and two browsers starting at once."""

import io
import os
import signal
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from ganzoo import models, ui
from ganzoo.app import build_app
from ganzoo.jobs import JobManager
from ganzoo.registry import registry
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image
from served_app import served

WAIT = 180  # seconds, for conditions only
UPLOAD = "upload a .zip of images"
# steps, batch size, lr, image size, channels, width, DiffAugment, sample every, checkpoint every
TINY = dict(steps=100_000, batch_size=4, lr=2e-4, image_size=16, channels=1, width=4, diffaugment=False,
            sample_every=2, checkpoint_every=5)


def wait_for(condition, what: str, timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def png(seed: int) -> bytes:
    pixels = (torch.rand(16, 16, generator=torch.Generator().manual_seed(seed)) * 255).to(torch.uint8).numpy()
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="png")
    return buffer.getvalue()


def make_zip(path: Path, members: dict) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def images(n: int = 20) -> dict:
    return {f"shapes/{'ab'[i % 2]}/{i}.png": png(i) for i in range(n)}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("GANZOO_DATA", str(tmp_path_factory.mktemp("no-data")))
    monkeypatch.delenv("GANZOO_WEIGHTS_DCGAN", raising=False)
    monkeypatch.setattr(ui, "MODELS", ui.ModelCache())
    jobs = JobManager(tmp_path_factory.mktemp("jobs"), sliced=False)
    demo = build_app({"dcgan": registry()["dcgan"]}, jobs=jobs)
    with served(demo) as url:
        try:
            yield url, jobs
        finally:
            jobs.shutdown()
        for job in list(jobs._jobs.values()):
            models.remove_model(job.variant, job.run)
        monkeypatch.undo()


@pytest.fixture
def client(app, tmp_path):
    url, jobs = app
    yield Client(url, verbose=False, download_files=str(tmp_path / "downloads"))
    jobs.shutdown()  # a test leaves no job running for the next


def start(client, owner: str, zip_path: Path, name: str, **settings):
    values = {**TINY, **settings}
    return client.predict(owner, "dcgan", UPLOAD, handle_file(str(zip_path)), UPLOAD, None, name, *values.values(),
                          api_name="/train_start")


def status(client, owner: str) -> dict:
    return client.predict(owner, api_name="/train_status")


def test_start_watch_stop_resume_download_and_use(client, tmp_path):
    owner, text = start(client, "api-user", make_zip(tmp_path / "shapes.zip", images()), "api run")
    assert owner == "api-user" and 'Run "api run"' in text
    running = wait_for(lambda: (s := status(client, owner))["step"] >= 6 and s, "six steps")
    assert running["state"] == "running" and running["steps_per_s"] > 0 and running["seconds_left"] > 0
    assert "stopping" in client.predict(owner, api_name="/train_stop")
    stopped = wait_for(lambda: (s := status(client, owner))["state"] == "stopped" and s, "the stop")
    assert stopped["resumable"] and stopped["has_weights"]
    assert "training" in client.predict(owner, api_name="/train_resume")
    wait_for(lambda: status(client, owner)["step"] > stopped["step"] + 2, "steps after the resume")
    client.predict(owner, api_name="/train_stop")
    wait_for(lambda: status(client, owner)["state"] == "stopped", "the second stop")

    archive = zipfile.ZipFile(client.predict(owner, api_name="/train_download"))
    assert {"api-run/config.json", "api-run/model.safetensors", "api-run/README.md",
            "api-run/samples.png"} <= set(archive.namelist())
    assert "ganzoo sample dcgan --weights ./api-run" in archive.read("api-run/README.md").decode()

    mine, weights = client.predict(1, 4, "api run", api_name="/dcgan")
    assert weights == '**Weights:** trained in this app, model "api run".'
    bundled, _ = client.predict(1, 4, "MNIST digits", api_name="/dcgan")
    assert not np.array_equal(np.asarray(Image.open(mine)), np.asarray(Image.open(bundled)))


@pytest.mark.parametrize("members, message", [
    ({**images(), "../evil.png": png(0)}, r"holds '\.\./evil\.png', a path outside the zip's own folder; refused"),
    ({f"notes/{i}.txt": "words" for i in range(4)},
     r"holds 0 image\(s\) \(4 other file\(s\) skipped: not PNG, JPEG, BMP, GIF or WebP images\); "
     r"training needs at least 16"),
    ({**images(), "shapes/a/bomb.png": bytes(30 * 1024 * 1024)},
     r"looks like a zip bomb: 'shapes/a/bomb\.png' unpacks"),
], ids=["path-outside", "text-files", "zip-bomb"])
def test_a_hostile_or_useless_zip_is_refused_with_a_message(client, app, tmp_path, members, message):
    _, jobs = app
    path = make_zip(tmp_path / "upload.zip", members)
    with pytest.raises(AppError, match=message):
        start(client, "hostile", path, "hostile run")
    assert status(client, "hostile")["state"] == "none"  # nothing queued, no folder kept
    assert not (Path(jobs.root.parent) / "evil.png").exists()
    assert not [job for job in jobs._jobs.values() if job.owner == "hostile"]


def test_settings_a_variant_refuses_are_refused_before_anything_is_queued(client, tmp_path):
    with pytest.raises(AppError, match=r"steps must be a whole number from 1 to 1,000,000, not 0"):
        start(client, "careless", make_zip(tmp_path / "a.zip", images()), "x", steps=0)
    with pytest.raises(AppError, match=r"no data for --data: choose a data set or upload a \.zip"):
        client.predict("careless", "dcgan", UPLOAD, None, UPLOAD, None, "x", *TINY.values(), api_name="/train_start")


def test_a_killed_training_process_leaves_a_run_that_resume_continues(client, app, tmp_path):
    _, jobs = app
    owner, _ = start(client, "unlucky", make_zip(tmp_path / "shapes.zip", images()), "killed run")
    wait_for(lambda: status(client, owner)["step"] >= 12, "twelve steps (two checkpoints)")
    job = jobs.latest(owner)
    os.kill(wait_for(lambda: jobs.child_pid(job), "the training process"), signal.SIGKILL)
    failed = wait_for(lambda: (s := status(client, owner))["state"] == "failed" and s, "the failure")
    assert failed["resumable"] and "Resume continues from the last checkpoint" in failed["message"]
    client.predict(owner, api_name="/train_resume")
    wait_for(lambda: (s := status(client, owner))["state"] == "running" and s["step"] > failed["step"],
             "the resumed run to pass where it was killed")
    steps = [record["step"] for record in jobs.metrics(job)]
    assert steps == list(range(1, steps[-1] + 1))  # from the checkpoint on, no step lost or repeated


def test_two_browsers_starting_at_once_get_one_job_and_one_queue_place(client, app, tmp_path):
    url, jobs = app
    path = make_zip(tmp_path / "shapes.zip", images())
    answers = {}

    def press_start(owner):
        answers[owner] = start(Client(url, verbose=False), owner, path, f"{owner}'s run")

    threads = [threading.Thread(target=press_start, args=(owner,)) for owner in ("left", "right")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    states = sorted((status(client, owner)["state"], status(client, owner)["queue_position"]) for owner in answers)
    assert states == [("queued", 1), ("running", None)]
    waiting = next(owner for owner in answers if status(client, owner)["state"] == "queued")
    assert "place 1" in answers[waiting][1] or "next in the queue" in answers[waiting][1]
    _, again = start(client, waiting, path, "a second tab")  # the same browser again: the same job
    assert "already queued" in again and status(client, waiting)["name"] == f"{waiting}'s run"
    assert len([job for job in jobs._jobs.values() if job.owner in answers]) == 2


def test_an_ended_run_pushes_to_the_hub_with_the_users_token(client, app, hub, tmp_path):
    from ganzoo.registry import get_variant
    from ganzoo.weights import load_folder, load_model

    _, jobs = app
    with pytest.raises(AppError, match="no finished or stopped run of yours to publish"):
        client.predict("publisher", "test-user/nothing", "", api_name="/train_push")
    owner, _ = start(client, "publisher", make_zip(tmp_path / "shapes.zip", images()), "pushed run", steps=3)
    wait_for(lambda: status(client, owner)["state"] == "finished", "the run to finish")
    repo = f"test-user/train-tab-{os.getpid()}"
    answer = client.predict(owner, repo, "hf_token_of_the_user", api_name="/train_push")
    assert answer.startswith(f"Pushed to `{repo}` (commit `")
    pushed = load_model(get_variant("dcgan"), repo)
    assert repo in pushed.source
    local = load_folder(jobs.latest(owner).run)
    assert [im.tobytes() for im in pushed.generate(seed=2, n=3).images] == \
        [im.tobytes() for im in local.generate(seed=2, n=3).images]
