"""Reproduce the bundled default weights in plugins/weights/<variant>/ from ../shared/data.

    python scripts/train_defaults.py                 # every variant that ships weights
    python scripts/train_defaults.py dcgan cgan      # some of them
    python scripts/train_defaults.py --export-only   # re-export and re-measure finished runs

Each variant is trained with the project's own CLI (`ganzoo train`, fixed seed, CPU, the
judge scoring every few hundred steps); the best checkpoint by the judge is exported in
float16 where the outputs stay within FLOAT16_TOLERANCE of float32 (else float32), measured
with `ganzoo eval` on 10,000 samples, and described in a model card with the command, the
steps and the figures. Runs live in runs/defaults/ and resume if interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import torch

from ganzoo.hub import model_card
from ganzoo.registry import get_variant
from ganzoo.weights import load_folder, save_weights

ROOT = Path(__file__).resolve().parent.parent

SHARED = ROOT.parent / "shared" / "data"
MNIST = str(SHARED / "mnist")
UCI = str(SHARED / "uci-digits" / "digits.csv.gz")
RUNS = ROOT / "runs" / "defaults"
FLOAT16_TOLERANCE = 2 / 255  # largest pixel difference allowed, on the [-1, 1] scale: one grey level

# variant -> (data flags, config flags, training flags). Sized for a 2-core CPU.
RECIPES = {
    # One extra 3x3 layer per network: judge IS 7.06-7.23 at 2,500 steps (two runs) against 6.72 without (and
    # 7.01 at 5,000, the same CPU time); by 6,500 steps it matched 25,000 steps without.
    "dcgan": (["--data", MNIST], ["--extra-layers", "1"], ["--steps", "20000"]),
    "wgan_gp": (["--data", MNIST], [], ["--steps", "18000"]),
    "cgan": (["--data", MNIST], [], ["--steps", "5000"]),
    "lsgan": (["--data", MNIST], ["--width", "32"], ["--steps", "2000"]),
    "wgan": (["--data", MNIST], ["--width", "32"], ["--steps", "1500"]),
    "gan": (["--data", MNIST], [], ["--steps", "3000"]),
    # BEGAN: the paper's batch of 16 and gamma 0.75. Alone it collapses onto 1s on MNIST (README); EBGAN's
    # pulling-away term keeps a batch varied, squared error (the paper's eta 2) lets the auto-encoder learn
    # in hundreds of steps rather than thousands, and a faster k_t gain follows the smaller loss scale.
    "began": (["--data", MNIST],
              ["--width", "32", "--gamma", "0.75", "--norm", "2", "--lambda-k", "0.01", "--pull-away", "0.1",
               "--lr", "2e-4"],
              ["--steps", "22000", "--batch-size", "16"]),
    # 28 px: MNIST's own size, and UCI's 8x8 digits framed as MNIST's (ganzoo.data); 3 residual
    # blocks keep both generators at 4.3 MB in float16. A one-layer PatchGAN judges 16x16
    # patches: stroke style, not whole digits, so the generators restyle rather than redraw.
    "cyclegan": (["--data", UCI, "--data-b", MNIST],
                 ["--image-size", "28", "--channels", "1", "--width", "32", "--n-blocks", "3", "--disc-layers", "1",
                  "--decay-start-step", "1000", "--decay-steps", "1000"],
                 ["--steps", "2000", "--batch-size", "8", "--eval-every", "250"]),
}
# Later stages, each started from the one before's last checkpoint (`ganzoo train --init-from`)
# in runs/defaults/<variant>-stage2, -stage3 ...; the last is the run exported. Noise from 20
# fixed clusters lets the generator send each cluster to one digit instead of drawing morphs at
# the borders between digits; the learning rate then decays to zero. Measured on the first
# stage's weights: DCGAN's judge IS 8.2 -> 9.05 within 2,500 steps (2,000 samples).
LATER_STAGES = {
    "dcgan": [(["--noise-clusters", "20", "--decay-start-step", "2000", "--decay-steps", "3000"], ["--steps", "5000"])],
    # WGAN-GP learns the clusters more slowly (its generator steps once per five critic steps):
    # a third stage of 2,000 steps took judge IS 8.89 -> 9.01 on 10,000 samples, FD 37 -> 34, and
    # a fourth, the same again, 9.04 and FD 30.
    "wgan_gp": [(["--noise-clusters", "20", "--decay-start-step", "2000", "--decay-steps", "2000"], ["--steps", "4000"]),
                (["--decay-start-step", "1000", "--decay-steps", "1000"], ["--steps", "2000"]),
                (["--decay-start-step", "1000", "--decay-steps", "1000"], ["--steps", "2000"])],
}
COMMON = ["--seed", "0", "--device", "cpu", "--batch-size", "64", "--eval-every", "500", "--eval-samples", "2000",
          "--sample-every", "500", "--checkpoint-every", "500"]
EVAL = {"cyclegan": ["--data", UCI]}


def ganzoo(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ganzoo", *args], cwd=ROOT, check=True, **kwargs)


def train_command(name: str) -> list[str]:
    data, config, training = RECIPES[name]
    # argparse keeps a flag's last value: a recipe's own flags override the common ones
    return ["train", name, *data, "--out", str(RUNS / name), *COMMON, *training, *config]


def stage_run(name: str, stage: int) -> Path:
    """The run folder of stage 1 (the recipe), 2, 3 ... (LATER_STAGES)."""
    return RUNS / name if stage == 1 else RUNS / f"{name}-stage{stage}"


def stage_command(name: str, stage: int) -> list[str]:
    """``ganzoo`` arguments of stage 1 (``train_command``) or of a later stage, which starts
    from the stage before."""
    if stage == 1:
        return train_command(name)
    config, training = LATER_STAGES[name][stage - 2]
    return ["train", name, "--init-from", str(stage_run(name, stage - 1)), "--out", str(stage_run(name, stage)),
            *COMMON, *training, *config]


def stage_count(name: str) -> int:
    return 1 + len(LATER_STAGES.get(name, []))


def train_or_resume(command: list[str]) -> None:
    # Resuming is exact, so a recipe's longer --steps continues a finished run to the same
    # result as training it straight.
    name, run = command[1], command[command.index("--out") + 1]
    steps = command[command.index("--steps"):][:2]
    resuming = (Path(run) / "checkpoints" / "last.pt").exists()
    ganzoo(*(["train", name, "--out", run, "--resume", *steps] if resuming else command), "--quiet",
           env={**os.environ, "PYTHONUNBUFFERED": "1"})


def export(name: str, run: Path) -> dict:
    source = run / "best" if (run / "best" / "model.safetensors").exists() else run
    model = load_folder(source)
    target = ROOT / "plugins" / "weights" / name
    save_weights(target, model.variant, model.nets, dtype=torch.float16)
    half = load_folder(target)
    error = _largest_difference(model, half)
    dtype = "float16"
    if error > FLOAT16_TOLERANCE:
        save_weights(target, model.variant, model.nets, dtype=torch.float32)
        dtype = "float32"
    return {"exported_from": str(source.relative_to(ROOT)), "dtype": dtype, "float16_max_pixel_error": error}


def _largest_difference(a, b) -> float:
    from ganzoo.testing import input_values

    values = input_values(a.variant)
    values.update({"n": 16} if "n" in values else {})
    with torch.no_grad():
        first, second = a.generate(**values).images, b.generate(**values).images
    return max(float((torch.tensor(list(x.tobytes())) - torch.tensor(list(y.tobytes()))).abs().max()) / 127.5
               for x, y in zip(first, second))


def measure(name: str) -> dict:
    target = ROOT / "plugins" / "weights" / name
    ganzoo("eval", name, "--weights", str(target), "--json", str(target / "eval.json"), *EVAL.get(name, []),
           "--device", "cpu")
    return json.loads((target / "eval.json").read_text())


def write_samples(name: str) -> None:
    """A grid from the exported weights, for the card; translators need an input image, so
    they get none (their run's samples/ show input and output side by side)."""
    from ganzoo.variant import ImageInput

    target = ROOT / "plugins" / "weights" / name
    variant_class = get_variant(name)
    (target / "samples.png").unlink(missing_ok=True)
    config = variant_class.config_from_dict(json.loads((target / "config.json").read_text())["config"])
    if not any(isinstance(i, ImageInput) for i in variant_class(config).inputs()):
        ganzoo("sample", name, "--weights", str(target), "--seed", "0", "-o", str(target / "samples.png"),
               "--device", "cpu")


def write_card(name: str, run: Path, figures: dict, exported: dict) -> None:
    target = ROOT / "plugins" / "weights" / name
    info = json.loads((target / "config.json").read_text())
    # no repo id: bundled weights are the variant's default, used with no --weights
    card = model_card(run, info, None, samples=(target / "samples.png").exists())
    best = json.loads((run / "best" / "best.json").read_text()) if (run / "best" / "best.json").exists() else None
    chosen = f"step {best['step']}, best by the judge's {best['metric']} during training" if best else "the last step"
    command = "python scripts/train_defaults.py " + name
    stages = [stage_command(name, stage) for stage in range(1, stage_count(name) + 1)]
    shown = ["# which runs: ganzoo " + shlex.join(stage).replace(str(ROOT) + "/", "").replace(str(ROOT.parent) + "/", "../")
             for stage in stages]
    if len(shown) > 1:
        shown = [f"# which runs, in {len(shown)} stages:", *[line.replace("# which runs: ", "#   ") for line in shown]]
    lines = [card, "## Reproduce", "", "```bash", command, *shown, "```", "",
             f"Exported from `{exported['exported_from']}` ({chosen}) in "
             f"{exported['dtype']} (largest pixel difference to float32: {exported['float16_max_pixel_error']:.4f}).",
             "", "## Quality, measured offline with the project's digit judge", "",
             "| figure | value |", "| --- | --- |"]
    lines += [f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |"
              for k, v in figures.items() if k not in ("variant", "weights")]
    (target / "README.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="*", default=list(RECIPES))
    parser.add_argument("--export-only", action="store_true")
    args = parser.parse_args()
    if not Path(MNIST).exists():
        sys.exit(f"needs the real data in {SHARED} (see shared/data/README.md)")
    for name in args.names:
        get_variant(name)  # an unknown name fails here, before any training
        for stage in range(1, stage_count(name) + 1):
            if not args.export_only:
                train_or_resume(stage_command(name, stage))
        run = stage_run(name, stage_count(name))  # the last stage is the one exported
        exported = export(name, run)
        write_samples(name)
        figures = measure(name)
        write_card(name, run, figures, exported)
        print(json.dumps({"variant": name, **exported, **figures}, indent=2))


if __name__ == "__main__":
    main()
