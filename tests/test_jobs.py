"""The Train tab's job manager (ganzoo.jobs): `ganzoo train` in child processes, a queue, stop
and resume, a killed child, the disk quota, a restarted server, and ZeroGPU's slices."""

import json
import os
import signal
import sys
import threading
import time
import types
from pathlib import Path

import pytest
from ganzoo import jobs as jobs_module
from ganzoo import models, testing
from ganzoo.jobs import Job, JobError, JobManager
from ganzoo.plugins.dcgan import DCGAN

TINY = ["--image-size", "16", "--channels", "1", "--latent-dim", "8", "--width", "4", "--batch-size", "4",
        "--sample-every", "2", "--diversity-every", "2"]
WAIT = 180  # seconds: generous for a busy machine; every wait is for a condition


def wait_for(condition, what: str, timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def data(tmp_path):
    return testing.make_image_folder(tmp_path / "data", 16, 1, per_class=10)


@pytest.fixture
def manager(tmp_path):
    manager = JobManager(tmp_path / "jobs", sliced=False)
    try:
        yield manager
    finally:
        manager.shutdown()
        for job in list(manager._jobs.values()):
            models.remove_model(job.variant, job.run)


def submit(manager, owner, data, steps, checkpoint_every=4, name=None):
    flags = ["--data", str(data), *TINY, "--checkpoint-every", str(checkpoint_every)]
    return manager.submit(owner, name or f"{owner}'s run", "dcgan", steps, lambda folder: flags)


def step_of(manager, job) -> int:
    return manager.status(job)["step"]


def test_a_job_trains_stops_with_a_checkpoint_and_resumes_exactly_where_it_stopped(manager, data):
    job, created = submit(manager, "alice", data, steps=100_000)
    assert created
    wait_for(lambda: step_of(manager, job) >= 6, "six steps")
    manager.stop(job)
    wait_for(lambda: job.state == "stopped", "the stop")
    stopped_at = step_of(manager, job)
    assert job.exit_code == 130 and job.has_checkpoint() and manager.status(job)["resumable"]
    assert models.find_model(DCGAN, "alice's run").folder == job.run  # offered in the picker
    manager.resume(job)
    assert models.find_model(DCGAN, "alice's run") is None  # not while its weights are rewritten
    wait_for(lambda: step_of(manager, job) >= stopped_at + 3, "steps after the resume")
    manager.stop(job)
    wait_for(lambda: job.state == "stopped", "the second stop")
    steps = [record["step"] for record in manager.metrics(job)]
    assert steps == list(range(1, steps[-1] + 1))  # one line per step, none lost or repeated
    assert job.log.read_text().count("stopped at step") == 2


def test_a_run_that_reaches_its_steps_finishes_and_joins_the_picker(manager, data):
    job, _ = submit(manager, "bob", data, steps=3, name="bob's tiny run")
    wait_for(lambda: job.state == "finished", "the end of the run")
    assert job.exit_code == 0 and step_of(manager, job) == 3
    assert models.find_model(DCGAN, "bob's tiny run").folder == job.run


def test_two_owners_get_one_job_and_one_queue_place_and_one_owner_one_job(manager, data):
    results = {}

    def start(owner):
        results[owner] = submit(manager, owner, data, steps=100_000)

    threads = [threading.Thread(target=start, args=(owner,)) for owner in ("ann", "ben")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    states = sorted((job.state, manager.position(job)) for job, created in results.values())
    assert states == [("queued", 1), ("running", None)]
    first = next(job for job, _ in results.values() if job.state == "running")
    second = next(job for job, _ in results.values() if job.state == "queued")
    again, created = submit(manager, second.owner, data, steps=5)  # a second tab of the same browser
    assert again is second and not created and len(manager._jobs) == 2
    manager.stop(first)
    wait_for(lambda: second.state == "running", "the queued job to start")
    assert first.state in ("stopping", "stopped")


def test_a_killed_child_leaves_a_run_that_resumes_from_its_last_checkpoint(manager, data):
    job, _ = submit(manager, "carl", data, steps=100_000, checkpoint_every=5)
    wait_for(lambda: step_of(manager, job) >= 12, "twelve steps")
    os.kill(wait_for(lambda: manager.child_pid(job), "the child's pid"), signal.SIGKILL)
    wait_for(lambda: job.state == "failed", "the failure to be seen")
    status = manager.status(job)
    assert job.exit_code == -signal.SIGKILL and status["resumable"]
    assert "Resume continues from the last checkpoint" in job.message
    manager.resume(job)
    wait_for(lambda: job.state == "running" and manager.metrics(job) and step_of(manager, job) > 12,
             "the resumed run to pass step 12")
    steps = [record["step"] for record in manager.metrics(job)]
    assert steps == list(range(1, steps[-1] + 1))  # the log was cut back to the checkpoint and goes on


def test_a_failing_run_says_why(manager, tmp_path):
    job, _ = manager.submit("dora", "bad", "dcgan", 5,
                            lambda folder: ["--data", str(tmp_path / "missing"), *TINY])
    wait_for(lambda: job.state == "failed", "the failure")
    assert "exit code 2: ganzoo: error: no dataset at" in job.message
    assert not manager.status(job)["has_weights"] and models.find_model(DCGAN, "bad") is None


def test_resume_refuses_a_running_job(manager, data):
    job, _ = submit(manager, "eve", data, steps=100_000)
    with pytest.raises(JobError, match="is (queued|running); only a stopped or failed run resumes"):
        manager.resume(job)


# --------------------------------------------------------------------------- on disk, without children


def ended_job(root: Path, job_id: str, ended: float, size: int, state: str = "stopped", owner: str = "o") -> Job:
    job = Job(job_id, owner, f"run {job_id}", "dcgan", 10, state=state, ended=ended, root=root)
    job.folder.mkdir(parents=True)
    (job.folder / "blob").write_bytes(bytes(size))
    job.save()
    return job


def test_ended_jobs_are_deleted_oldest_first_beyond_the_quota(tmp_path):
    root = tmp_path / "jobs"
    for index in range(5):
        ended_job(root, f"job{index}", ended=1000 + index, size=1000)
    ended_job(root, "busy", ended=0, size=1000, state="running")  # a server that died with it
    manager = JobManager(root, quota_bytes=4500, max_kept=100, sliced=False)
    assert manager.get("busy").state == "failed"  # no checkpoint to resume from
    assert "the app restarted" in manager.get("busy").message
    with manager._lock:
        manager._clean_up()
    # 1,000 bytes and a job.json of ~300 each: the oldest go until the rest fit in 4,500; "busy" ended last
    assert sorted(path.name for path in root.iterdir()) == sorted(manager._jobs) == ["busy", "job3", "job4"]
    manager = JobManager(root, quota_bytes=10**9, max_kept=2, sliced=False)
    with manager._lock:
        manager._clean_up()
    assert sorted(path.name for path in root.iterdir()) == ["busy", "job4"]


def test_a_job_the_server_was_running_when_it_died_can_resume(tmp_path, data):
    root = tmp_path / "jobs"
    job = ended_job(root, "old", ended=None, size=0, state="running", owner="fay")
    (job.run / "checkpoints").mkdir(parents=True)
    (job.run / "checkpoints" / "last.pt").write_bytes(b"x")
    manager = JobManager(root, sliced=False)
    restored = manager.latest("fay")
    assert restored.state == "stopped" and manager.status(restored)["resumable"]
    assert json.loads((root / "old" / "job.json").read_text())["state"] == "stopped"


def test_the_metrics_are_read_as_they_grow_and_again_when_rewritten(tmp_path):
    path = tmp_path / "metrics.jsonl"
    reader = jobs_module._Metrics(path)
    assert reader.read() == []
    path.write_text('{"step": 1, "loss_d": 1.0}\n{"step": 2, "lo')  # a line being written
    assert [r["step"] for r in reader.read()] == [1]
    with open(path, "a") as file:
        file.write('ss_d": 0.5}\n')
    assert [r["step"] for r in reader.read()] == [1, 2]
    path.unlink()
    path.write_text('{"step": 1, "loss_d": 2.0}\n')  # --resume rewrites the log: read from the start
    assert reader.read() == [{"step": 1, "loss_d": 2.0}]


def write_log(run: Path, diversities: list[tuple[int, float]], real: float = 0.4):
    run.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"step": step, "loss_d": 1.0, "diversity": value, "diversity_real": real})
             for step, value in diversities]
    (run / "metrics.jsonl").write_text("".join(line + "\n" for line in lines))


@pytest.mark.parametrize("diversities, collapse", [
    ([(50, 0.01), (100, 0.02)], False),  # an untrained generator, early on: not a collapse
    ([(50, 0.01), (100, 0.3), (150, 0.1), (200, 0.05)], True),  # variety, then lost
    ([(50, 0.3), (100, 0.1), (150, 0.3)], False),  # one low measurement
    ([(550, 0.01), (600, 0.02)], True),  # never any variety, after the warm-up
])
def test_the_mode_collapse_warning(tmp_path, diversities, collapse):
    job = ended_job(tmp_path / "jobs", "j", ended=1, size=0)
    write_log(job.run, diversities)
    assert JobManager(tmp_path / "jobs", sliced=False).status(job)["collapse"] is collapse


# --------------------------------------------------------------------------- ZeroGPU


class FakeSpaces(types.ModuleType):
    """``spaces`` as ZeroGPU has it: GPU(duration=...)(fn); records each call's arguments."""

    def __init__(self):
        super().__init__("spaces")
        self.calls, self.durations = [], []

    def GPU(self, function=None, duration=60):
        def wrap(fn):
            self.durations.append(duration)

            def run(*args, **kwargs):
                self.calls.append(args)
                return fn(*args, **kwargs)
            return run
        return wrap if function is None else wrap(function)


def test_on_zerogpu_a_job_runs_in_slices_under_gpu_calls_with_checkpoints_between(tmp_path, data, monkeypatch):
    spaces = FakeSpaces()
    monkeypatch.setitem(sys.modules, "spaces", spaces)
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    manager = JobManager(tmp_path / "jobs", slice_steps=3, slice_seconds=90)
    assert manager.sliced and spaces.durations == [90]
    try:
        job, _ = submit(manager, "gil", data, steps=7, checkpoint_every=100)
        wait_for(lambda: job.state in ("finished", "failed"), "the sliced run to end")
    finally:
        manager.shutdown()
        models.remove_model("dcgan", job.run)
    assert job.state == "finished", job.message
    commands = [call[0] for call in spaces.calls]
    assert [command[command.index("--steps") + 1] for command in commands] == ["3", "6", "7"]
    assert ["--resume" in command for command in commands] == [False, True, True]
    assert all(call[2] == 80 for call in spaces.calls)  # each child is asked to stop before the GPU call ends
    steps = [record["step"] for record in manager.metrics(job)]
    assert steps == list(range(1, 8))


def test_off_zerogpu_nothing_is_sliced(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "spaces", FakeSpaces())
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    assert not JobManager(tmp_path / "jobs").sliced


def test_the_child_imports_ganzoo_from_this_process_folders(tmp_path):
    """A Space runs app.py from a checkout that was never installed: `python -m ganzoo` would
    find nothing there. The child imports the same folders as the server."""
    import subprocess

    import ganzoo

    command = jobs_module.child_command(["list"])
    assert command[1] == "-c" and command[3] == str(Path(ganzoo.__file__).parent)
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=WAIT)
    assert result.returncode == 0 and "ganzoo.plugins.dcgan" in result.stdout, result.stderr
