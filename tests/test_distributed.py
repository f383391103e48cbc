"""Data-parallel training (torchrun, DistributedDataParallel) on this machine's CPU: two gloo
processes on the loopback. One launch runs every multi-process job of this module
(``ganzoo.testing.launch_data_parallel``): starting processes costs seconds, a tiny job little.

- Equivalence: two processes with batch B/2 each end where one process with batch B ends, to
  float tolerance, with the same samples in the same order (``ddp_probe``: no batch norm, noise
  drawn from each image), also with a gradient penalty (autograd.grad, then one backward). One
  process with B/2 alone ends elsewhere: the gradients really are averaged.
- Resume: two processes stopped and resumed equal two uninterrupted ones, bit for bit.
- Every registered variant trains under two processes, keeps its networks identical on both,
  and only rank 0 writes.
- Signals: SIGTERM to one process of `torchrun -m ganzoo train` stops both, with one checkpoint.
"""

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from ddp_probe import Probe
from ganzoo import distributed, testing, training
from ganzoo.data import BatchStream, ImageSet
from ganzoo.errors import UserError
from ganzoo.registry import get_variant, registry
from ganzoo.testing import launch_data_parallel, make_image_folder, tiny_sources
from ganzoo.training import CHECKPOINT, TrainingError, TrainSettings, train

TESTS = Path(__file__).resolve().parent
EQUIVALENCE = {"plain": {}, "penalty": {"penalty": 1.0}}
RESUMED = {"cyclegan": dict(ema_decay=0.9), "began": {}}  # an image pool per process; k_t agreed by all
BATCH = 8  # the probe's global batch: 4 images on each process; 16 images make an epoch of 2 steps


def probe_settings(**overrides) -> TrainSettings:
    values = dict(steps=3, batch_size=BATCH, seed=0, device="cpu", sample_every=10_000, checkpoint_every=10_000)
    return TrainSettings(**{**values, **overrides})


def job(variant: str, sources: dict, out: Path, settings: TrainSettings, **extra) -> dict:
    return {"variant": variant, "sources": sources, "out": str(out), "settings": dataclasses.asdict(settings), **extra}


@pytest.fixture(scope="module")
def launch(tmp_path_factory):
    """Every job of this module in one launch of two processes; the ddp_probe variant is
    installed there only, through an entry point on PYTHONPATH, as pip would."""
    root = tmp_path_factory.mktemp("ddp")
    dist_info = root / "plugin" / "ddp_probe-0.1.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: ddp_probe\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text("[ganzoo]\nddp_probe = ddp_probe\n")
    probe_data = {"data": str(make_image_folder(root / "probe-data", size=8, channels=1, per_class=8))}

    jobs, where = [], {}
    for case, config in EQUIVALENCE.items():
        where[f"probe-{case}"] = len(jobs)
        jobs.append(job("ddp_probe", probe_data, root / f"probe-{case}", probe_settings(), config=config))
    for name, settings in RESUMED.items():
        variant = get_variant(name)(get_variant(name).tiny_config())
        sources = tiny_sources(variant, root / f"data-{name}")
        run_settings = testing.tiny_settings(steps=4, seed=3, diversity_every=1, **settings)
        where[f"{name}-straight"] = len(jobs)
        jobs.append(job(name, sources, root / f"{name}-straight", run_settings))
        jobs.append(job(name, sources, root / f"{name}-resumed", run_settings, stop_after=2))
        where[f"{name}-resumed"] = len(jobs)
        jobs.append(job(name, sources, root / f"{name}-resumed", run_settings, resume=True))
    for name in sorted(registry()):
        where[name] = len(jobs)
        jobs.append(testing.data_parallel_job(get_variant(name), root / "every" / name, sample_every=1,
                                              checkpoint_every=1))
    results = launch_data_parallel(jobs, root / "launch",
                                   env={"PYTHONPATH": os.pathsep.join([str(TESTS), str(root / "plugin")])})
    return root, probe_data, {key: results[index] for key, index in where.items()}


def log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def checkpoint(run: Path) -> dict:
    return torch.load(run / CHECKPOINT, weights_only=True)


def assert_close_runs(a: Path, b: Path) -> None:
    nets_a, nets_b = checkpoint(a)["nets"], checkpoint(b)["nets"]
    for net, state in nets_a.items():
        for key, value in state.items():
            torch.testing.assert_close(nets_b[net][key], value, rtol=1e-5, atol=1e-6, msg=f"{net}.{key}")
    for line_a, line_b in zip(log(a), log(b), strict=True):
        for key in ("loss_d", "loss_g", "lr"):
            assert line_b[key] == pytest.approx(line_a[key], rel=1e-5), (line_a["step"], key)


@pytest.mark.parametrize("case", EQUIVALENCE)
def test_two_processes_with_half_batches_equal_one_process_with_the_whole_batch(launch, case, tmp_path):
    root, data, results = launch
    assert results[f"probe-{case}"]["step"] == 3 and not results[f"probe-{case}"]["diverged"]
    config = dataclasses.replace(Probe.tiny_config(), **EQUIVALENCE[case])
    train(Probe(config), data, tmp_path / "one", probe_settings(), show_progress=False)
    assert_close_runs(tmp_path / "one", root / f"probe-{case}")  # the logged losses are the means too
    # One process with half the batch is what either process would do without averaging: elsewhere.
    train(Probe(config), data, tmp_path / "half", probe_settings(batch_size=BATCH // 2), show_progress=False)
    with pytest.raises(AssertionError):
        assert_close_runs(tmp_path / "half", root / f"probe-{case}")


@pytest.mark.parametrize("name", RESUMED)
def test_a_stopped_and_resumed_two_process_run_equals_an_uninterrupted_one(launch, name):
    root, _, results = launch
    straight, resumed = root / f"{name}-straight", root / f"{name}-resumed"
    assert results[f"{name}-straight"]["step"] == results[f"{name}-resumed"]["step"] == 4
    differences = testing._differences(checkpoint(straight), checkpoint(resumed), "checkpoint")
    differences += testing._differences(testing._weights(straight), testing._weights(resumed), "weights")
    assert not differences, differences[:8]
    assert testing._log(straight) == testing._log(resumed)
    saved = checkpoint(straight)
    assert saved["world_size"] == 2 and len(saved["other_ranks"]) == 1
    other = saved["other_ranks"][0]
    assert not torch.equal(other["rng"]["torch"], saved["rng"]["torch"])  # each process draws its own noise
    if name == "cyclegan":  # each process keeps a pool of the images it generated
        assert not torch.equal(torch.stack(other["variant_state"]["pool_a"]),
                               torch.stack(saved["variant_state"]["pool_a"]))
    if name == "began":  # k_t moves, by the balance of the whole batch, alike on both
        assert torch.equal(other["variant_state"]["k"], saved["variant_state"]["k"])
        assert float(saved["variant_state"]["k"]) != get_variant("began").tiny_config().k_0


@pytest.mark.parametrize("name", sorted(registry()))
def test_every_variant_trains_under_two_processes(launch, name):
    """The conformance suite's data-parallel check: two steps of the tiny config under two gloo
    processes, the networks alike on both at the end, and nothing written but by rank 0."""
    root, _, results = launch
    testing.check_data_parallel_result(results[name])
    assert not results[name]["warnings"], results[name]["warnings"]
    run = root / "every" / name / "run"
    assert [line["step"] for line in log(run)] == [1, 2]
    assert (run / "samples" / "step_0000002.png").exists() and (run / "model.safetensors").exists()
    assert checkpoint(run)["step"] == 2


def test_resuming_with_another_number_of_processes_continues_and_says_the_data_order_changed(launch, tmp_path):
    root, data, _ = launch
    import shutil

    run = shutil.copytree(root / "probe-plain", tmp_path / "run")
    with pytest.warns(UserWarning, match="trained with 2 processes and resumes with 1: it continues, but the data "
                                         "order changes"):
        result = train(Probe(Probe.tiny_config()), data, run, probe_settings(steps=5), resume=True, show_progress=False)
    assert result.finished and [line["step"] for line in log(run)] == [1, 2, 3, 4, 5]
    assert checkpoint(run)["world_size"] == 1 and "other_ranks" not in checkpoint(run)


# --------------------------------------------------------------------------- signals


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _rank_of(pid: int) -> int | None:
    try:
        environ = (Path("/proc") / str(pid) / "environ").read_bytes().split(b"\0")
    except OSError:
        return None
    ranks = [int(item.split(b"=", 1)[1]) for item in environ if item.startswith(b"RANK=")]
    return ranks[0] if ranks else None


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the processes through /proc (Linux)")
def test_sigterm_to_one_process_stops_both_with_one_checkpoint(tmp_path):
    """`torchrun -m ganzoo train`, as a user runs it; SIGTERM to rank 1 alone. Both processes
    agree to stop at the same step, rank 0 writes one checkpoint and the log up to it, both exit
    with 143, and the run resumes, here in one process, which says the data order changed."""
    data = make_image_folder(tmp_path / "data", size=16, channels=1)
    out = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "--local-addr", "127.0.0.1", "-m", "ganzoo", "train", "dcgan", "--data", str(data), "--out", str(out),
               "--steps", "100000", "--batch-size", "4", "--checkpoint-every", "100000", "--device", "cpu", "--quiet",
               "--image-size", "16", "--width", "4", "--latent-dim", "8"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=env)
    try:
        deadline = time.monotonic() + 120
        metrics = out / "metrics.jsonl"
        while not (metrics.exists() and metrics.read_text().count("\n") >= 3):
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "training did not start"
            time.sleep(0.1)
        (rank1,) = [pid for pid in _children(process.pid) if _rank_of(pid) == 1]
        os.kill(rank1, signal.SIGTERM)
        output, _ = process.communicate(timeout=120)
    finally:
        process.kill()
    saved = checkpoint(out)
    step = saved["step"]
    assert output.count("Stopping after this step on every process") == 1, output  # rank 1 got the signal
    assert output.count(f"stopped at step {step} and saved a checkpoint") == 1, output  # rank 0 says so
    assert output.count("exitcode  : 143") >= 1 and "(SIGTERM)" not in output and "SIGKILL" not in output, output
    assert saved["world_size"] == 2 and len(log(out)) == step  # nothing logged the checkpoint does not hold
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["last.pt"]

    dcgan = get_variant("dcgan")
    info = json.loads((out / "run.json").read_text())
    variant = dcgan(dcgan.config_from_dict(info["config"]))
    settings = TrainSettings(**{**info["settings"], "steps": step + 2})
    with pytest.warns(UserWarning, match="data order changes"):
        result = train(variant, info["sources"], out, settings, resume=True, show_progress=False)
    assert result.finished and checkpoint(out)["step"] == step + 2


# --------------------------------------------------------------------------- pieces, in one process


def test_each_process_takes_its_share_of_the_batch_one_process_would_take():
    images = ImageSet(torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1).expand(10, 1, 2, 2).contiguous(),
                      torch.arange(10), ["all"], "numbers")
    one = BatchStream(images, 4, seed=1, device="cpu")
    shares = [BatchStream(images, 4, seed=1, device="cpu", rank=rank, world_size=2) for rank in (0, 1)]
    for _ in range(5):  # two epochs of two batches, and the first of the third epoch
        whole = one.next()["label"].tolist()
        halves = [share.next()["label"].tolist() for share in shares]
        assert sorted(whole) == sorted(halves[0] + halves[1]) and len(halves[0]) == len(halves[1]) == 2
        assert halves[0] == whole[0::2] and halves[1] == whole[1::2]
    assert [share.state_dict() for share in shares] == [one.state_dict()] * 2  # positions count whole batches


def test_a_set_smaller_than_the_processes_is_served_whole_to_each():
    style = ImageSet(torch.zeros(1, 3, 4, 4, dtype=torch.uint8), torch.zeros(1, dtype=torch.long), ["all"], "style")
    for rank in (0, 1):
        assert len(BatchStream(style, 4, seed=0, device="cpu", rank=rank, world_size=2).next()["image"]) == 1


def test_a_batch_that_does_not_split_evenly_is_refused(monkeypatch, tmp_path):
    @contextlib.contextmanager
    def three_processes(device_name):
        yield distributed.World(rank=0, size=3)

    monkeypatch.setattr(distributed, "session", three_processes)
    data = make_image_folder(tmp_path / "data", size=8, channels=1)
    with pytest.raises(TrainingError, match="--batch-size 8 is the batch of all 3 processes together.*use a "
                                            "multiple of 3, such as 6 or 9"):
        train(Probe(Probe.tiny_config()), {"data": str(data)}, tmp_path / "run", probe_settings(), show_progress=False)
    assert not (tmp_path / "run").exists()


def test_each_process_trains_on_the_gpu_of_its_local_rank(monkeypatch):
    """No GPU here: the CUDA calls are stood in for."""
    monkeypatch.setattr(distributed, "pick_device", lambda name: torch.device(name if name != "auto" else "cuda"))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert distributed.training_device("auto", distributed.World(5, 8, 1)) == torch.device("cuda", 1)
    assert distributed.training_device("cuda", distributed.World(0, 1)) == torch.device("cuda")  # one process
    with pytest.raises(UserError, match="CUDA_VISIBLE_DEVICES"):
        distributed.training_device("cuda:2", distributed.World(1, 2, 1))
    with pytest.raises(UserError, match="at most 4 processes per machine"):
        distributed.training_device("cuda", distributed.World(5, 8, 5))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)  # CUDA_VISIBLE_DEVICES gives each process one
    assert distributed.training_device("cuda", distributed.World(3, 4, 3)) == torch.device("cuda", 0)
    with pytest.raises(UserError, match="CUDA GPUs .NCCL. or on CPUs .gloo."):
        distributed.training_device("mps", distributed.World(1, 2, 1))


def test_one_process_starts_no_process_group():
    with distributed.session("cpu") as world:
        assert world == distributed.World() and not torch.distributed.is_initialized()


def test_a_part_of_a_wrapped_network_is_a_clear_error():
    """BEGAN called its discriminator's encoder and decoder apart, which bypasses the wrapper and
    its gradient averaging; the wrapper now says so, instead of nn.Module's bare AttributeError.
    Plain attributes pass through."""
    D = get_variant("began")(get_variant("began").tiny_config()).build_networks()["discriminator"]
    D.note, D.scale = "plain", torch.ones(1)
    wrapped = distributed.DataParallel.__new__(distributed.DataParallel)  # no process group here
    torch.nn.Module.__init__(wrapped)
    wrapped.module = D
    for part in ("encoder", "scale"):
        with pytest.raises(AttributeError, match=f"BEGANDiscriminator.{part}: .*Call the network itself"):
            getattr(wrapped, part)
    assert wrapped.note == "plain"
    with pytest.raises(AttributeError, match="no_such_part"):
        _ = wrapped.no_such_part


def test_the_loop_brings_the_losses_to_the_host_every_log_every_steps(monkeypatch, tmp_path):
    """The losses stay on the device between two reads; the log is complete all the same."""
    reads = []
    host_records = training._host_records
    monkeypatch.setattr(training, "_host_records", lambda pending, ctx: reads.append(len(pending))
                        or host_records(pending, ctx))
    data = make_image_folder(tmp_path / "data", size=8, channels=1)
    train(Probe(Probe.tiny_config()), {"data": str(data)}, tmp_path / "run",
          probe_settings(steps=7, log_every=3, checkpoint_every=6), show_progress=False)
    assert reads == [3, 3, 1]  # steps 1-3, 4-6 (also a checkpoint), 7 (the end)
    assert [line["step"] for line in log(tmp_path / "run")] == list(range(1, 8))


def test_a_nan_is_caught_at_its_step_and_the_last_checkpoint_is_kept(monkeypatch, tmp_path):
    data = make_image_folder(tmp_path / "data", size=8, channels=1)
    train_step = Probe.train_step

    def poisoned(self, ctx):
        losses = train_step(self, ctx)
        return {**losses, "loss_g": losses["loss_g"] * float("nan")} if ctx.step == 4 else losses

    monkeypatch.setattr(Probe, "train_step", poisoned)
    with pytest.raises(TrainingError, match="loss_g became NaN or infinite at step 5; the last checkpoint is kept"):
        train(Probe(Probe.tiny_config()), {"data": str(data)}, tmp_path / "run",
              probe_settings(steps=9, log_every=6, checkpoint_every=3), show_progress=False)
    assert checkpoint(tmp_path / "run")["step"] == 3
    assert [line["step"] for line in log(tmp_path / "run")] == [1, 2, 3, 4]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="checks CUDA's host synchronisations; no GPU here")
def test_a_training_step_does_not_wait_for_the_gpu(tmp_path):
    """Between two reads of the losses, a step of the built-in variants enqueues work without
    waiting for it: torch's sync debug mode raises at any synchronising call."""
    for name in ("dcgan", "wgan_gp", "began", "cyclegan"):
        variant_class = get_variant(name)
        variant = variant_class(variant_class.tiny_config())
        ctx, _ = training.setup_training(variant, tiny_sources(variant, tmp_path / name),
                                         testing.tiny_settings(device="cuda"))
        variant.train_step(ctx)  # the first step allocates and sets up
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            for _ in range(2):
                variant.train_step(ctx)
        finally:
            torch.cuda.set_sync_debug_mode("default")
