"""The conformance suite every variant must pass, importable by plugin authors.

Each check takes a variant class and a temporary folder, uses the variant's
``tiny_config()`` and runs on CPU in seconds. In pytest::

    import pytest
    from . import testing

    @pytest.mark.parametrize("check", testing.CHECKS, ids=lambda c: c.__name__)
    def test_my_variant(check, tmp_path):
        check(MyVariant, tmp_path)

ganzoo's own suite runs every check over every registered variant, and trains every one under
two processes (``launch_data_parallel``; ``check_trains_data_parallel`` for one plugin).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import torch
from PIL import Image

from .images import to_pil
from .training import CHECKPOINT, TrainSettings, setup_training, train, write_samples
from .variant import ImageInput, Model, Seed, Variant
from .weights import load_folder, save_weights

RESERVED_INPUT_NAMES = {"weights", "device", "out", "output", "out_dir", "variant", "help"}


def make_image_folder(root: Path, size: int, channels: int, classes=("first", "second"), per_class: int = 6,
                      seed: int = 0) -> Path:
    """Random PNG images in one sub-folder per class: a dataset any variant can load."""
    generator = torch.Generator().manual_seed(seed)
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image = torch.rand(channels, size, size, generator=generator) * 2 - 1
            to_pil(image).save(root / name / f"{i}.png")
    return root


def tiny_sources(variant, tmp_path: Path) -> dict[str, str]:
    """One small image folder per data role of the variant."""
    config = variant.config
    size, channels = getattr(config, "image_size", 16), getattr(config, "channels", 3)
    return {role.name: str(make_image_folder(Path(tmp_path) / f"data-{role.name}", size, channels, seed=i))
            for i, role in enumerate(variant.data_roles)}


def tiny_settings(**overrides) -> TrainSettings:
    values = dict(steps=2, batch_size=4, seed=0, device="cpu", sample_every=10_000, checkpoint_every=10_000)
    return TrainSettings(**{**values, **overrides})


def test_image(size: int = 20, mode: str = "RGB", seed: int = 0) -> Image.Image:
    """A small non-square image with structure, for variants that take an image."""
    generator = torch.Generator().manual_seed(seed)
    image = to_pil(torch.rand(3, size, size + 6, generator=generator) * 2 - 1)
    return image.convert(mode)


def input_values(variant) -> dict:
    """Each input's default, small counts, and a synthetic picture for image inputs."""
    values = {}
    for spec in variant.inputs():
        if isinstance(spec, ImageInput):
            values[spec.name] = test_image(seed=len(values))
        elif spec.name == "n":
            values[spec.name] = 3
        else:
            values[spec.name] = spec.default
    return values


def tiny_context(variant_class, tmp_path: Path, **settings):
    """A training context of the variant's tiny config on small random image folders."""
    variant = variant_class(variant_class.tiny_config())
    ctx, _ = setup_training(variant, tiny_sources(variant, tmp_path), tiny_settings(**settings))
    return ctx


def trained_context(variant_class, tmp_path: Path, steps: int = 2):
    ctx = tiny_context(variant_class, tmp_path)
    losses = [ctx.variant.train_step(ctx) for _ in range(steps)]
    ctx.step = steps
    return ctx, losses


def resume_differences(variant_class, tmp_path: Path, steps: int = 4, **settings) -> list[str]:
    """Train ``steps`` steps straight, and ``steps // 2`` steps, stop, resume to ``steps``, with
    ``tiny_settings(**settings)``; what differs between the two runs (empty: the resumed run is
    exact). Compared bit for bit: every tensor and value of the checkpoints (networks, the
    moving average, optimisers, the variant's state, RNGs, data positions), the published
    weights, the best weights and the log (less its timings)."""
    tmp_path = Path(tmp_path)
    variant = variant_class(variant_class.tiny_config())
    sources = tiny_sources(variant, tmp_path)
    run_settings = tiny_settings(**{"steps": steps, "seed": 3, "diversity_every": 1, **settings})
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train(variant_class(variant_class.tiny_config()), sources, straight, run_settings, show_progress=False)
    first = train(variant_class(variant_class.tiny_config()), sources, resumed, run_settings, show_progress=False,
                  stop_after=steps // 2)
    assert first.step == steps // 2 and not first.finished
    train(variant_class(variant_class.tiny_config()), sources, resumed, run_settings, show_progress=False, resume=True)
    differences = _differences(torch.load(straight / CHECKPOINT, weights_only=True),
                               torch.load(resumed / CHECKPOINT, weights_only=True), "checkpoint")
    for folder in ("", "best"):
        if (straight / folder / "config.json").exists() != (resumed / folder / "config.json").exists():
            differences.append(f"{folder or 'the run folder'}: weights in one run only")
        elif (straight / folder / "config.json").exists():
            differences += _differences(_weights(straight / folder), _weights(resumed / folder), folder or "weights")
    if (straight / "best").exists() and _json(straight / "best" / "best.json") != _json(resumed / "best" / "best.json"):
        differences.append("best/best.json")
    if _log(straight) != _log(resumed):
        differences.append("metrics.jsonl")
    return differences


def _weights(folder: Path) -> dict:
    """A weights folder's tensors and config (less the file's hash: safetensors writes its
    metadata in no fixed order, so equal tensors can make different bytes)."""
    from safetensors.torch import load_file

    config = {k: v for k, v in _json(folder / "config.json").items() if k != "sha256"}
    return {"config": config, "tensors": load_file(folder / "model.safetensors")}


def _json(path: Path):
    return json.loads(path.read_text())


def _differences(a, b, where: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{where}: keys {sorted(map(str, set(a) ^ set(b)))}"]
        return [d for key in a for d in _differences(a[key], b[key], f"{where}.{key}")]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f"{where}: {len(a)} items against {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _differences(x, y, f"{where}[{i}]")]
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        same = a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
        return [] if same else [where]
    return [] if type(a) is type(b) and a == b else [where]


def _log(run: Path) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "steps_per_s"} for line in lines]


def model_from_context(ctx) -> Model:
    nets = {name: ctx.nets[name].eval() for name in ctx.variant.inference_networks}
    return Model(ctx.variant, nets, ctx.device, "in memory")


def _as_bytes(images) -> list[bytes]:
    return [image.tobytes() for image in images]


# --------------------------------------------------------------------------- checks


def check_declares_contract(variant_class, tmp_path):
    """Name, title, paper, a config dataclass with a tiny config, sane input names."""
    for attribute in ("name", "title", "paper", "Config"):
        assert getattr(variant_class, attribute, None), f"{variant_class.__name__} lacks `{attribute}`"
    assert variant_class.name == variant_class.name.lower() and " " not in variant_class.name
    variant = variant_class(variant_class.tiny_config())
    names = [spec.name for spec in variant.inputs()]
    assert len(names) == len(set(names)), f"duplicate input names: {names}"
    assert not RESERVED_INPUT_NAMES & set(names), f"inputs use reserved names: {RESERVED_INPUT_NAMES & set(names)}"
    assert set(variant.inference_networks) <= set(variant.build_networks())


def check_training_changes_every_parameter(variant_class, tmp_path):
    """A few training steps give finite losses and move every trainable parameter."""
    _check_two_steps_train_everything(tiny_context(variant_class, tmp_path), tmp_path)


def _check_two_steps_train_everything(ctx, tmp_path):
    variant = ctx.variant
    before = {f"{n}.{k}": p.detach().clone() for n, net in ctx.nets.items()
              for k, p in net.named_parameters() if p.requires_grad}
    for _ in range(2):
        losses = variant.train_step(ctx)
        assert losses, "train_step must return the losses it computed"
        for key, value in losses.items():
            assert math.isfinite(float(value)), f"loss {key} is {value}"
    after = {f"{n}.{k}": p.detach() for n, net in ctx.nets.items() for k, p in net.named_parameters()}
    unchanged = [k for k, v in before.items() if torch.equal(v, after[k])]
    assert not unchanged, f"parameters not updated by training: {unchanged}"
    ctx.step = 2
    path = write_samples(Path(tmp_path) / "run", variant, ctx, {r: s.fixed(4) for r, s in ctx.streams.items()})
    assert Image.open(path).size[0] > 0


def check_save_load_gives_identical_outputs(variant_class, tmp_path):
    ctx, _ = trained_context(variant_class, tmp_path)
    original = model_from_context(ctx)
    save_weights(Path(tmp_path) / "weights", ctx.variant, ctx.nets)
    loaded = load_folder(Path(tmp_path) / "weights", "cpu", variant_class)
    values = input_values(ctx.variant)
    assert _as_bytes(original.generate(**values).images) == _as_bytes(loaded.generate(**values).images)


def check_same_seed_same_images(variant_class, tmp_path):
    ctx, _ = trained_context(variant_class, tmp_path)
    model = model_from_context(ctx)
    values = input_values(ctx.variant)
    first = _as_bytes(model.generate(**values).images)
    assert first == _as_bytes(model.generate(**values).images), "the same inputs gave different images"
    if any(isinstance(spec, Seed) for spec in ctx.variant.inputs()):
        other = _as_bytes(model.generate(**{**values, "seed": values["seed"] + 1}).images)
        assert other != first, "a different seed gave the same images"


def check_outputs_are_images_of_declared_size(variant_class, tmp_path):
    ctx, _ = trained_context(variant_class, tmp_path)
    values = input_values(ctx.variant)
    result = model_from_context(ctx).generate(**values)
    assert result.images, "generate returned no images"
    expected = ctx.variant.output_size(values)
    for image in result.images:
        assert isinstance(image, Image.Image)
        assert image.mode in ("L", "RGB"), image.mode
        assert image.size == tuple(expected), f"image of size {image.size}, declared {expected}"
    if result.captions is not None:
        assert len(result.captions) == len(result.images)
    assert result.grid().size[0] >= expected[0]


def check_resume_is_exact(variant_class, tmp_path):
    """4 steps straight equal 2 steps, a stop and a resume to 4, bit for bit (``resume_differences``);
    with the variant's own state (CycleGAN's image pool, BEGAN's k) in the checkpoint."""
    differences = resume_differences(variant_class, tmp_path)
    assert not differences, f"a resumed run differs from an uninterrupted one in: {differences[:8]}"


def check_resume_is_exact_with_ema(variant_class, tmp_path):
    """The same with --ema-decay: the moving average resumes exactly too."""
    differences = resume_differences(variant_class, tmp_path, ema_decay=0.9)
    assert not differences, f"with --ema-decay, a resumed run differs in: {differences[:8]}"


def check_resume_is_exact_with_evaluation(variant_class, tmp_path):
    """The same with --eval-every (the judge scores every step, the best weights are kept),
    for variants that say how to evaluate them."""
    if variant_class.evaluation_batches is Variant.evaluation_batches:
        return  # not scored by the judge: --eval-every is refused for it
    differences = resume_differences(variant_class, tmp_path, eval_every=1, eval_samples=16)
    assert not differences, f"with --eval-every, a resumed run differs in: {differences[:8]}"


def check_diffaugment_trains_and_resumes_exactly(variant_class, tmp_path):
    """With --diffaugment color,translation,cutout, for variants that augment a network
    (``augmented_networks``): two steps still move every parameter, and a resumed run is exact."""
    from .augment import FULL_POLICY, augmented_network_names

    variant = variant_class(variant_class.tiny_config())
    if not augmented_network_names(variant, variant.build_networks()):
        return  # --diffaugment is refused for it
    _check_two_steps_train_everything(tiny_context(variant_class, tmp_path, diffaugment=FULL_POLICY), tmp_path)
    differences = resume_differences(variant_class, Path(tmp_path) / "resume", diffaugment=FULL_POLICY)
    assert not differences, f"with --diffaugment, a resumed run differs in: {differences[:8]}"


CHECKS = (
    check_declares_contract,
    check_training_changes_every_parameter,
    check_save_load_gives_identical_outputs,
    check_same_seed_same_images,
    check_outputs_are_images_of_declared_size,
    check_resume_is_exact,
    check_resume_is_exact_with_ema,
    check_resume_is_exact_with_evaluation,
    check_diffaugment_trains_and_resumes_exactly,
)


def run_all(variant_class, tmp_path) -> None:
    """Every check in order, each in its own sub-folder of ``tmp_path``."""
    for check in CHECKS:
        folder = Path(tmp_path) / check.__name__
        folder.mkdir(parents=True, exist_ok=True)
        check(variant_class, folder)


# --------------------------------------------------------------------------- data-parallel runs


def launch_data_parallel(jobs: list[dict], folder: Path, processes: int = 2, env: dict | None = None,
                         timeout: float = 600) -> list[dict]:
    """Run ``jobs`` one after the other under ``processes`` gloo processes on this machine's
    loopback, in one torchrun launch (starting processes costs seconds; a job costs little).

    A job is a dict: ``variant`` (a registered name), ``sources``, ``out``, ``settings`` (of
    ``TrainSettings``), and optionally ``config`` (fields over the variant's tiny config),
    ``resume``, ``stop_after``. Returns, per job, rank 0's result: ``step``, ``finished``,
    ``signal``, the ``warnings`` it gave, ``diverged``: the networks whose parameters differ
    between the processes at the end (none, if every gradient was averaged), and ``writes``:
    files that ranks other than 0 wrote or made in the job's run folder (none, if rank 0 alone
    writes). ``env`` adds to the processes' environment (PYTHONPATH for a plugin installed only
    there)."""
    import os
    import subprocess
    import sys

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    spec = folder / "jobs.json"
    spec.write_text(json.dumps(jobs))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
               "--local-addr", "127.0.0.1", "-m", "ganzoo.testing", str(spec)]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo", **(env or {})}
    done = subprocess.run(command, cwd=folder, env=environment, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"the data-parallel launch failed with status {done.returncode}:\n"
                             f"{done.stdout[-3000:]}\n{done.stderr[-6000:]}")
    results = _json(folder / "results.json")
    for rank in range(1, processes):
        for result, writes in zip(results, _json(folder / f"writes-rank{rank}.json")):
            result.setdefault("writes", []).extend(writes)
    return results


def data_parallel_job(variant_class, tmp_path, **settings) -> dict:
    """A job for ``launch_data_parallel``: the tiny config for two steps (``tiny_settings``
    changed by ``settings``) on tiny data made in ``tmp_path``, into ``tmp_path/run``."""
    variant = variant_class(variant_class.tiny_config())
    return {"variant": variant_class.name, "sources": tiny_sources(variant, tmp_path),
            "out": str(Path(tmp_path) / "run"), "settings": dataclasses.asdict(tiny_settings(**settings))}


def check_data_parallel_result(result: dict, steps: int = 2) -> None:
    """A job of ``launch_data_parallel`` finished, with the networks alike on every process
    (each gradient was averaged) and nothing written but by rank 0."""
    assert result["step"] == steps and result["finished"], result
    assert not result["diverged"], f"networks that differ between the processes: {result['diverged']}"
    assert not result["writes"], f"ranks other than 0 wrote: {result['writes'][:5]}"


def check_trains_data_parallel(variant_class, tmp_path, processes: int = 2) -> None:
    """Two steps of the tiny config under ``processes`` gloo processes (``check_data_parallel_result``).
    Not in ``CHECKS``: it starts processes (seconds), which find the variant by its registered
    name, so the plugin must be installed."""
    (result,) = launch_data_parallel([data_parallel_job(variant_class, tmp_path)], Path(tmp_path) / "launch",
                                     processes)
    check_data_parallel_result(result)


def _run_jobs(spec: Path) -> None:
    """The processes' side of ``launch_data_parallel``."""
    import sys
    import warnings

    from . import distributed
    from .registry import get_variant

    torch.set_num_threads(1)
    jobs = _json(spec)
    results, writes = [], []
    with distributed.session("cpu") as world:
        for job in jobs:
            variant_class = get_variant(job["variant"])
            config = variant_class.config_from_dict({**dataclasses.asdict(variant_class.tiny_config()),
                                                     **job.get("config", {})})
            variant, seen = variant_class(config), []

            def train_step(ctx, step=variant.train_step, seen=seen):
                seen[:] = [ctx]  # to compare the networks of the processes afterwards
                return step(ctx)

            variant.train_step = train_step
            out = Path(job["out"])
            written: list[str] = []
            audit = _WriteAudit(out, written) if not world.is_main else None
            if audit:
                sys.addaudithook(audit)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                result = train(variant, job["sources"], out, TrainSettings(**job["settings"]),
                               resume=job.get("resume", False), show_progress=False, stop_after=job.get("stop_after"))
            if audit:
                audit.root = None  # audit hooks cannot be removed: this one stops looking
            parameters = {name: [p.detach().cpu() for p in net.parameters()]
                          for name, net in (seen[0].modules.items() if seen else ())}
            everyone = distributed.gather(parameters, world)
            if world.is_main:
                diverged = sorted({name for other in everyone[1:] for name, tensors in other.items()
                                   if not all(torch.equal(a, b) for a, b in zip(tensors, parameters[name]))})
                results.append({"step": result.step, "finished": result.finished, "signal": result.signal,
                                "warnings": [str(w.message) for w in caught], "diverged": diverged})
            writes.append(written)
    name = "results.json" if world.is_main else f"writes-rank{world.rank}.json"
    (spec.parent / name).write_text(json.dumps(results if world.is_main else writes))


class _WriteAudit:
    """An audit hook (``sys.addaudithook``) that notes every file opened for writing, made,
    renamed or removed under ``root``."""

    EVENTS = {"os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.truncate", "os.chmod"}

    def __init__(self, root: Path, found: list):
        import os

        self.root, self.found = os.path.join(os.path.abspath(root), ""), found

    def __call__(self, event: str, args: tuple) -> None:
        import os

        if self.root is None or not (event == "open" or event in self.EVENTS):
            return
        path = args[0]
        if event == "open":
            mode, flags = args[1], args[2]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
            if not writing:
                return
        if isinstance(path, (str, os.PathLike)) and os.path.join(os.path.abspath(path), "").startswith(self.root):
            self.found.append(f"{event} {os.fspath(path)}")


if __name__ == "__main__":  # python -m ganzoo.testing JOBS.json, under torchrun: see launch_data_parallel
    import sys

    _run_jobs(Path(sys.argv[1]))
