"""The one training loop. Variants supply networks, optimisers and ``train_step``; this file
supplies everything around them: data streams, device and precision, progress, sample grids,
the metrics log, checkpoints, Ctrl-C and resuming.

A run folder holds:
    run.json              variant, config, settings and data sources (what --resume reads)
    config.json, model.safetensors   the inference weights of the last checkpoint (their
                          moving average with --ema-decay: ganzoo.averaging)
    checkpoints/last.pt   full training state: weights, optimisers, step, RNG, data position
    samples/step_*.png    sample grids
    metrics.jsonl         one line of losses and figures per step (every diversity_every steps
                          also the diversity of the preview images, and of real ones: ganzoo.metrics)

Resuming is exact: N steps give bit for bit the tensors that N/2 steps, a stop and a resume
give, with or without --ema-decay and --eval-every, on the same device type and versions (on
CUDA, as far as its kernels are deterministic). The checkpoint holds every RNG (Python, CPU,
CUDA, MPS) and is restored after every set-up step that draws from them; previews and
evaluations run on a forked RNG. What would break it is refused: a changed --seed or
--batch-size, or images that are not the ones the run trained on (``BatchStream``
fingerprints them; the same images under another path are fine).

Data-parallel runs (torchrun; ``ganzoo.distributed``): --batch-size is the global batch, each
process takes its share, and each trained network is wrapped in DistributedDataParallel for
``train_step`` only (``ctx.nets``); checkpoints, previews, the average and the weights use the
networks themselves (``ctx.modules``). Rank 0 writes everything; the checkpoint gathers every
process's RNG and variant state, so a resume with as many processes is exact too.

The loop waits for the device only every --log-every steps (and at checkpoints, evaluations
and the end): ``train_step`` may return its losses as tensors on the device, which are kept
there, then averaged over the processes in one collective, brought to the host, checked and
logged together. A stop signal is agreed there too, so every process stops at the same step.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import io
import json
import math
import random
import signal
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from . import __version__, distributed
from .augment import setup_diffaugment
from .averaging import WeightAverage
from .data import BatchStream
from .devices import autocast, uses_channels_last
from .errors import UserError
from .files import WriteError, atomic_write_bytes, atomic_write_text, check_writable, remove_temporaries, write_failure
from .images import to_pil_list
from .metrics import diversity
from .networks import eval_mode
from .registry import blaming_plugin
from .variant import Generated, Variant
from .weights import save_weights

CHECKPOINT = "checkpoints/last.pt"
CHECKPOINT_FORMAT = 1


class TrainingError(UserError):
    pass


@dataclass
class TrainSettings:
    steps: int | None = None  # generator steps; None with epochs=None means 1000
    epochs: float | None = None  # passes over the "data" role; stops at whichever comes first
    batch_size: int = 64
    seed: int = 0
    device: str = "auto"
    sample_every: int = 500
    checkpoint_every: int = 500
    eval_every: int = 0  # score with the digit judge every N steps and keep the best weights; 0: off
    eval_samples: int = 2000
    diversity_every: int = 50  # log the preview images' diversity (mode collapse watch) every N steps; 0: off
    ema_decay: float = 0.0  # publish an exponential moving average of the inference networks (0.999); 0: off
    log_every: int | None = None  # bring the losses to the host every N steps; None: 1 on CPU, 50 on GPUs

    def log_interval(self, device: torch.device) -> int:
        """Steps between two waits for the device: reading a loss on the host waits until the
        device has computed it, which stalls a GPU but costs nothing on a CPU."""
        if self.log_every is not None:
            return max(1, self.log_every)
        return 1 if device.type == "cpu" else 50
    diffaugment: str = ""  # DiffAugment policy for the discriminators' inputs ("color,translation,cutout"); "": off

    def __post_init__(self):
        # Checked here, where the CLI's flags and the Train tab's fields meet: a zero interval
        # would divide by zero mid-run, a batch of 0 fail deep in a network.
        at_least = {"batch_size": 1, "checkpoint_every": 1, "eval_samples": 1, "sample_every": 0, "eval_every": 0,
                    "diversity_every": 0}
        if self.steps is not None:
            at_least["steps"] = 0  # 0: write the start as a checkpoint (of --init-from, say), train nothing
        if self.log_every is not None:
            at_least["log_every"] = 1
        for name, low in at_least.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                flag = "--" + name.replace("_", "-")
                hint = {"steps": " (0: only write the starting checkpoint)"}.get(name, " (0: off)" if low == 0 else "")
                raise UserError(f"{flag} must be a whole number of at least {low}{hint}, not {value!r}")
        if self.epochs is not None and not self.epochs > 0:
            raise UserError(f"--epochs must be more than 0 (1.5: one and a half passes over the data), "
                            f"not {self.epochs}")

    def total_steps(self, images_per_epoch: int) -> int:
        if self.steps is None and self.epochs is None:
            return 1000
        by_epochs = math.inf if self.epochs is None else math.ceil(self.epochs * images_per_epoch / self.batch_size)
        return int(min(self.steps if self.steps is not None else math.inf, by_epochs))


class TrainContext:
    """What ``Variant.train_step`` works with."""

    def __init__(self, variant: Variant, nets: dict, optimizers: dict, device: torch.device,
                 streams: dict[str, BatchStream], state: dict, world: distributed.World | None = None):
        self.variant = variant
        self.config = variant.config
        self.world = world or distributed.World()  # rank 0 of 1 in a single process
        self.modules = nets  # the networks themselves: checkpoints, previews, the average, the weights
        self.nets = distributed.wrap(nets, optimizers, self.world, device)  # as train_step calls them
        self.optimizers = optimizers
        self.device = device
        self.streams = streams
        self.state = state  # the variant's own checkpointed state
        self.step = 0
        self.average: WeightAverage | None = None  # with --ema-decay: what previews, scores and exports use

    def published_nets(self) -> dict:
        """The networks as they are shown and exported: the averaged inference networks where
        training keeps an average, the live ones otherwise."""
        return {**self.modules, **self.average.nets} if self.average is not None else self.modules

    def mean_across_ranks(self, tensor: torch.Tensor) -> torch.Tensor:
        """The mean of ``tensor`` over the processes of a data-parallel run (the tensor itself
        in one process): for state that every process must keep alike, as BEGAN's k_t."""
        return distributed.mean(tensor, self.world)

    def next_batch(self, role: str = "data") -> dict[str, torch.Tensor]:
        return self.streams[role].next()

    def autocast(self):
        """bfloat16 autocast on CUDA, a no-op elsewhere: wrap forward passes in it."""
        return autocast(self.device)


# --------------------------------------------------------------------------- run folder


def write_run_info(out: Path, variant: Variant, settings: TrainSettings, sources: dict[str, str],
                   initialised_from: str | None = None) -> None:
    info = {
        "variant": variant.name,
        "ganzoo_version": __version__,
        "config": variant.config_dict(),
        "settings": dataclasses.asdict(settings),
        "sources": sources,
    }
    if initialised_from is not None:
        info["initialised_from"] = initialised_from
    atomic_write_text(out / "run.json", json.dumps(info, indent=2))


def read_run_info(out: Path) -> dict:
    path = out / "run.json"
    if not path.exists():
        raise TrainingError(f"{out} is not a ganzoo run folder (no run.json); nothing to resume. "
                            f"Start a new run without --resume.")
    return json.loads(path.read_text())


# --------------------------------------------------------------------------- checkpoints


def _mps_available() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if _mps_available():
        state["mps"] = torch.mps.get_rng_state()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "mps" in state and _mps_available():
        torch.mps.set_rng_state(state["mps"])


def isolated_rng(device: torch.device):
    """A block that leaves the global RNGs (the CPU's and ``device``'s) as it found them: what
    runs inside (previews, evaluations) never changes the course of training."""
    if device.type in ("cuda", "mps"):
        return torch.random.fork_rng(devices=[device.index or 0], device_type=device.type)
    return torch.random.fork_rng(devices=[])


def save_checkpoint(out: Path, ctx: TrainContext) -> None:
    """Write the training state; in a data-parallel run every process calls it at the same step,
    and rank 0 writes what all hold alike (networks, optimisers, data positions) with each
    process's own RNG and variant state (``other_ranks``: rank 1 on)."""
    own = {"rng": _rng_state(), "variant_state": _to_device(ctx.state, "cpu") if ctx.world.distributed else ctx.state}
    ranks = distributed.gather(own, ctx.world)
    if not ctx.world.is_main:
        return
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "variant": ctx.variant.name,
        "step": ctx.step,
        "nets": {name: net.state_dict() for name, net in ctx.modules.items()},
        "average": ctx.average.state_dict() if ctx.average is not None else None,
        "optimizers": {name: opt.state_dict() for name, opt in ctx.optimizers.items()},
        "variant_state": own["variant_state"],
        "streams": {role: stream.state_dict() for role, stream in ctx.streams.items()},
        "rng": own["rng"],
        "world_size": ctx.world.size,
    }
    if ctx.world.distributed:
        checkpoint["other_ranks"] = ranks[1:]
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    # Inference weights first: if we die between the two writes, the older checkpoint
    # still resumes, and the exported weights are never older than it.
    save_weights(out, ctx.variant, ctx.published_nets())
    atomic_write_bytes(out / CHECKPOINT, buffer.getvalue())


def _read_checkpoint(out: Path, variant_name: str,
                     if_missing: str = "start the run again without --resume") -> dict:
    path = out / CHECKPOINT
    if not path.exists():
        raise TrainingError(f"no checkpoint at {path}; {if_missing}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise TrainingError(f"checkpoint {path} cannot be read ({error}). It may be damaged: "
                            f"move it away and start again, or restore it from a backup.") from None
    if checkpoint.get("variant") != variant_name:
        raise TrainingError(f"{path} is a {checkpoint.get('variant')} checkpoint, not {variant_name}")
    return checkpoint


def load_checkpoint(out: Path, ctx: TrainContext, seed: int = 0) -> None:
    """Continue from ``out``'s checkpoint. Each process takes its own RNG and variant state back;
    with another number of processes than the run had, process r takes the variant state of
    rank r modulo that number and a fresh random stream, and the data order changes (said
    in a warning)."""
    checkpoint = _read_checkpoint(out, ctx.variant.name)
    world, saved = ctx.world, int(checkpoint.get("world_size", 1))
    ranks = [{"rng": checkpoint["rng"], "variant_state": checkpoint["variant_state"]},
             *checkpoint.get("other_ranks", [])]
    own = ranks[world.rank % saved]
    if saved != world.size and world.is_main:
        warnings.warn(f"{out} was trained with {saved} process{'es' * (saved > 1)} and resumes with "
                      f"{world.size}: it continues, but the data order changes (each process takes other "
                      f"images of each batch, and draws other noise), so it will not match an uninterrupted "
                      f"run exactly. Resume with {saved} process{'es' * (saved > 1)} for that.")
    for name, net in ctx.modules.items():
        net.load_state_dict(checkpoint["nets"][name], strict=True)
    for name, opt in ctx.optimizers.items():
        opt.load_state_dict(checkpoint["optimizers"][name])
    if ctx.average is not None:
        if checkpoint.get("average"):
            ctx.average.load_state_dict(checkpoint["average"])
        else:  # the run trained without an average until now
            ctx.average.restart_from_live()
    for role, stream in ctx.streams.items():
        stream.load_state_dict(checkpoint["streams"][role])
    ctx.state.clear()
    ctx.state.update(_to_device(own["variant_state"], ctx.device))
    ctx.step = int(checkpoint["step"])
    if saved == world.size:
        _set_rng_state(own["rng"])
    else:
        distributed.seed_process(seed, world, ctx.step)


def initialise_from(source: Path, ctx: TrainContext) -> None:
    """A new run's networks and optimiser state from another run's last checkpoint: fine-tuning,
    or a second stage whose config adds to the first (noise clusters, a learning-rate decay).
    Every trained tensor must fit; tensors the new config adds (the noise mixture's centres)
    keep their fresh values. The optimisers keep this run's settings (lr, betas) and take the
    source's moment estimates; step count, data order and RNG start afresh from the seed."""
    checkpoint = _read_checkpoint(source, ctx.variant.name, "--init-from takes the folder of a ganzoo training run")
    for name, net in ctx.modules.items():
        if name not in checkpoint["nets"]:
            raise TrainingError(f"{source} has no {name} network to start from")
        try:
            missing, unexpected = net.load_state_dict(checkpoint["nets"][name], strict=False)
        except RuntimeError as error:  # a tensor of another shape
            detail = str(error).splitlines()[-1].strip()
            raise TrainingError(f"{source}'s {name} does not fit this config ({detail}); start from a run "
                                f"with the same network sizes") from None
        trained = {key for key, _ in net.named_parameters()} | {key for key, _ in net.named_buffers()
                                                                 if key.endswith(("running_mean", "running_var"))}
        if unexpected or trained & set(missing):
            raise TrainingError(f"{source}'s {name} does not fit this config (missing "
                                f"{sorted(trained & set(missing))[:3]}, unexpected {unexpected[:3]}); start "
                                f"from a run with the same networks")
    for name, optimizer in ctx.optimizers.items():
        own = [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]
        try:
            optimizer.load_state_dict(checkpoint["optimizers"][name])
        except (KeyError, ValueError) as error:
            raise TrainingError(f"{source}'s {name} optimiser does not fit this run ({error})") from None
        for group, settings in zip(optimizer.param_groups, own):
            group.update(settings)
    if ctx.average is not None:
        ctx.average.restart_from_live()


def _to_device(value, device):
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return {k: _to_device(v, device) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_device(v, device) for v in value]
    return value


# --------------------------------------------------------------------------- Ctrl-C


class _StopRequest:
    """The first Ctrl-C (SIGINT) or SIGTERM asks the loop to stop and save (after this step, or
    in a data-parallel run at the next step where the processes agree: ``when``); a second one
    interrupts at once (the last checkpoint on disk is intact: writes are atomic). SIGTERM is
    what `kill`, Docker and Spaces send before they kill a process."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, when: str = "after this step"):
        self.requested = False
        self.signal: int | None = None  # the first signal received
        self.when = when
        self._previous: dict = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = {signum: signal.signal(signum, self._handle) for signum in self.SIGNALS}
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested, self.signal = True, signum
        again = "Ctrl-C" if signum == signal.SIGINT else "signal again"
        print(f"\nStopping {self.when} and saving a checkpoint ({again} to quit at once)...", flush=True)

    def __exit__(self, *exc):
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)


# --------------------------------------------------------------------------- the loop


@dataclass
class TrainResult:
    out: Path
    step: int
    finished: bool  # False when stopped early by Ctrl-C, SIGTERM or stop_after
    last_metrics: dict
    signal: int | None = None  # the signal that stopped it (signal.SIGINT, signal.SIGTERM), if one did

    @property
    def exit_code(self) -> int:
        """For a command line: 0, or the shell's 128 + N for a run stopped by signal N (130
        for Ctrl-C, 143 for SIGTERM), so that scripts can tell a stopped run from a finished one."""
        return 128 + int(self.signal) if self.signal is not None else 0


def setup_training(variant: Variant, sources: dict[str, str], settings: TrainSettings):
    """Seed, load the data, build networks and optimisers on the device: a context ready for
    ``variant.train_step``, and the loaded datasets. In a data-parallel run (a process group
    running: ``ganzoo.distributed.session``) every process builds the same networks from the
    seed, then takes its own random stream and its share of each batch."""
    world = distributed.current()
    device = distributed.training_device(settings.device, world)
    torch.manual_seed(settings.seed)
    random.seed(settings.seed)
    datasets = variant.prepare_data(sources)  # may fill config fields from the data (class names)
    channels_last = uses_channels_last(device)
    streams = {role: BatchStream(images, settings.batch_size, settings.seed + i, device, channels_last,
                                 world.rank, world.size)
               for i, (role, images) in enumerate(datasets.items())}
    with blaming_plugin(type(variant), "trained: its networks could not be built"):
        nets = variant.build_networks()
    for net in nets.values():
        net.to(device)
        if channels_last:
            net.to(memory_format=torch.channels_last)
        net.train()
    setup_diffaugment(variant, nets, settings.diffaugment)  # hooks: no new parameters, no RNG drawn here
    optimizers = variant.build_optimizers(nets)
    ctx = TrainContext(variant, nets, optimizers, device, streams, variant.init_train_state(), world)
    if settings.ema_decay and world.is_main:  # the average is for what rank 0 shows and writes
        ctx.average = WeightAverage(nets, variant.inference_networks, settings.ema_decay)
    if world.distributed:
        distributed.seed_process(settings.seed, world)
    return ctx, datasets


def train(variant: Variant, sources: dict[str, str], out: str | Path, settings: TrainSettings,
          resume: bool = False, show_progress: bool = True, init_from: str | Path | None = None,
          stop_after: int | None = None,
          on_step: Callable[[int, dict], None] | None = None) -> TrainResult:
    """Train ``variant`` on ``sources`` (data role -> source), writing into ``out``.

    Under torchrun, each process calls this with the same arguments and trains its share
    (``ganzoo.distributed``); rank 0 writes. ``stop_after`` stops (and checkpoints) after that
    many steps of this call, as a Ctrl-C would: the tests use it to interrupt a run at a known
    point. ``init_from`` (a run folder) starts a new run from that run's networks and optimisers
    (``initialise_from``). ``on_step(step, metrics)`` is called with each step's log line, as
    the lines are written (every --log-every steps).
    """
    out = Path(out)
    missing = [role.name for role in variant.data_roles if role.name not in sources]
    if missing:
        flags = ", ".join(r.flag for r in variant.data_roles if r.name in missing)
        raise TrainingError(f"{variant.name} needs training data for {flags}")
    if settings.eval_every and type(variant).evaluation_batches is Variant.evaluation_batches:
        raise TrainingError(f"{variant.name} does not say how the judge should score it: drop --eval-every")
    with distributed.session(settings.device) as world:
        if settings.batch_size % world.size:
            below = settings.batch_size - settings.batch_size % world.size
            raise TrainingError(f"--batch-size {settings.batch_size} is the batch of all {world.size} processes "
                                f"together, and each takes an equal share: use a multiple of {world.size}, such as "
                                f"{below or world.size} or {below + world.size}")
        return _train(world, variant, sources, out, settings, resume, show_progress, init_from, stop_after, on_step)


def _train(world, variant, sources, out, settings, resume, show_progress, init_from, stop_after, on_step):
    if resume:
        _check_resumable(out, settings)
    elif (out / CHECKPOINT).exists():
        raise TrainingError(f"{out} already holds a run; pass --resume to continue it, "
                            f"or choose another --out")
    if init_from is not None and Path(init_from).resolve() == out.resolve():
        raise TrainingError(f"--init-from {init_from} is the new run's own folder; to continue it, use --resume")
    main = world.is_main  # only rank 0 writes, previews and evaluates
    if main:
        try:
            check_writable(out)
        except WriteError as error:
            raise TrainingError(f"--out: {error}") from None
        for folder in (out, out / "checkpoints", out / "best", out / "samples"):
            remove_temporaries(folder)  # left by a run killed while it wrote

    ctx, datasets = setup_training(variant, sources, settings)
    evaluator = None
    if settings.eval_every and main:
        from .evaluation import TrainingEvaluator

        evaluator = TrainingEvaluator(variant, datasets, sources, settings.eval_samples)
    # Restoring a checkpoint comes after every set-up step, since some draw from the global
    # RNG (the judge's construction): the checkpoint's RNG state must be the last word.
    if resume:
        load_checkpoint(out, ctx, settings.seed)
        initialised_from = read_run_info(out).get("initialised_from")
    elif init_from is not None:
        initialise_from(Path(init_from), ctx)
        initialised_from = str(init_from)
    else:
        initialised_from = None
    metrics_path = out / "metrics.jsonl"
    if main:
        with _write_failures_stop(out, ctx):
            write_run_info(out, variant, settings, sources, initialised_from)
            _truncate_metrics(metrics_path, after_step=ctx.step)
    best = read_best(out) if main else None
    total = settings.total_steps(len(datasets["data"]))
    preview_batches = {role: stream.fixed(64) for role, stream in ctx.streams.items()} if main else {}
    diversity_every = settings.diversity_every if main else 0
    diversity_real = _real_diversity(variant, preview_batches) if diversity_every else None
    log_every = settings.log_interval(ctx.device)
    shown: dict = {}  # the latest diversity figures, kept in the progress bar between measurements
    start_step = ctx.step
    last: dict = {}
    pending: list[tuple[int, dict, dict]] = []  # (step, losses as train_step gave them, host figures)
    finished, stopped_by = ctx.step >= total, None

    from tqdm.auto import tqdm

    bar = tqdm(total=total, initial=ctx.step, disable=not (show_progress and main), unit="step",
               desc=f"{variant.name}", dynamic_ncols=True)
    when = "after this step" if log_every == 1 or not world.distributed else f"within {log_every} steps"
    when += " on every process" if world.distributed else ""
    log = open(metrics_path, "a") if main else contextlib.nullcontext()
    with _StopRequest(when) as stop, _write_failures_stop(out, ctx), log as metrics_file:
        started = time.perf_counter()
        while ctx.step < total:
            losses = variant.train_step(ctx)
            ctx.step += 1
            if ctx.average is not None:
                ctx.average.update(ctx.step)
            figures = {"steps_per_s": round((ctx.step - start_step) / max(time.perf_counter() - started, 1e-9), 3)}
            if diversity_every and ctx.step % diversity_every == 0:
                shown = _diversity_figures(variant, ctx, preview_batches, diversity_real)
                figures.update(shown)
            pending.append((ctx.step, losses, figures))
            bar.update(1)
            evaluating = settings.eval_every and ctx.step % settings.eval_every == 0
            checkpointing = ctx.step % settings.checkpoint_every == 0 or ctx.step == total
            interrupted = stop_after is not None and ctx.step - start_step >= stop_after
            if (ctx.step % log_every == 0 or evaluating or checkpointing or interrupted
                    or (stop.requested and not world.distributed)):
                # The loop's one place that waits for the device: whether any process was asked to
                # stop, and the losses since the last time, averaged over the processes and checked.
                stopped_by = distributed.agreed_stop(stop.signal or 0, world, ctx.device) or None
                interrupted = interrupted or stopped_by is not None
                records = _host_records(pending, ctx)
                pending.clear()
                _check_finite(records, variant.name, metrics_file)
                if evaluator is not None and evaluating:
                    with isolated_rng(ctx.device):
                        scores = evaluator(ctx)
                    records[-1].update({f"eval_{k}": round(v, 5) for k, v in scores.items()
                                        if k in ("fd", "classifier_is", "label_accuracy")})
                    if evaluator.better(scores[evaluator.metric], best and best["value"]):
                        best = save_best(out, ctx, evaluator.metric, scores)
                _write_lines(metrics_file, records)
                last = records[-1]
                bar.set_postfix({k: f"{v:.3g}" for k, v in {**last, **shown}.items()
                                 if k not in ("step", "steps_per_s")}, refresh=False)
                if on_step is not None:
                    for record in records:
                        on_step(record["step"], record)
            if main and ((settings.sample_every and ctx.step % settings.sample_every == 0) or ctx.step == total):
                write_samples(out, variant, ctx, preview_batches)
            if checkpointing or interrupted:
                save_checkpoint(out, ctx)
            if interrupted:
                break
        else:
            finished = True
    bar.close()
    if ctx.step == start_step and not resume:  # nothing to train: the checkpoint of the start
        with _write_failures_stop(out, ctx):
            save_checkpoint(out, ctx)
    return TrainResult(out, ctx.step, finished, last, stopped_by)


def _host_records(pending: list[tuple[int, dict, dict]], ctx: TrainContext) -> list[dict]:
    """The log lines of the ``pending`` steps: their losses (tensors on the device, or numbers)
    averaged over the processes in one all-reduce and brought to the host in one copy, then
    the figures each step measured on the host (speed, diversity)."""
    values = [value for _, losses, _ in pending for value in losses.values()]
    dtype = torch.float32 if ctx.device.type == "mps" else torch.float64  # MPS has no float64
    on_device = [v.detach().reshape(()).to(ctx.device, dtype) for v in values if isinstance(v, torch.Tensor)]
    numbers = torch.tensor([float(v) for v in values if not isinstance(v, torch.Tensor)], dtype=dtype)
    together = torch.cat([torch.stack(on_device) if on_device else numbers[:0].to(ctx.device), numbers.to(ctx.device)])
    host = distributed.mean(together, ctx.world).tolist()
    from_tensors, from_numbers = iter(host[:len(on_device)]), iter(host[len(on_device):])
    records = []
    for step, losses, figures in pending:
        record = {"step": step, **{key: next(from_tensors) if isinstance(value, torch.Tensor) else next(from_numbers)
                                   for key, value in losses.items()}}
        records.append({**record, **figures})
    return records


def _write_lines(metrics_file, records: list[dict]) -> None:
    if metrics_file is not None:
        metrics_file.write("".join(json.dumps(record) + "\n" for record in records))
        metrics_file.flush()


def _check_resumable(out: Path, settings: TrainSettings) -> None:
    """Before any data loads: ``out`` holds a run with a checkpoint, and the settings that fix
    its data order are the ones it started with. (The data itself is checked when the
    checkpoint loads: ``BatchStream.load_state_dict``.)"""
    previous = read_run_info(out).get("settings", {})
    if not (out / CHECKPOINT).exists():
        raise TrainingError(f"no checkpoint at {out / CHECKPOINT} (the run stopped before its first one); "
                            f"start the run again without --resume")
    changed = [f"--{key.replace('_', '-')} {getattr(settings, key)} (the run used {previous[key]})"
               for key in ("seed", "batch_size") if key in previous and previous[key] != getattr(settings, key)]
    if changed:
        raise TrainingError(f"{' and '.join(changed)}: a resumed run keeps its seed and batch size, which fix "
                            f"the order of its batches, or it would not continue the same run. Drop the flag, or "
                            f"start a new run from this one with --init-from {out}")


DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


@contextlib.contextmanager
def _write_failures_stop(out: Path, ctx: TrainContext):
    """A write that fails during training (a full disk, a folder made read-only) stops it with
    a TrainingError that says what was kept and how to go on, rather than a traceback."""
    try:
        yield
    except (WriteError, OSError) as error:
        if isinstance(error, OSError) and error.errno not in DISK_ERRNOS:
            raise
        reason = str(error) if isinstance(error, WriteError) else write_failure(out, error)
        if (out / CHECKPOINT).exists():
            then = "The last checkpoint on disk is intact: once the folder can be written, continue with --resume"
        else:
            then = "No checkpoint was saved yet: once the folder can be written, start the run again"
        raise TrainingError(f"training stopped at step {ctx.step}: {reason}. {then}") from None


def read_best(out: Path) -> dict | None:
    path = out / "best" / "best.json"
    return json.loads(path.read_text()) if path.exists() else None


def save_best(out: Path, ctx: TrainContext, metric: str, figures: dict) -> dict:
    """The best inference weights so far, as a weights folder any command can load."""
    best = {"step": ctx.step, "metric": metric, "value": figures[metric], "figures": figures}
    save_weights(out / "best", ctx.variant, ctx.published_nets())
    atomic_write_text(out / "best" / "best.json", json.dumps(best, indent=2))
    return best


def _check_finite(records: list[dict], name: str, metrics_file) -> None:
    """Every loss of ``records`` is a number; at the first step where one is not, the lines
    before it are logged and training stops (the last checkpoint, older, is kept)."""
    for index, record in enumerate(records):
        bad = [k for k, v in record.items() if not math.isfinite(v)]
        if bad:
            _write_lines(metrics_file, records[:index])
            raise TrainingError(f"{name}: {', '.join(bad)} became NaN or infinite at step {record['step']}; "
                                f"the last checkpoint is kept. Try a lower --lr or another --seed.")


def _truncate_metrics(path: Path, after_step: int) -> None:
    """Drop log lines past the checkpoint we resume from: they are about to be redone. A torn
    last line (a run killed while writing it, or a full disk) is dropped with a warning."""
    if not path.exists():
        return
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    kept = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
            step = record.get("step", 0) if isinstance(record, dict) else None
        except ValueError:
            step = None
        if step is None and number == len(lines):
            warnings.warn(f"{path}: dropped its last line, which a stopped write left incomplete: {line[:60]!r}")
        elif step is None:
            raise TrainingError(f"{path}, line {number}, is not a log line: {line[:60]!r}. Delete that line, "
                                f"or move the file away (the run continues without its old log)")
        elif step <= after_step:
            kept.append(line)
    atomic_write_text(path, "".join(line + "\n" for line in kept))


def preview_images(variant: Variant, ctx: TrainContext, batches: dict) -> torch.Tensor:
    """``variant.preview`` with the networks in eval mode, then back in train mode. The global
    RNG is left as it was, so previews never change the course of training (a resumed run
    stays identical to an uninterrupted one)."""
    nets = ctx.published_nets()
    with eval_mode(nets), torch.no_grad(), isolated_rng(ctx.device):
        return variant.preview(nets, batches)


def _real_diversity(variant: Variant, batches: dict) -> float | None:
    """The diversity of the fixed real batch that generated images are compared with."""
    real = batches.get(variant.evaluation_reference_role, batches.get("data"))
    if real is None or len(real["image"]) < 2:
        return None
    return round(diversity(real["image"]), 5)


def _diversity_figures(variant: Variant, ctx: TrainContext, batches: dict, real: float | None) -> dict:
    """``diversity`` of the preview images (for a translation variant they include its input
    images), beside ``diversity_real``."""
    images = preview_images(variant, ctx, batches)
    figures = {"diversity": round(diversity(images), 5)} if len(images) >= 2 else {}
    if figures and real is not None:
        figures["diversity_real"] = real
    return figures


def write_samples(out: Path, variant: Variant, ctx: TrainContext, batches: dict) -> Path:
    images = preview_images(variant, ctx, batches)
    buffer = io.BytesIO()
    Generated(to_pil_list(images)).grid().save(buffer, format="PNG")
    path = out / "samples" / f"step_{ctx.step:07d}.png"
    atomic_write_bytes(path, buffer.getvalue())
    atomic_write_bytes(out / "samples.png", buffer.getvalue())
    return path
