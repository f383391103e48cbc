"""Training jobs for the app's Train tab: the command line's ``ganzoo train`` in a child
process, one folder per job. The server never trains in its own threads.

    ROOT/<job id>/job.json     who, what, state (queued, running, stopping, stopped, finished, failed)
    ROOT/<job id>/data*/       the job's uploaded images, unpacked (ganzoo.uploads)
    ROOT/<job id>/run/         the run folder `ganzoo train --out` writes: metrics.jsonl, samples/,
                               checkpoints/last.pt, config.json + model.safetensors
    ROOT/<job id>/log.txt      the child's output

The UI reads the run folder; Stop sends SIGINT, which the command line answers by saving a
checkpoint and exiting (130); Resume runs ``ganzoo train --resume``, which continues exactly.
``max_running`` jobs run at once (1 by default, ``GANZOO_TRAIN_JOBS``); the others wait in a
queue and know their place. Each owner (a browser) has at most one job queued or running:
starting again reattaches to it. A job that ends offers its weights as a model of its
variant (``ganzoo.models``). Ended jobs are deleted, oldest first, while the jobs hold more
than ``quota_bytes`` (2 GB) or number more than ``max_kept`` (20).

On ZeroGPU (``spaces`` installed and ``SPACES_ZERO_GPU`` set) a GPU is lent for one call at a
time, so the job runs in slices: each a ``ganzoo train --resume --steps N`` under
``spaces.GPU``, at most ``slice_steps`` steps and fewer where the measured speed says they
would not fit in ``slice_seconds``, with a checkpoint between slices.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .errors import UserError
from .files import atomic_write_text

ACTIVE = ("preparing", "queued", "running", "stopping")
QUOTA_BYTES = 2 * 1024**3
MAX_KEPT = 20
SLICE_STEPS = 500
SLICE_SECONDS = 120
COLLAPSE_RATIO = 0.5  # diversity below this share of the real images', twice running: a warning
COLLAPSE_WARMUP = 500  # steps; before, low diversity that never was higher is an untrained generator's
CHECKPOINT = "checkpoints/last.pt"
PID_FILE, STOP_FILE = "child.pid", "stop-requested"  # in the job's folder, read across processes


def default_root() -> Path:
    """``GANZOO_JOBS``; else a Space's persistent storage (/data) where it is mounted; else
    ~/.cache/ganzoo/jobs."""
    if os.environ.get("GANZOO_JOBS"):
        return Path(os.environ["GANZOO_JOBS"]).expanduser()
    if Path("/data").is_dir() and os.access("/data", os.W_OK):
        return Path("/data/ganzoo-jobs")
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ganzoo" / "jobs"


class JobError(UserError):
    pass


@dataclass
class Job:
    id: str
    owner: str
    name: str
    variant: str
    steps: int
    args: list[str] = field(default_factory=list)  # `ganzoo train VARIANT` flags but --out, --resume, --quiet
    state: str = "preparing"
    created: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    exit_code: int | None = None
    message: str = ""
    root: Path = field(default=Path("."), repr=False)

    @property
    def folder(self) -> Path:
        return self.root / self.id

    @property
    def run(self) -> Path:
        return self.folder / "run"

    @property
    def log(self) -> Path:
        return self.folder / "log.txt"

    def has_checkpoint(self) -> bool:
        return (self.run / CHECKPOINT).exists()

    def has_weights(self) -> bool:
        return (self.run / "config.json").exists() and (self.run / "model.safetensors").exists()

    def save(self) -> None:
        record = {k: v for k, v in dataclasses.asdict(self).items() if k != "root"}
        atomic_write_text(self.folder / "job.json", json.dumps(record, indent=2))

    @classmethod
    def read(cls, folder: Path) -> Job:
        record = json.loads((folder / "job.json").read_text())
        names = {f.name for f in dataclasses.fields(cls)} - {"root"}
        return cls(**{k: v for k, v in record.items() if k in names}, root=folder.parent)


def child_command(args: list[str]) -> list[str]:
    """``ganzoo ARGS`` in a new interpreter, which imports ganzoo from the very folders this
    process's came from, as app.py does: a Space runs a checkout that was never installed,
    where ``python -m ganzoo`` would find nothing."""
    import ganzoo
    import ganzoo.plugins

    core, plugins = Path(ganzoo.__file__).parent, Path(ganzoo.plugins.__file__).parent
    return [sys.executable, "-c", _BOOT, str(core), str(plugins), *args]


_BOOT = """import importlib.util, sys
for name, folder in (("ganzoo", sys.argv[1]), ("ganzoo.plugins", sys.argv[2])):
    spec = importlib.util.spec_from_file_location(name, folder + "/__init__.py", submodule_search_locations=[folder])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
sys.modules["ganzoo"].plugins = sys.modules["ganzoo.plugins"]
from ganzoo.cli import main
sys.exit(main(sys.argv[3:]))
"""


def run_child(command: list[str], folder: str, time_limit: float | None = None) -> int:
    """Run one ``ganzoo train`` in ``folder`` (output appended to its log.txt) and return its exit
    status. Its pid is in ``folder/child.pid`` while it runs, so that Stop can reach it from
    the app's process even when this runs elsewhere (a ZeroGPU worker). Past ``time_limit``
    seconds it is asked to stop, and a stop that it saved after counts as done (0)."""
    folder = Path(folder)
    with open(folder / "log.txt", "ab") as log:
        process = subprocess.Popen(command, cwd=folder, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    pid_file = folder / PID_FILE
    try:
        atomic_write_text(pid_file, str(process.pid))
        if (folder / STOP_FILE).exists():  # Stop came while it started
            process.send_signal(signal.SIGINT)
        try:
            return process.wait(timeout=time_limit)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGINT)
            code = process.wait()
            return 0 if code == 128 + signal.SIGINT and not (folder / STOP_FILE).exists() else code
    finally:
        pid_file.unlink(missing_ok=True)


class _Metrics:
    """metrics.jsonl read incrementally: each call reads only what was appended since the last
    (the file is read afresh when training rewrote it, as --resume does)."""

    def __init__(self, path: Path):
        self.path, self.key, self.offset, self.records = path, None, 0, []
        self._lock = threading.Lock()  # pages poll it from many request threads

    def read(self) -> list[dict]:
        with self._lock:
            return list(self._read())

    def _read(self) -> list[dict]:
        try:
            stat = self.path.stat()
        except OSError:
            self.key, self.offset, self.records = None, 0, []
            return self.records
        if (stat.st_ino, stat.st_dev) != self.key or stat.st_size < self.offset:
            self.key, self.offset, self.records = (stat.st_ino, stat.st_dev), 0, []
        if stat.st_size > self.offset:
            with open(self.path, "rb") as file:
                file.seek(self.offset)
                data = file.read(stat.st_size - self.offset)
            whole = data[:data.rfind(b"\n") + 1]  # a line still being written waits for the next call
            self.offset += len(whole)
            for line in whole.decode(errors="replace").splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and "step" in record:
                    self.records.append(record)
        return self.records


class JobManager:
    def __init__(self, root: str | Path | None = None, max_running: int | None = None,
                 quota_bytes: int = QUOTA_BYTES, max_kept: int = MAX_KEPT, sliced: bool | None = None,
                 slice_steps: int = SLICE_STEPS, slice_seconds: int = SLICE_SECONDS):
        from .spaces import on_zerogpu

        self.root = Path(root) if root is not None else default_root()
        self.max_running = max_running or int(os.environ.get("GANZOO_TRAIN_JOBS", "1"))
        self.quota_bytes, self.max_kept = quota_bytes, max_kept
        self.sliced = on_zerogpu() if sliced is None else sliced
        self.slice_steps, self.slice_seconds = slice_steps, slice_seconds
        if self.sliced:  # decorated once, at start, as ZeroGPU wants
            from .spaces import gpu

            self._run_slice = gpu(run_child, duration=slice_seconds)
        self._lock = threading.RLock()
        self._jobs: dict[str, Job] = {}
        self._queue: list[str] = []
        self._stop_requested: set[str] = set()
        self._metrics: dict[str, _Metrics] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._load()

    # ---- state on disk ---------------------------------------------------------------------
    def _load(self) -> None:
        """Jobs left by an earlier server: those it was running or queueing ended with it."""
        if not self.root.is_dir():
            return
        for path in sorted(self.root.glob("*/job.json")):
            try:
                job = Job.read(path.parent)
            except (ValueError, TypeError, OSError):
                continue
            if job.state in ACTIVE:
                job.state = "stopped" if job.has_checkpoint() else "failed"
                job.message = "the app restarted while this run was queued or running; Resume continues it"
                job.ended = job.ended or time.time()
                job.save()
            self._jobs[job.id] = job
            self._offer(job)

    def _offer(self, job: Job) -> None:
        """Offer an ended job's weights in its variant's model picker."""
        from .models import add_model
        from .registry import registry

        registration = registry().get(job.variant)
        if registration is not None and job.has_weights():
            add_model(registration.variant, job.name, job.run)

    # ---- what the UI asks ------------------------------------------------------------------
    def get(self, job_id: str) -> Job:
        with self._lock:
            if job_id not in self._jobs:
                raise JobError(f"no job {job_id!r}: it was deleted, or never started")
            return self._jobs[job_id]

    def latest(self, owner: str | None) -> Job | None:
        """The owner's newest job, which its pages show (a reload or a second tab reattaches)."""
        with self._lock:
            mine = [job for job in self._jobs.values() if owner and job.owner == owner]
            return max(mine, key=lambda job: job.created) if mine else None

    def active(self, owner: str) -> Job | None:
        job = self.latest(owner)
        return job if job is not None and job.state in ACTIVE else None

    def position(self, job: Job) -> int | None:
        """1 for the next job to start; None when not waiting."""
        with self._lock:
            return self._queue.index(job.id) + 1 if job.id in self._queue else None

    @staticmethod
    def child_pid(job: Job) -> int | None:
        """The running training process of ``job``, if one is running."""
        try:
            return int((job.folder / PID_FILE).read_text())
        except (OSError, ValueError):
            return None

    def metrics(self, job: Job) -> list[dict]:
        with self._lock:
            reader = self._metrics.setdefault(job.id, _Metrics(job.run / "metrics.jsonl"))
        return reader.read()

    def status(self, job: Job | None) -> dict:
        """What a page shows about a job, as plain values (also the API's answer)."""
        if job is None:
            return {"job": None, "state": "none"}
        records = self.metrics(job)
        last = records[-1] if records else {}
        step = int(last.get("step", 0))
        rate = last.get("steps_per_s") if job.state == "running" else None
        figures = [r for r in records if "diversity" in r and "diversity_real" in r]
        low = [r["diversity"] < COLLAPSE_RATIO * r["diversity_real"] for r in figures]
        # An untrained generator draws near-identical images: only a fall from variety, or a
        # generator still without it after the warm-up, counts.
        collapse = len(low) >= 2 and low[-1] and low[-2] and (not all(low) or step >= COLLAPSE_WARMUP)
        return {
            "job": job.id, "name": job.name, "variant": job.variant, "state": job.state,
            "step": step, "steps": job.steps, "steps_per_s": rate,
            "seconds_left": round((job.steps - step) / rate) if rate else None,
            "queue_position": self.position(job), "message": job.message,
            "collapse": bool(collapse),
            "diversity": figures[-1]["diversity"] if figures else None,
            "diversity_real": figures[-1]["diversity_real"] if figures else None,
            "resumable": job.state in ("stopped", "failed"), "has_weights": job.has_weights(),
            "exit_code": job.exit_code,
        }

    # ---- actions ---------------------------------------------------------------------------
    def submit(self, owner: str, name: str, variant: str, steps: int,
               prepare: Callable[[Path], list[str]]) -> tuple[Job, bool]:
        """Queue a new job for ``owner``, whose ``prepare(folder)`` unpacks its data into the
        job's folder and returns its ``ganzoo train`` flags. Returns (job, True); or, where the
        owner already has a job queued or running, (that job, False) and nothing new."""
        with self._lock:
            current = self.active(owner)
            if current is not None:
                return current, False
            job = Job(uuid.uuid4().hex[:12], owner, name, variant, steps, root=self.root)
            job.folder.mkdir(parents=True)
            self._jobs[job.id] = job
            job.save()
        try:
            args = prepare(job.folder)  # unpacking uploads: outside the lock
        except BaseException:
            with self._lock:
                self._jobs.pop(job.id, None)
            shutil.rmtree(job.folder, ignore_errors=True)
            raise
        with self._lock:
            job.args = list(args)
            if job.id in self._stop_requested:  # stopped while its data unpacked
                self._stop_requested.discard(job.id)
                job.state, job.message, job.ended = "stopped", "stopped before it started", time.time()
            else:
                job.state = "queued"
                self._queue.append(job.id)
            job.save()
            self._clean_up()
            self._pump()
        return job, True

    def stop(self, job: Job) -> None:
        """SIGINT to a running job (a second one quits at once, keeping the last checkpoint); a
        queued job leaves the queue."""
        with self._lock:
            if job.state == "preparing":
                self._stop_requested.add(job.id)
            elif job.state == "queued":
                self._queue.remove(job.id)
                job.state, job.message, job.ended = "stopped", "stopped before it started", time.time()
                job.save()
                self._offer(job)
            elif job.state in ("running", "stopping"):
                self._stop_requested.add(job.id)
                job.state, job.message = "stopping", "saving a checkpoint, then stopping"
                job.save()
                (job.folder / STOP_FILE).touch()
                pid = self.child_pid(job)
                if pid is not None:
                    try:
                        os.kill(pid, signal.SIGINT)
                    except ProcessLookupError:  # it has just ended
                        pass

    def resume(self, job: Job) -> None:
        from .models import remove_model

        with self._lock:
            if job.state not in ("stopped", "failed"):
                raise JobError(f"the run {job.name!r} is {job.state}; only a stopped or failed run resumes")
            current = self.active(job.owner)
            if current is not None and current is not job:
                raise JobError(f"your run {current.name!r} is {current.state}; stop it first")
            remove_model(job.variant, job.run)  # its weights are about to be rewritten
            job.state, job.message, job.ended, job.exit_code = "queued", "", None, None
            self._queue.append(job.id)
            job.save()
            self._pump()

    def shutdown(self, timeout: float = 60) -> None:
        """Stop every running job (each saves a checkpoint) and wait for them."""
        with self._lock:
            self._queue.clear()
            running = [job for job in self._jobs.values() if job.state in ("running", "stopping")]
        for job in running:
            self.stop(job)
        deadline = time.monotonic() + timeout
        for job in running:
            thread = self._threads.get(job.id)
            if thread is not None:
                thread.join(max(0.0, deadline - time.monotonic()))

    # ---- running ---------------------------------------------------------------------------
    def _pump(self) -> None:
        """Start queued jobs while there is room (call with the lock held)."""
        def running() -> int:
            return sum(job.state in ("running", "stopping") for job in self._jobs.values())

        while self._queue and running() < self.max_running:
            job = self._jobs[self._queue.pop(0)]
            job.state, job.started, job.message = "running", time.time(), ""
            (job.folder / STOP_FILE).unlink(missing_ok=True)
            job.save()
            thread = threading.Thread(target=self._run, args=(job,), name=f"ganzoo-job-{job.id}", daemon=True)
            self._threads[job.id] = thread
            thread.start()

    def _run(self, job: Job) -> None:
        code = None
        try:
            while job.id not in self._stop_requested:
                target = self._slice_target(job) if self.sliced else job.steps
                # A resumed run takes its config, data and settings from its run.json.
                flags = ["--resume"] if job.has_checkpoint() else job.args
                command = child_command(["train", job.variant, "--out", str(job.run), "--quiet", *flags,
                                         "--steps", str(target)])
                if self.sliced:
                    code = self._run_slice(command, str(job.folder), self.slice_seconds - 10)
                else:
                    code = run_child(command, str(job.folder))
                if not self.sliced or code != 0 or target >= job.steps:
                    break
        except Exception as error:  # the child could not even start: say so on the page
            code, job.message = -1, f"could not start training: {type(error).__name__}: {error}"
        self._ended(job, code)

    def _slice_target(self, job: Job) -> int:
        records = self.metrics(job)
        done = int(records[-1]["step"]) if records else 0
        steps = self.slice_steps
        rate = records[-1].get("steps_per_s") if records else None
        if rate:  # half the slice's time for steps: the child's start and its checkpoints take the rest
            steps = max(1, min(steps, int(rate * self.slice_seconds / 2)))
        return min(job.steps, done + steps)

    def _ended(self, job: Job, code: int | None) -> None:
        records = self.metrics(job)
        step = int(records[-1]["step"]) if records else 0
        with self._lock:
            stopped = job.id in self._stop_requested
            self._stop_requested.discard(job.id)
            if code == 0 and step >= job.steps:
                state, message = "finished", ""
            elif stopped or code in (0, 128 + signal.SIGINT, 128 + signal.SIGTERM):
                state, message = "stopped", "Resume continues it"
            else:
                state = "failed"
                message = job.message or f"training ended with exit code {code}: {self._last_line(job)}"
                if job.has_checkpoint():
                    message += "; Resume continues from the last checkpoint"
            self._offer(job)  # before the state says it ended: a page that sees it then finds the model
            job.state, job.message, job.exit_code, job.ended = state, message, code, time.time()
            job.save()
            self._clean_up()
            self._pump()

    @staticmethod
    def _last_line(job: Job) -> str:
        try:
            lines = [line for line in job.log.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return "no output"
        return lines[-1].strip()[:300] if lines else "no output"

    def _clean_up(self) -> None:
        """Delete ended jobs, oldest first, beyond the quota (call with the lock held)."""
        from .models import remove_model

        sizes = {job_id: _folder_size(job.folder) for job_id, job in self._jobs.items()}
        total = sum(sizes.values())
        ended = sorted((job for job in self._jobs.values() if job.state not in ACTIVE),
                       key=lambda job: job.ended or job.created)
        while ended and (total > self.quota_bytes or len(self._jobs) > self.max_kept):
            job = ended.pop(0)
            remove_model(job.variant, job.run)
            shutil.rmtree(job.folder, ignore_errors=True)
            total -= sizes[job.id]
            del self._jobs[job.id]
            self._metrics.pop(job.id, None)


def _folder_size(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        try:
            if path.is_file():
                total += path.stat().st_size
        except OSError:
            continue
    return total


_default: JobManager | None = None
_default_lock = threading.Lock()


def default_manager() -> JobManager:
    """The app's job manager (``GANZOO_JOBS``), made on first use; its jobs are stopped, each
    saving a checkpoint, when the server exits."""
    global _default
    with _default_lock:
        if _default is None:
            _default = JobManager()
            atexit.register(_default.shutdown)
        return _default
