"""Benchmark every registered variant with its default config and batch size on the device it
finds (cuda, then mps, then cpu), on synthetic images of the right shape (a speed does not
depend on what the images show):

- training images/s (the batch of a generator step over the median time of a step) of
  ganzoo's loop (``ganzoo.training.train``: data streams, the losses' checks and log, the
  diversity watch; samples and checkpoints only at the end, outside the timed steps), beside a
  plain loop that calls the same ``train_step`` on the same networks and nothing else, in the
  same run, the two taking turns;
- inference milliseconds per image (the median call) and the FLOPs of one call
  (``Model.generate`` with the default inputs, 16 images where the count is an input;
  ``torch.utils.flop_counter``);
- on CUDA also: the plain loop in float32 against bfloat16 autocast with channels_last (the
  loop's default there), and ganzoo's loop in 1 process against N (torchrun, one per GPU,
  each with the default batch).

    python scripts/bench.py --json bench.json          # every variant
    python scripts/bench.py dcgan wgan_gp --seconds 20   # some, measured longer

It prints a table and writes the figures as JSON (--json). A variant that cannot run here
(style transfer without VGG-19's weights) gets a row that says why.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from ganzoo import data as ganzoo_data
from ganzoo import devices, distributed, training
from ganzoo.api import ImageInput
from ganzoo.data import ImageSet
from ganzoo.errors import UserError
from ganzoo.registry import get_variant, registry
from ganzoo.training import TrainSettings, setup_training, train
from ganzoo.variant import Model
from PIL import Image

IMAGES = 256  # synthetic images per data role; one for a style image
LOAD_IMAGES = ganzoo_data.load_images


# --------------------------------------------------------------------------- synthetic data


def synthetic_images(source, size: int, channels: int) -> ImageSet:
    """Random uint8 images in place of ``ganzoo.data.load_images``, where the source names a
    role rather than a path (--data)."""
    if Path(str(source)).expanduser().exists():
        return LOAD_IMAGES(source, size, channels)
    count = 1 if str(source) == "style_image" else IMAGES
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (count, channels, size, size), dtype=torch.uint8, generator=generator)
    labels = torch.arange(count) % 10
    return ImageSet(images, labels, [str(i) for i in range(10)], str(source))


@contextlib.contextmanager
def synthetic_data():
    import ganzoo.api

    ganzoo_data.load_images = ganzoo.api.load_images = synthetic_images
    try:
        yield
    finally:
        ganzoo_data.load_images = ganzoo.api.load_images = LOAD_IMAGES


def sources_of(variant_class, data: str | None) -> dict[str, str]:
    roles = [role.name for role in variant_class.data_roles]
    if data and roles == ["data"]:
        return {"data": data}
    return {role: role for role in roles}


# --------------------------------------------------------------------------- measurements


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def settings_for(variant_class, device: str, steps: int, **overrides) -> TrainSettings:
    values = dict(steps=steps, batch_size=variant_class.default_batch_size, seed=0, device=device,
                  sample_every=10**9, checkpoint_every=10**9)
    return TrainSettings(**{**values, **overrides})


def plain_context(variant_class, sources: dict, settings: TrainSettings, warmup: int):
    """The training context of a bare loop, after ``warmup`` untimed steps."""
    variant = variant_class(variant_class.Config())
    ctx, _ = setup_training(variant, sources, settings)
    for _ in range(warmup):
        variant.train_step(ctx)
    return ctx


def plain_loop(ctx, seconds: float, steps: int | None = None) -> tuple[list[float], int]:
    """Seconds per step of a bare loop that calls ``train_step`` and nothing else, one figure
    per wait for the device (each step on a CPU, every 10 on a GPU), for ``steps`` steps or,
    without, for about ``seconds`` (at least 2 steps); and the steps it took."""
    chunk = 1 if ctx.device.type == "cpu" else 10
    synchronize(ctx.device)
    started, done, times = time.perf_counter(), 0, []
    while (done < steps) if steps else (done < 2 or time.perf_counter() - started < seconds):
        begun = time.perf_counter()
        for _ in range(chunk):
            ctx.variant.train_step(ctx)
        synchronize(ctx.device)
        times.append((time.perf_counter() - begun) / chunk)
        done += chunk
    return times, done


def ganzoo_loop(variant_class, sources: dict, settings: TrainSettings, warmup: int, steps: int) -> list[float]:
    """Seconds per step of ``train`` after ``warmup`` steps, one figure per time it wrote the
    log (each step on a CPU, every --log-every on a GPU, when the loop has waited for the
    device); the final sample grid and checkpoint come after the last and are left out."""
    times = {}
    log_every = settings.log_interval(distributed.training_device(settings.device, distributed.current()))
    warmup = max(warmup, log_every) // log_every * log_every  # a step whose line is written as it ends
    steps = max(steps, log_every) // log_every * log_every
    settings = dataclasses.replace(settings, steps=warmup + steps)
    with tempfile.TemporaryDirectory() as out:
        train(variant_class(variant_class.Config()), sources, Path(out) / "run", settings, show_progress=False,
              on_step=lambda step, line: times.__setitem__(step, time.perf_counter()))
    ends = [step for step in sorted(times) if step >= warmup and (step - warmup) % log_every == 0]
    return [(times[b] - times[a]) / (b - a) for a, b in zip(ends, ends[1:])]


def images_per_s(seconds_per_step: list[float], batch_size: int) -> float:
    """From the median step: a step slowed by other work on the machine does not count."""
    return batch_size / statistics.median(seconds_per_step)


def inference(ctx) -> dict:
    """Milliseconds per image and FLOPs of one ``Model.generate`` with the default inputs."""
    from torch.utils.flop_counter import FlopCounterMode

    variant = ctx.variant
    model = Model(variant, {name: ctx.modules[name].eval() for name in variant.inference_networks}, ctx.device,
                  "benchmark")
    values = {}
    for spec in variant.inputs():
        if isinstance(spec, ImageInput):
            size = variant.config.image_size
            values[spec.name] = Image.fromarray(torch.randint(0, 256, (size, size, 3), dtype=torch.uint8).numpy())
        elif spec.name == "n":
            values[spec.name] = 16
    images = len(model.generate(**values).images)  # warm-up
    with FlopCounterMode(display=False) as counter:
        model.generate(**values)
    times, started = [], time.perf_counter()
    while len(times) < 5 or time.perf_counter() - started < 2.0:
        begun = time.perf_counter()
        model.generate(**values)  # its images come back to the host: no further wait needed
        times.append(time.perf_counter() - begun)
    return {"images_per_call": images, "ms_per_image": 1000 * statistics.median(times) / images,
            "gflop_per_call": counter.get_total_flops() / 1e9}


@contextlib.contextmanager
def float32_everywhere():
    """The loop's CUDA rules switched off: no autocast, no channels_last."""
    kept = devices.autocast_dtype, training.uses_channels_last
    devices.autocast_dtype = lambda device: None
    training.uses_channels_last = lambda device: False
    try:
        yield
    finally:
        devices.autocast_dtype, training.uses_channels_last = kept


def data_parallel(name: str, args, processes: int, steps: int) -> float | None:
    """Images/s of ganzoo's loop under torchrun with ``processes`` processes (one per GPU, each
    with the default batch), from rank 0's report."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
                   __file__, name, "--steps", str(steps), "--warmup", str(args.warmup),
                   "--worker-report", str(report)] + (["--data", args.data] if args.data else [])
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            return None
        return json.loads(report.read_text())["images_per_s"]


def worker(args) -> None:
    """One process of ``data_parallel``: the global batch is the default batch per process."""
    variant_class = get_variant(args.variants[0])
    with distributed.session("auto") as world, synthetic_data():
        settings = settings_for(variant_class, "auto", args.steps,
                                batch_size=variant_class.default_batch_size * world.size)
        times = ganzoo_loop(variant_class, sources_of(variant_class, args.data), settings, args.warmup, args.steps)
        if world.is_main:
            speed = images_per_s(times, settings.batch_size)
            Path(args.worker_report).write_text(json.dumps({"images_per_s": speed, "processes": world.size}))


# --------------------------------------------------------------------------- the table


def bench(name: str, args, device: torch.device) -> dict:
    """One variant's row. The two loops take turns, ``--repeats`` times, with as many steps as
    the first plain measurement took in ``--seconds``; each speed is from the median step."""
    variant_class = get_variant(name)
    sources = sources_of(variant_class, args.data)
    settings = settings_for(variant_class, args.device, 1)
    row = {"batch": variant_class.default_batch_size}
    with synthetic_data():
        try:
            ctx = plain_context(variant_class, sources, settings, args.warmup)
        except UserError as error:
            return {**row, "skipped": str(error).split(". ")[0].split(": ")[0]}
        plain, loop, steps = [], [], None
        for _ in range(args.repeats):
            times, steps = plain_loop(ctx, args.seconds, steps)
            plain += times
            loop += ganzoo_loop(variant_class, sources, settings, args.warmup, steps)
        row.update(steps=steps, plain_images_per_s=images_per_s(plain, settings.batch_size),
                   loop_images_per_s=images_per_s(loop, settings.batch_size))
        row["loop_over_plain"] = row["loop_images_per_s"] / row["plain_images_per_s"]
        row.update(inference(ctx))
        if device.type == "cuda":
            row["bf16_channels_last_images_per_s"] = row["plain_images_per_s"]
            with float32_everywhere():
                float32 = plain_context(variant_class, sources, settings, args.warmup)
                times = [t for _ in range(args.repeats) for t in plain_loop(float32, args.seconds, steps)[0]]
                row["float32_images_per_s"] = images_per_s(times, settings.batch_size)
    if device.type == "cuda" and torch.cuda.device_count() > 1:
        row["processes"] = torch.cuda.device_count()
        row["processes_images_per_s"] = data_parallel(name, args, row["processes"], steps)
    return row


def figure(value: float) -> str:
    """One decimal, or three significant digits below 10 (CycleGAN's 0.0594 images/s)."""
    return f"{value:,.1f}" if value >= 10 else f"{value:.3g}"


COLUMNS = [  # (heading, key, format)
    ("batch", "batch", "{:d}".format),
    ("steps", "steps", "{:d}".format),
    ("plain loop img/s", "plain_images_per_s", figure),
    ("ganzoo loop img/s", "loop_images_per_s", figure),
    ("loop / plain", "loop_over_plain", "{:.2f}x".format),
    ("inference ms/img", "ms_per_image", figure),
    ("GFLOP/call", "gflop_per_call", "{:.3f}".format),
    ("images/call", "images_per_call", "{:d}".format),
]
CUDA_COLUMNS = [
    ("float32 img/s", "float32_images_per_s", figure),
    ("bf16+channels_last img/s", "bf16_channels_last_images_per_s", figure),
    ("N processes img/s", "processes_images_per_s", figure),
]


def table(rows: dict, cuda: bool) -> str:
    columns = COLUMNS + (CUDA_COLUMNS if cuda else [])
    lines = ["| variant | " + " | ".join(heading for heading, _, _ in columns) + " |",
             "| --- |" + " --- |" * len(columns)]
    for name, row in rows.items():
        if "skipped" in row:
            lines.append(f"| `{name}` | {row['batch']} | skipped: {row['skipped']} |" + " |" * (len(columns) - 2))
            continue
        cells = [fmt(row[key]) if row.get(key) is not None else "-" for _, key, fmt in columns]
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", nargs="*", help="variants to measure (default: every registered one)")
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="about how long each training measurement runs (5; at least 2 steps)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before them (3)")
    parser.add_argument("--repeats", type=int, default=3, help="measurements of each loop, taking turns; the best "
                                                              "counts (3)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's)")
    parser.add_argument("--data", help="real images for the variants that take one data set (default: synthetic)")
    parser.add_argument("--json", type=Path, default=Path("bench.json"), help="write the figures here (bench.json)")
    parser.add_argument("--worker-report", help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, help=argparse.SUPPRESS)  # the worker's
    args = parser.parse_args()
    if args.worker_report:
        return worker(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = devices.pick_device(args.device)
    names = args.variants or sorted(registry())
    rows = {}
    for name in names:
        rows[name] = bench(name, args, device)
        print(f"{name}: {rows[name]}", file=sys.stderr, flush=True)
    about = {"device": str(device), "device_name": torch.cuda.get_device_name(device) if device.type == "cuda"
             else f"cpu ({torch.get_num_threads()} threads)", "torch": torch.__version__,
             "seconds": args.seconds, "warmup": args.warmup, "repeats": args.repeats, "command": " ".join(["python", *sys.argv])}
    args.json.write_text(json.dumps({**about, "variants": rows}, indent=2))
    print(f"{about['device_name']}, torch {about['torch']}; training speeds from the median step of "
          f"{args.repeats} turns of about {args.seconds:g} s (at least 2 steps) after {args.warmup} untimed steps\n")
    print(table(rows, device.type == "cuda"))


if __name__ == "__main__":
    main()
