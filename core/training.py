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

from . import __version__
from .augment import setup_diffaugment
from .averaging import WeightAverage
from .data import BatchStream
from .devices import autocast, pick_device, uses_channels_last
from .errors import UserError
from .files import WriteError, atomic_write_bytes, atomic_write_text, check_writable, remove_temporaries, write_failure
from .images import to_pil_list
from .metrics import diversity
from .networks import eval_mode
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
    diffaugment: str = ""  # DiffAugment policy for the discriminators' inputs ("color,translation,cutout"); "": off

    def total_steps(self, images_per_epoch: int) -> int:
        if self.steps is None and self.epochs is None:
            return 1000
        by_epochs = math.inf if self.epochs is None else math.ceil(self.epochs * images_per_epoch / self.batch_size)
        return int(min(self.steps if self.steps is not None else math.inf, by_epochs))


class TrainContext:
    """What ``Variant.train_step`` works with."""

    def __init__(self, variant: Variant, nets: dict, optimizers: dict, device: torch.device,
                 streams: dict[str, BatchStream], state: dict):
        self.variant = variant
        self.config = variant.config
        self.nets = nets
        self.optimizers = optimizers
        self.device = device
        self.streams = streams
        self.state = state  # the variant's own checkpointed state
        self.step = 0
        self.average: WeightAverage | None = None  # with --ema-decay: what previews, scores and exports use

    def published_nets(self) -> dict:
        """The networks as they are shown and exported: the averaged inference networks where
        training keeps an average, the live ones otherwise."""
        return {**self.nets, **self.average.nets} if self.average is not None else self.nets

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
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "variant": ctx.variant.name,
        "step": ctx.step,
        "nets": {name: net.state_dict() for name, net in ctx.nets.items()},
        "average": ctx.average.state_dict() if ctx.average is not None else None,
        "optimizers": {name: opt.state_dict() for name, opt in ctx.optimizers.items()},
        "variant_state": ctx.state,
        "streams": {role: stream.state_dict() for role, stream in ctx.streams.items()},
        "rng": _rng_state(),
    }
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


def load_checkpoint(out: Path, ctx: TrainContext) -> None:
    checkpoint = _read_checkpoint(out, ctx.variant.name)
    for name, net in ctx.nets.items():
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
    ctx.state.update(_to_device(checkpoint["variant_state"], ctx.device))
    ctx.step = int(checkpoint["step"])
    _set_rng_state(checkpoint["rng"])


def initialise_from(source: Path, ctx: TrainContext) -> None:
    """A new run's networks and optimiser state from another run's last checkpoint: fine-tuning,
    or a second stage whose config adds to the first (noise clusters, a learning-rate decay).
    Every trained tensor must fit; tensors the new config adds (the noise mixture's centres)
    keep their fresh values. The optimisers keep this run's settings (lr, betas) and take the
    source's moment estimates; step count, data order and RNG start afresh from the seed."""
    checkpoint = _read_checkpoint(source, ctx.variant.name, "--init-from takes the folder of a ganzoo training run")
    for name, net in ctx.nets.items():
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
    """The first Ctrl-C (SIGINT) or SIGTERM asks the loop to stop after the current step and
    save; a second one interrupts at once (the last checkpoint on disk is intact: writes are
    atomic). SIGTERM is what `kill`, Docker and Spaces send before they kill a process."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested = False
        self.signal: int | None = None  # the first signal received
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
        print(f"\nStopping after this step and saving a checkpoint ({again} to quit at once)...", flush=True)

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
    ``variant.train_step``, and the loaded datasets."""
    device = pick_device(settings.device)
    torch.manual_seed(settings.seed)
    random.seed(settings.seed)
    datasets = variant.prepare_data(sources)  # may fill config fields from the data (class names)
    channels_last = uses_channels_last(device)
    streams = {role: BatchStream(images, settings.batch_size, settings.seed + i, device, channels_last)
               for i, (role, images) in enumerate(datasets.items())}
    nets = variant.build_networks()
    for net in nets.values():
        net.to(device)
        if channels_last:
            net.to(memory_format=torch.channels_last)
        net.train()
    setup_diffaugment(variant, nets, settings.diffaugment)  # hooks: no new parameters, no RNG drawn here
    optimizers = variant.build_optimizers(nets)
    ctx = TrainContext(variant, nets, optimizers, device, streams, variant.init_train_state())
    if settings.ema_decay:
        ctx.average = WeightAverage(nets, variant.inference_networks, settings.ema_decay)
    return ctx, datasets


def train(variant: Variant, sources: dict[str, str], out: str | Path, settings: TrainSettings,
          resume: bool = False, show_progress: bool = True, init_from: str | Path | None = None,
          stop_after: int | None = None,
          on_step: Callable[[int, dict], None] | None = None) -> TrainResult:
    """Train ``variant`` on ``sources`` (data role -> source), writing into ``out``.

    ``stop_after`` stops (and checkpoints) after that many steps of this call, as a Ctrl-C
    would: the tests use it to interrupt a run at a known point. ``init_from`` (a run folder)
    starts a new run from that run's networks and optimisers (``initialise_from``).
    """
    out = Path(out)
    missing = [role.name for role in variant.data_roles if role.name not in sources]
    if missing:
        flags = ", ".join(r.flag for r in variant.data_roles if r.name in missing)
        raise TrainingError(f"{variant.name} needs training data for {flags}")
    if settings.eval_every and type(variant).evaluation_batches is Variant.evaluation_batches:
        raise TrainingError(f"{variant.name} does not say how the judge should score it: drop --eval-every")
    if resume:
        _check_resumable(out, settings)
    elif (out / CHECKPOINT).exists():
        raise TrainingError(f"{out} already holds a run; pass --resume to continue it, "
                            f"or choose another --out")
    if init_from is not None and Path(init_from).resolve() == out.resolve():
        raise TrainingError(f"--init-from {init_from} is the new run's own folder; to continue it, use --resume")
    try:
        check_writable(out)
    except WriteError as error:
        raise TrainingError(f"--out: {error}") from None
    for folder in (out, out / "checkpoints", out / "best", out / "samples"):
        remove_temporaries(folder)  # left by a run killed while it wrote

    ctx, datasets = setup_training(variant, sources, settings)
    evaluator = None
    if settings.eval_every:
        from .evaluation import TrainingEvaluator

        evaluator = TrainingEvaluator(variant, datasets, sources, settings.eval_samples)
    # Restoring a checkpoint comes after every set-up step, since some draw from the global
    # RNG (the judge's construction): the checkpoint's RNG state must be the last word.
    if resume:
        load_checkpoint(out, ctx)
        initialised_from = read_run_info(out).get("initialised_from")
    elif init_from is not None:
        initialise_from(Path(init_from), ctx)
        initialised_from = str(init_from)
    else:
        initialised_from = None
    metrics_path = out / "metrics.jsonl"
    with _write_failures_stop(out, ctx):
        write_run_info(out, variant, settings, sources, initialised_from)
        _truncate_metrics(metrics_path, after_step=ctx.step)
    best = read_best(out)
    total = settings.total_steps(len(datasets["data"]))
    preview_batches = {role: stream.fixed(64) for role, stream in ctx.streams.items()}
    diversity_real = _real_diversity(variant, preview_batches) if settings.diversity_every else None
    shown: dict = {}  # the latest diversity figures, kept in the progress bar between measurements
    start_step = ctx.step
    last: dict = {}
    finished = ctx.step >= total

    from tqdm.auto import tqdm

    bar = tqdm(total=total, initial=ctx.step, disable=not show_progress, unit="step",
               desc=f"{variant.name}", dynamic_ncols=True)
    with _StopRequest() as stop, _write_failures_stop(out, ctx), open(metrics_path, "a") as metrics_file:
        started = time.perf_counter()
        while ctx.step < total:
            losses = variant.train_step(ctx)
            ctx.step += 1
            if ctx.average is not None:
                ctx.average.update(ctx.step)
            last = {"step": ctx.step, **{k: float(v) for k, v in losses.items()}}
            _check_finite(last, variant.name)
            elapsed = time.perf_counter() - started
            last["steps_per_s"] = round((ctx.step - start_step) / max(elapsed, 1e-9), 3)
            if evaluator is not None and ctx.step % settings.eval_every == 0:
                with isolated_rng(ctx.device):
                    figures = evaluator(ctx)
                last.update({f"eval_{k}": round(v, 5) for k, v in figures.items()
                             if k in ("fd", "classifier_is", "label_accuracy")})
                if evaluator.better(figures[evaluator.metric], best and best["value"]):
                    best = save_best(out, ctx, evaluator.metric, figures)
            if settings.diversity_every and ctx.step % settings.diversity_every == 0:
                shown = _diversity_figures(variant, ctx, preview_batches, diversity_real)
                last.update(shown)
            metrics_file.write(json.dumps(last) + "\n")
            metrics_file.flush()
            bar.update(1)
            bar.set_postfix({k: f"{v:.3g}" for k, v in {**last, **shown}.items() if k not in ("step", "steps_per_s")},
                            refresh=False)
            if on_step is not None:
                on_step(ctx.step, last)
            if ctx.step % settings.sample_every == 0 or ctx.step == total:
                write_samples(out, variant, ctx, preview_batches)
            interrupted = stop.requested or (stop_after is not None and ctx.step - start_step >= stop_after)
            if ctx.step % settings.checkpoint_every == 0 or ctx.step == total or interrupted:
                save_checkpoint(out, ctx)
            if interrupted:
                break
        else:
            finished = True
    bar.close()
    if ctx.step == start_step and not (out / CHECKPOINT).exists():
        with _write_failures_stop(out, ctx):
            save_checkpoint(out, ctx)
    return TrainResult(out, ctx.step, finished, last, stop.signal)


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


def _check_finite(metrics: dict, name: str) -> None:
    bad = [k for k, v in metrics.items() if not math.isfinite(v)]
    if bad:
        raise TrainingError(f"{name}: {', '.join(bad)} became NaN or infinite at step {metrics['step']}; "
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
