"""Reproduce the bundled models in plugins/weights/<model>/ from ../shared/data.

    python scripts/train_defaults.py                      # every bundled model
    python scripts/train_defaults.py dcgan cgan-emoji     # some of them (folder names)
    python scripts/train_defaults.py --export-only        # re-export and re-measure finished runs

A folder is named after the variant (its MNIST model, the default) or the variant and a
dataset (``dcgan-emoji``: the tab's "Emoji" model). Each is trained with the project's own CLI
(`ganzoo train`, fixed seed, CPU, the judge scoring every few hundred steps); the best
checkpoint by the judge is exported in float16 where the outputs stay within
FLOAT16_TOLERANCE of float32 (else float32), measured with `ganzoo eval`, and described in a
model card with the command, the steps and the figures. Runs live in runs/defaults/ and
resume if interrupted; resuming is exact, so a run that took several sittings gives what one
sitting would.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from ganzoo.hub import model_card
from ganzoo.registry import get_variant
from ganzoo.weights import load_folder, save_weights

ROOT = Path(__file__).resolve().parent.parent

SHARED = ROOT.parent / "shared" / "data"
MNIST = str(SHARED / "mnist")
UCI = str(SHARED / "uci-digits" / "digits.csv.gz")
# Relative to ROOT, where every command runs: model cards show the path as written.
EMOJI = "../shared/data/emoji"
TWEMOJI, NOTO = f"{EMOJI}/twemoji", f"{EMOJI}/noto"
RUNS = ROOT / "runs" / "defaults"
# Largest pixel difference allowed, on the [-1, 1] scale: 4 of 255 levels (1.6%), below what an eye
# sees. The MNIST models stayed within one level; the emoji DCGAN moved a pixel by 3 and would
# otherwise ship at twice the size (4.4 MB).
FLOAT16_TOLERANCE = 8 / 255


@dataclass(frozen=True)
class Recipe:
    """How one bundled model is made: ``ganzoo train VARIANT *data *COMMON *training *config``,
    then ``later_stages`` (each ``--init-from`` the stage before: (config, training) flags),
    then ``ganzoo eval`` with ``evaluation``'s flags; ``also_measured`` adds more evaluations
    to the card and eval.json (a CycleGAN's other direction), their figures prefixed."""
    variant: str
    model: str  # its name in the tab's model picker and to --weights
    data: tuple[str, ...]
    config: tuple[str, ...] = ()
    training: tuple[str, ...] = ()
    later_stages: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()
    evaluation: tuple[str, ...] = ()
    also_measured: tuple[tuple[str, tuple[str, ...]], ...] = ()
    export_last: bool = False  # export the run's last step, not its best by the judge (chosen by other figures)
    sample_pairs: tuple[str, str] | None = None  # a translator's grid: test images of domains A and B, paired by name


MNIST_DIGITS = "MNIST digits"
EMOJI_MODEL = "Emoji"
# Emoji figures are against the Twemoji test split (the style the models learn), with the
# memorisation check against the Twemoji training images.
EMOJI_EVAL = ("--real", f"{TWEMOJI}/test", "--train-data", f"{TWEMOJI}/train")

EMOJI_TRAINING = ("--diffaugment", "color,translation,cutout", "--ema-decay", "0.999", "--eval-samples", "1000")

RECIPES = {
    # One extra 3x3 layer per network: judge IS 7.06-7.23 at 2,500 steps (two runs) against 6.72 without (and
    # 7.01 at 5,000, the same CPU time); by 6,500 steps it matched 25,000 steps without.
    # Stage two: noise from 20 fixed clusters lets the generator send each cluster to one digit instead of
    # drawing morphs at the borders between digits; the learning rate then decays to zero. Measured on the
    # first stage's weights: DCGAN's judge IS 8.2 -> 9.05 within 2,500 steps (2,000 samples).
    "dcgan": Recipe("dcgan", MNIST_DIGITS, ("--data", MNIST), ("--extra-layers", "1"), ("--steps", "20000"),
                    later_stages=((("--noise-clusters", "20", "--decay-start-step", "2000", "--decay-steps", "3000"),
                                   ("--steps", "5000")),)),
    # WGAN-GP learns the clusters more slowly (its generator steps once per five critic steps):
    # a third stage of 2,000 steps took judge IS 8.89 -> 9.01 on 10,000 samples, FD 37 -> 34, and
    # a fourth, the same again, 9.04 and FD 30.
    "wgan_gp": Recipe("wgan_gp", MNIST_DIGITS, ("--data", MNIST), (), ("--steps", "18000"),
                      later_stages=((("--noise-clusters", "20", "--decay-start-step", "2000", "--decay-steps", "2000"),
                                     ("--steps", "4000")),
                                    (("--decay-start-step", "1000", "--decay-steps", "1000"), ("--steps", "2000")),
                                    (("--decay-start-step", "1000", "--decay-steps", "1000"), ("--steps", "2000")))),
    "cgan": Recipe("cgan", MNIST_DIGITS, ("--data", MNIST), (), ("--steps", "5000")),
    # The classics on a budget like DCGAN's (README, "A fair comparison"). LSGAN on DCGAN's own recipe: the
    # same networks (an extra layer) and the same second stage, in fewer steps (11,000 against 25,000).
    "lsgan": Recipe("lsgan", MNIST_DIGITS, ("--data", MNIST), ("--extra-layers", "1"), ("--steps", "8000"),
                    later_stages=((("--noise-clusters", "20", "--decay-start-step", "1000", "--decay-steps", "2000"),
                                   ("--steps", "3000", "--ema-decay", "0.999")),)),
    # History: trained to 8,000 steps, then resumed with --steps 16000.
    "wgan": Recipe("wgan", MNIST_DIGITS, ("--data", MNIST), ("--width", "32"),
                   ("--steps", "16000", "--ema-decay", "0.999")),
    # The MLP GAN: 25,000 steps, then DCGAN's second stage.
    "gan": Recipe("gan", MNIST_DIGITS, ("--data", MNIST), (), ("--steps", "25000", "--ema-decay", "0.999"),
                  later_stages=((("--noise-clusters", "20", "--decay-start-step", "2000", "--decay-steps", "3000"),
                                 ("--steps", "5000", "--ema-decay", "0.999")),)),
    # BEGAN: the paper's batch of 16 and gamma 0.75. Alone it collapses onto 1s on MNIST (README); EBGAN's
    # pulling-away term keeps a batch varied, squared error (the paper's eta 2) lets the auto-encoder learn
    # in hundreds of steps rather than thousands, and a faster k_t gain follows the smaller loss scale.
    "began": Recipe("began", MNIST_DIGITS, ("--data", MNIST),
                    ("--width", "32", "--gamma", "0.75", "--norm", "2", "--lambda-k", "0.01", "--pull-away", "0.1",
                     "--lr", "2e-4"),
                    ("--steps", "22000", "--batch-size", "16")),
    # 28 px: MNIST's own size, and UCI's 8x8 digits framed as MNIST's (ganzoo.data); 3 residual
    # blocks keep both generators at 4.3 MB in float16. A one-layer PatchGAN judges 16x16
    # patches: stroke style, not whole digits, so the generators restyle rather than redraw.
    "cyclegan": Recipe("cyclegan", "UCI digits to MNIST", ("--data", UCI, "--data-b", MNIST),
                       ("--image-size", "28", "--channels", "1", "--width", "32", "--n-blocks", "3",
                        "--disc-layers", "1", "--decay-start-step", "1000", "--decay-steps", "1000",
                        "--domain-names", "UCI digits", "MNIST"),
                       ("--steps", "2000", "--batch-size", "8", "--eval-every", "250"),
                       evaluation=("--data", UCI)),
    # ---- Emoji: 64x64 colour, trained on the 1,519 Twemoji of the train split ----------------------------
    # DiffAugment (colour, translation, cutout) on what the discriminator sees, and a moving average of the
    # generator (--ema-decay), which the judge scores and which ships. History: started with --steps 30000 and
    # stopped at 5,364, then resumed with --steps 10000 (resuming is exact, and nothing depends on the target).
    "dcgan-emoji": Recipe("dcgan", EMOJI_MODEL, ("--data", f"{TWEMOJI}/train"),
                          ("--image-size", "64", "--channels", "3", "--width", "32"),
                          ("--steps", "10000", *EMOJI_TRAINING, "--eval-every", "1000", "--checkpoint-every", "250"),
                          evaluation=EMOJI_EVAL),
    # Width 16: five critic steps with a gradient penalty per generator step make a step ~8x DCGAN's.
    "wgan_gp-emoji": Recipe("wgan_gp", EMOJI_MODEL, ("--data", f"{TWEMOJI}/train"),
                            ("--image-size", "64", "--channels", "3", "--width", "16"),
                            ("--steps", "2000", *EMOJI_TRAINING, "--eval-every", "250", "--checkpoint-every", "100"),
                            evaluation=EMOJI_EVAL),
    # AC-GAN's auxiliary classifier (cgan.py's docstring), then a second stage whose learning rate decays to
    # zero and whose classifier learns from real images only. Label accuracy on 1,000 samples: the label maps
    # (--conditioning concat) levelled off at 0.49-0.51 by step 6,000; the auxiliary classifier reached 0.56 by
    # step 4,000 and stayed there to 6,500 (0.54-0.56). A second stage keeping the paper's loss (classifying
    # generated images too) stayed at 0.52-0.55 to its step 1,000 and was stopped; without it, 0.58 at step 250
    # and 0.59-0.61 from 500 to 2,000.
    "cgan-emoji": Recipe("cgan", EMOJI_MODEL, ("--data", f"{TWEMOJI}/train"),
                         ("--image-size", "64", "--channels", "3", "--width", "32", "--conditioning", "auxiliary"),
                         ("--steps", "6500", *EMOJI_TRAINING, "--eval-every", "500", "--checkpoint-every", "250"),
                         later_stages=((("--no-classify-generated", "--decay-start-step", "0", "--decay-steps", "2000"),
                                        ("--steps", "2000", *EMOJI_TRAINING, "--eval-every", "250",
                                         "--checkpoint-every", "250")),),
                         evaluation=EMOJI_EVAL),
    # The other tabs' emoji models, on what CPU time was left: short runs, so a faster average (0.995).
    "lsgan-emoji": Recipe("lsgan", EMOJI_MODEL, ("--data", f"{TWEMOJI}/train"),
                          ("--image-size", "64", "--channels", "3", "--width", "32"),
                          ("--steps", "2000", *EMOJI_TRAINING, "--ema-decay", "0.995", "--eval-every", "250",
                           "--checkpoint-every", "100"),
                          evaluation=EMOJI_EVAL),
    "wgan-emoji": Recipe("wgan", EMOJI_MODEL, ("--data", f"{TWEMOJI}/train"),
                         ("--image-size", "64", "--channels", "3", "--width", "16"),
                         ("--steps", "1500", *EMOJI_TRAINING, "--ema-decay", "0.995", "--eval-every", "250",
                          "--checkpoint-every", "100"),
                         evaluation=EMOJI_EVAL),
    # 32 px: an MLP's last layer grows with the pixels (512 x 64 x 64 x 3 weights would be 12.6 MB in float16).
    "gan-emoji": Recipe("gan", EMOJI_MODEL, ("--data", f"{TWEMOJI}/train"),
                        ("--image-size", "32", "--channels", "3", "--generator-widths", "128", "256", "512"),
                        ("--steps", "6000", *EMOJI_TRAINING, "--ema-decay", "0.995", "--eval-every", "500",
                         "--checkpoint-every", "250"),
                        evaluation=EMOJI_EVAL),
    # BEGAN: MNIST's recipe (squared error, the pulling-away term, gamma 0.75) at 32 px, where its two 3x3
    # convolutions per scale cost a quarter of 64 px's; no DiffAugment (the auto-encoder reconstructs its input).
    # History: started with --steps 6000 and stopped at 3,087, the judge's FD flat (30.4-30.7) since step 2,000.
    # Thirteen changes meant to lift its memorisation ratio (0.81) were tried and dropped (README, "Emoji models"):
    # --hidden-dim 256, with --gamma 0.9, with --pull-away 0.5, --width 64, --norm 1, --pull-away 0.3, 1.0 or 2.0,
    # --batch-size 64, and two second stages (lr decay) from --pull-away 1.0. None had a ratio of 0.9 or more at an
    # FD below 35.5 (--pull-away 1.0 at step 2,000; shipping it would trade FD 28.7 for the target); every run
    # below that FD fell to 0.85 or less. --gamma 1.0 diverged; --norm 1 --gamma 0.5 --lambda-k 0.001 collapsed.
    "began-emoji": Recipe("began", EMOJI_MODEL, ("--data", f"{TWEMOJI}/train"),
                          ("--image-size", "32", "--channels", "3", "--width", "32", "--gamma", "0.75", "--norm", "2",
                           "--lambda-k", "0.01", "--pull-away", "0.1", "--lr", "2e-4"),
                          ("--steps", "3087", "--batch-size", "16", "--ema-decay", "0.999", "--eval-samples", "1000",
                           "--eval-every", "500", "--checkpoint-every", "250"),
                          evaluation=EMOJI_EVAL),
    # Twemoji <-> Noto, unpaired: the generators never see which Noto image is a Twemoji's own. Trained in
    # chunks of 500 steps with a snapshot after each; the exported step is the one whose translations of
    # the test split come closest to the true images in both directions (paired L1 and PSNR, README): a
    # near-identity mapping keeps every category, so the category kept cannot choose alone.
    "cyclegan-emoji": Recipe("cyclegan", EMOJI_MODEL, ("--data", f"{TWEMOJI}/train", "--data-b", f"{NOTO}/train"),
                             ("--image-size", "64", "--channels", "3", "--width", "32", "--n-blocks", "3",
                              "--disc-layers", "2", "--decay-start-step", "2000", "--decay-steps", "2000",
                              "--domain-names", "Twemoji", "Noto"),
                             ("--steps", "4000", "--batch-size", "4", "--eval-every", "500", "--eval-samples", "387",
                              "--checkpoint-every", "100"),
                             evaluation=("--data", f"{TWEMOJI}/test", "--paired-truth", f"{NOTO}/test",
                                         "--real", f"{NOTO}/test"),
                             also_measured=(("b2a_", ("--direction", "b2a", "--data", f"{NOTO}/test", "--paired-truth",
                                                      f"{TWEMOJI}/test", "--real", f"{TWEMOJI}/test")),),
                             export_last=True, sample_pairs=(f"{TWEMOJI}/test", f"{NOTO}/test")),
}
COMMON = ["--seed", "0", "--device", "cpu", "--batch-size", "64", "--eval-every", "500", "--eval-samples", "2000",
          "--sample-every", "500", "--checkpoint-every", "500"]


def ganzoo(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ganzoo", *args], cwd=ROOT, check=True, **kwargs)


def train_command(name: str) -> list[str]:
    recipe = RECIPES[name]
    # argparse keeps a flag's last value: a recipe's own flags override the common ones
    return ["train", recipe.variant, *recipe.data, "--out", str(RUNS / name), *COMMON, *recipe.training,
            *recipe.config]


def stage_run(name: str, stage: int) -> Path:
    """The run folder of stage 1 (the recipe), 2, 3 ... (``later_stages``)."""
    return RUNS / name if stage == 1 else RUNS / f"{name}-stage{stage}"


def stage_command(name: str, stage: int) -> list[str]:
    """``ganzoo`` arguments of stage 1 (``train_command``) or of a later stage, which starts
    from the stage before."""
    if stage == 1:
        return train_command(name)
    recipe = RECIPES[name]
    config, training = recipe.later_stages[stage - 2]
    return ["train", recipe.variant, "--init-from", str(stage_run(name, stage - 1)), "--out",
            str(stage_run(name, stage)), *COMMON, *training, *config]


def stage_count(name: str) -> int:
    return 1 + len(RECIPES[name].later_stages)


def train_or_resume(command: list[str]) -> None:
    # Resuming is exact, so a recipe's longer --steps continues a finished run to the same
    # result as training it straight.
    name, run = command[1], command[command.index("--out") + 1]
    steps = command[command.index("--steps"):][:2]
    resuming = (Path(run) / "checkpoints" / "last.pt").exists()
    ganzoo(*(["train", name, "--out", run, "--resume", *steps] if resuming else command), "--quiet",
           env={**os.environ, "PYTHONUNBUFFERED": "1"})


def export(name: str, run: Path) -> dict:
    best = run / "best"
    source = best if (best / "model.safetensors").exists() and not RECIPES[name].export_last else run
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
    """``ganzoo eval`` of the exported weights, then each of ``also_measured``, whose figures
    join eval.json under their prefix."""
    recipe = RECIPES[name]
    target = ROOT / "plugins" / "weights" / name
    figures = {}
    for prefix, flags in (("", recipe.evaluation), *recipe.also_measured):
        out = target / (f"eval-{prefix.rstrip('_')}.json" if prefix else "eval.json")
        ganzoo("eval", recipe.variant, "--weights", str(target), "--json", str(out), *flags, "--device", "cpu")
        figures.update({prefix + key: value for key, value in json.loads(out.read_text()).items()
                        if not (prefix and key in ("variant", "weights"))})
        if prefix:
            out.unlink()
    (target / "eval.json").write_text(json.dumps(figures, indent=2))
    return figures


def write_samples(name: str) -> None:
    """A grid from the exported weights, for the card; translators need input images, so they
    get one only from ``sample_pairs`` (their run's samples/ show input and output side by side)."""
    from ganzoo.variant import ImageInput

    recipe = RECIPES[name]
    target = ROOT / "plugins" / "weights" / name
    if recipe.sample_pairs:
        translation_grid(target, *recipe.sample_pairs)
        return
    variant_class = get_variant(recipe.variant)
    (target / "samples.png").unlink(missing_ok=True)
    config = variant_class.config_from_dict(json.loads((target / "config.json").read_text())["config"])
    if not any(isinstance(i, ImageInput) for i in variant_class(config).inputs()):
        ganzoo("sample", recipe.variant, "--weights", str(target), "--seed", "0", "-o", str(target / "samples.png"),
               "--device", "cpu")


def translation_grid(target: Path, inputs: str, truth: str, count: int = 10) -> None:
    """samples.png of a two-way translator: six rows of ``count`` test images, A, A translated to
    B, the true B; then B, B translated to A, the true A."""
    from torchvision.utils import save_image

    from ganzoo.paired import read_pairs

    model = load_folder(target)
    config = model.variant.config
    a, b = read_pairs(ROOT / inputs, ROOT / truth, config.image_size, config.channels)
    pick = torch.linspace(0, len(b) - 1, count).long()  # spread over the categories, which come in order
    real_a, real_b = a.images[pick].float() / 127.5 - 1, b[pick].float() / 127.5 - 1
    with torch.no_grad():
        rows = [real_a, model.nets["generator_ab"](real_a), real_b,
                real_b, model.nets["generator_ba"](real_b), real_a]
    save_image(torch.cat(rows), target / "samples.png", nrow=count, normalize=True, value_range=(-1, 1), padding=2,
               pad_value=1.0)


def write_card(name: str, run: Path, figures: dict, exported: dict) -> None:
    recipe = RECIPES[name]
    target = ROOT / "plugins" / "weights" / name
    info = json.loads((target / "config.json").read_text())
    # no repo id: bundled weights, the variant's default (no --weights) or one of its other models
    default = next(iter(get_variant(recipe.variant).bundled_models()), None)
    card = model_card(run, info, None, samples=(target / "samples.png").exists(),
                      model_name=None if recipe.model == default else recipe.model)
    best = json.loads((run / "best" / "best.json").read_text()) if (run / "best" / "best.json").exists() else None
    chosen = (f"step {best['step']}, best by the judge's {best['metric']} during training"
              if best and not recipe.export_last else "the last step")
    command = "python scripts/train_defaults.py " + name
    stages = [stage_command(name, stage) for stage in range(1, stage_count(name) + 1)]
    shown = ["# which runs: ganzoo " + shlex.join(stage).replace(str(ROOT) + "/", "").replace(str(ROOT.parent) + "/", "../")
             for stage in stages]
    if len(shown) > 1:
        shown = [f"# which runs, in {len(shown)} stages:", *[line.replace("# which runs: ", "#   ") for line in shown]]
    exported_step = best["step"] if best and not recipe.export_last else steps_of(stages[-1])
    lines = [card, "## Reproduce", "", "```bash", command, *shown, "```", "",
             f"Exported from `{exported['exported_from']}` ({chosen}) in "
             f"{exported['dtype']} (largest pixel difference to float32: {exported['float16_max_pixel_error']:.4f}).",
             *([] if len(stages) == 1 else ["", steps_in_all_stages(sum(map(steps_of, stages[:-1])) + exported_step)]),
             "", f"## Quality, measured offline with the project's {figures.get('judge', 'digits')} judge", "",
             "| figure | value |", "| --- | --- |"]
    lines += [f"| {k} | {_figure(v)} |" for k, v in figures.items() if k not in ("variant", "weights")]
    (target / "README.md").write_text("\n".join(lines) + "\n")


def steps_of(command: list[str]) -> int:
    return int(command[command.index("--steps") + 1])


def steps_in_all_stages(total: int) -> str:
    """The card's line the Compare tab reads (``ganzoo.compare_tab.budget``): a later stage's
    card counts only its own steps."""
    return f"- steps in all stages: {total} (the earlier stages' and this one's, to the exported step)"


def _figure(value) -> str:
    if isinstance(value, dict):  # by class
        return ", ".join(f"{k} {_figure(v)}" for k, v in value.items())
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="*", default=list(RECIPES), metavar="MODEL",
                        help=f"folders of plugins/weights to make: {', '.join(RECIPES)}")
    parser.add_argument("--export-only", action="store_true")
    parser.add_argument("--train-only", action="store_true", help="train (or resume) only; export nothing")
    args = parser.parse_args()
    if not Path(MNIST).exists():
        sys.exit(f"needs the real data in {SHARED} (see shared/data/README.md)")
    unknown = [name for name in args.names if name not in RECIPES]
    if unknown:  # before any training
        sys.exit(f"no recipe for {', '.join(unknown)}; choose from {', '.join(RECIPES)}")
    for name in args.names:
        for stage in range(1, stage_count(name) + 1):
            if not args.export_only:
                train_or_resume(stage_command(name, stage))
        if args.train_only:
            continue
        run = stage_run(name, stage_count(name))  # the last stage is the one exported
        exported = export(name, run)
        write_samples(name)
        figures = measure(name)
        write_card(name, run, figures, exported)
        print(json.dumps({"variant": name, **exported, **figures}, indent=2))


if __name__ == "__main__":
    main()
