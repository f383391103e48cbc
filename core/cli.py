"""The ``ganzoo`` command line: list, train, sample, push, import.

Flags that belong to a variant are made from its declarations, so a plugin never writes
CLI code: ``train`` gets one flag per config field and per data role, ``sample`` one flag
per inference input.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
import warnings
from pathlib import Path

from . import __version__
from .errors import UserError

TRAIN_FLAGS = {"steps", "epochs", "batch_size", "seed", "device", "sample_every", "checkpoint_every",
               "resume", "init_from", "out", "data", "lr"}


# --------------------------------------------------------------------------- flag builders


def _config_flag(field: dataclasses.Field) -> str:
    name = field.name if field.name not in TRAIN_FLAGS - {"lr"} else f"config_{field.name}"
    return "--" + name.replace("_", "-")


def _none_or(kind):
    def parse(text: str):
        return None if text.lower() in ("none", "null", "") else kind(text)
    parse.__name__ = kind.__name__
    return parse


def _field_default(field: dataclasses.Field):
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def field_comments(config_class) -> dict[str, str]:
    """Each field's trailing ``# comment`` in the source of a config dataclass (and of its
    bases; a subclass's wins): what the built-in configs say a field means. Empty where the
    source cannot be read (an interactive session, a frozen app)."""
    import inspect

    comments = {}
    for klass in reversed(config_class.__mro__):
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        comments.update(_trailing_comments(source))
    return comments


def _trailing_comments(class_source: str) -> dict[str, str]:
    """``name: type = value  # comment`` statements of a class body -> {name: comment}."""
    import io
    import textwrap
    import tokenize

    found, depth, line = {}, 0, []  # line: the code and comment tokens of the current statement
    try:
        for token in tokenize.generate_tokens(io.StringIO(textwrap.dedent(class_source)).readline):
            if token.type == tokenize.INDENT:
                depth += 1
            elif token.type == tokenize.DEDENT:
                depth -= 1
            elif token.type == tokenize.NEWLINE:
                code = [t for t in line if t.type != tokenize.COMMENT]
                comments = [t.string.lstrip("#").strip() for t in line if t.type == tokenize.COMMENT]
                if depth == 1 and len(code) > 1 and code[0].type == tokenize.NAME and code[1].string == ":":
                    if any(comments):
                        found[code[0].string] = " ".join(c for c in comments if c)
                line = []
            elif token.type == tokenize.COMMENT and not line:
                continue  # a comment on a line of its own belongs to no field
            elif token.type not in (tokenize.NL, tokenize.ENDMARKER):
                line.append(token)
    except (tokenize.TokenError, SyntaxError):
        pass
    return found


def add_config_flags(parser: argparse.ArgumentParser, config_class) -> None:
    """One flag per config field; its help is the field's ``metadata["help"]``, else its
    trailing comment in the source, and always its default."""
    group = parser.add_argument_group(f"{config_class.__name__} fields (the variant's config)")
    hints = typing.get_type_hints(config_class)
    comments = field_comments(config_class)
    for field in dataclasses.fields(config_class):
        default, flag = _field_default(field), _config_flag(field)
        is_json = isinstance(default, (list, dict)) or typing.get_origin(hints.get(field.name)) in (list, dict)
        meaning = field.metadata.get("help") or comments.get(field.name, "")
        shown = ("JSON; " if is_json else "") + f"default: {default}"
        help_text = f"{meaning} ({shown})" if meaning else shown
        kwargs = dict(dest=f"config__{field.name}", default=None, help=help_text.replace("%", "%%"))
        if isinstance(default, bool):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
            continue
        kwargs["metavar"] = field.name.upper()
        if isinstance(default, tuple):
            # tuple[int, ...] takes any number of values (layer widths); tuple[float, float] exactly two
            variable = Ellipsis in typing.get_args(hints.get(field.name))
            group.add_argument(flag, nargs="+" if variable else len(default),
                               type=type(default[0]) if default else str, **kwargs)
        elif isinstance(default, (int, float)):
            group.add_argument(flag, type=type(default), **kwargs)
        elif is_json:
            group.add_argument(flag, type=json.loads, **kwargs)
        else:
            group.add_argument(flag, type=_none_or(str), **kwargs)


def slug(text: str) -> str:
    """A choice in a form that needs no quoting: lower case, each run of spaces and
    punctuation one hyphen (``any style (Gatys)`` -> ``any-style-gatys``)."""
    return "-".join("".join(c if c.isalnum() else " " for c in str(text).lower()).split())


def _choice_forms(choices) -> dict[str, str]:
    """The form to show for each choice: its slug, unless that is empty or another choice
    has the same slug; then its exact text."""
    choices = [str(c) for c in choices]
    slugs = [slug(c) for c in choices]
    return {c: s if s and slugs.count(s) == 1 else c for c, s in zip(choices, slugs)}


def _choice_type(choices):
    """Parses a choice given as its exact text or as its slug, and returns the exact text."""
    forms = _choice_forms(choices)
    by_form = {form: choice for choice, form in forms.items()}

    def choice(text: str) -> str:
        if text in forms:
            return text
        if slug(text) in by_form:
            return by_form[slug(text)]
        raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from {', '.join(by_form)})")
    return choice


def add_input_flags(parser: argparse.ArgumentParser, variant) -> None:
    from .variant import Choice, ImageInput, Slider

    group = parser.add_argument_group(f"{variant.name} inputs")
    for spec in variant.inputs():
        flags = ["-n", "--n"] if spec.name == "n" else ["--" + spec.name.replace("_", "-")]
        kwargs = dict(dest=f"input__{spec.name}", default=None, metavar=spec.name.upper())
        shown_default = spec.default
        details = []
        if isinstance(spec, ImageInput):
            kwargs["metavar"] = "IMAGE"
            details.append("an image file" + (", optional" if spec.optional else ""))
        elif isinstance(spec, Choice):
            forms = _choice_forms(spec.choices)
            kwargs.update(type=_choice_type(spec.choices), metavar="{" + ",".join(forms.values()) + "}")
            shown_default = forms.get(str(spec.default), spec.default)
        elif isinstance(spec, Slider):
            kwargs["type"] = int if spec.is_integer else float
            details.append(f"{spec.minimum:g} to {spec.maximum:g}")
        elif isinstance(spec.default, (int, float)):
            kwargs["type"] = type(spec.default)
        if shown_default is not None:
            details.append(f"default: {shown_default}")
        help_text = f"{spec.label}. {spec.help}" + (f" ({'; '.join(details)})" if details else "")
        group.add_argument(*flags, help=help_text.replace("%", "%%"), **kwargs)


# --------------------------------------------------------------------------- parser


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    """The parser for ``argv``. Plugins are loaded only when ``argv`` names a variant whose
    flags ``train`` or ``sample`` need; ``ganzoo --help`` imports no plugin and no torch."""
    parser = argparse.ArgumentParser(prog="ganzoo", description="Train, sample and share GANs.")
    parser.add_argument("--version", action="version", version=f"ganzoo {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("list", help="list the registered variants")

    # The variant-specific flags need the variant: peek at the word after the command.
    command = argv[0] if argv else None
    variant_name = argv[1] if len(argv) > 1 and not argv[1].startswith("-") else None
    variant_class = None
    if command in ("train", "sample") and variant_name:
        from .registry import get_variant

        variant_class = get_variant(variant_name)
    variant_help = "a variant's name (`ganzoo list` shows them)"

    train = commands.add_parser("train", help="train a variant on a dataset")
    train.add_argument("variant", metavar="VARIANT", help=variant_help)
    train.add_argument("--out", required=True, type=Path, help="run folder (checkpoints, samples, metrics)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    train.add_argument("--init-from", type=Path, metavar="RUN",
                       help="start a new run from RUN's last checkpoint (networks and optimisers) to fine-tune it "
                            "or train a second stage: RUN's config and data, changed by any flags given here")
    train.add_argument("--steps", type=int, help="generator steps (default 1000 unless --epochs)")
    train.add_argument("--epochs", type=float, help="passes over --data")
    train.add_argument("--batch-size", type=int, default=None,
                       help="default: the variant's (64 for most); under torchrun the batch of all processes together")
    train.add_argument("--seed", type=int, default=None, help="default 0")
    train.add_argument("--device", default=None, help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:1 ...")
    train.add_argument("--sample-every", type=int, default=None,
                       help="write a sample grid every N steps (500; 0: only at the end)")
    train.add_argument("--checkpoint-every", type=int, default=None, help="checkpoint every N steps (500)")
    train.add_argument("--eval-every", type=int, default=None,
                       help="score with the judge (digits for grey images, emoji for colour) every N steps and "
                            "keep the best weights in OUT/best")
    train.add_argument("--eval-samples", type=int, default=None, help="images per evaluation (2000)")
    train.add_argument("--diversity-every", type=int, default=None,
                       help="log the samples' diversity (mode-collapse watch) every N steps (50; 0: off)")
    train.add_argument("--ema-decay", type=float, default=None,
                       help="publish an exponential moving average of the generator's weights, which "
                            "draws cleaner images (0.999 is usual; default 0: off)")
    train.add_argument("--diffaugment", metavar="POLICY", default=None,
                       help="augment every image the discriminator sees, real and generated, with gradients "
                            "(DiffAugment, for small datasets): color, translation, cutout, comma-separated; "
                            "color,translation,cutout is the paper's choice for a few thousand images (default: off)")
    train.add_argument("--log-every", type=int, default=None, metavar="N",
                       help="bring the losses from the device, log and check them every N steps "
                            "(default: 1 on CPU, 50 on GPUs, which waiting for them would stall)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    if variant_class is not None:
        for role in variant_class.data_roles:
            train.add_argument(role.flag, dest=f"data__{role.name}", metavar="DATA", help=role.help)
        add_config_flags(train, variant_class.Config)

    sample = commands.add_parser("sample", help="generate images with a variant")
    sample.add_argument("variant", metavar="VARIANT", help=variant_help)
    sample.add_argument("--weights", help="a run or weights folder, one of the variant's models by name "
                                          "(`ganzoo list`; 'MNIST digits' or mnist-digits), or a Hub repo "
                                          "id[@revision], tried in that order (default: the variant's default weights)")
    sample.add_argument("-o", "--output", type=Path, help="write one image grid here (default grid.png)")
    sample.add_argument("--out-dir", type=Path, help="write each image as its own PNG here instead "
                                                     "(one sub-folder per class when images have labels)")
    sample.add_argument("--device", default="auto", help="auto (the default: cuda, then mps, then cpu), cpu, cuda ...")
    if variant_class is not None:
        from .weights import config_without_network

        add_input_flags(sample, variant_class(config_without_network(variant_class, _peek(argv, "--weights"))))
        from .variant import NoiseToImage

        if issubclass(variant_class, NoiseToImage):
            walk = sample.add_argument_group("latent walk")
            walk.add_argument("--interpolate", nargs=2, type=int, metavar=("SEED_A", "SEED_B"),
                              help="write an animation (-o walk.webp or .gif) walking from SEED_A's image to "
                                   "SEED_B's by spherical interpolation of their noise, instead of a grid")
            walk.add_argument("--frames", type=int, help="frames of the walk, both ends included (2 to 120; default 32)")

    push = commands.add_parser("push", help="publish a run's weights to the Hugging Face Hub")
    push.add_argument("run", type=Path, help="the run folder written by `ganzoo train`")
    push.add_argument("--repo-id", required=True, help="user/name on the Hub")
    push.add_argument("--branch", help="upload to this branch (default main)")
    push.add_argument("--private", action="store_true")
    push.add_argument("--token", help="Hub token (default: the one from `hf auth login` or HF_TOKEN)")

    evaluate = commands.add_parser("eval", help="measure a model's quality with a judge (digits or emoji) offline")
    evaluate.add_argument("variant", metavar="VARIANT", help=variant_help)
    evaluate.add_argument("--weights", help="as for sample (default: the variant's default weights)")
    evaluate.add_argument("-n", "--samples", type=int, default=10_000, help="generated images (10000)")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--real", default=None, metavar="DATA",
                          help="real images to compare with: 'mnist' or 'emoji' (the default: the judge's own) use "
                               "the statistics of the MNIST or emoji test split that ship with the judge; or a "
                               "folder, IDX folder or CSV of real images, also the held-out images of --train-data")
    evaluate.add_argument("--judge", choices=("digits", "emoji"), default=None,
                          help="the judge: digits (28x28 grey) or emoji (nine categories, colour); default: emoji "
                               "for a model of colour images, digits for grey ones")
    evaluate.add_argument("--train-data", metavar="DATA",
                          help="the model's training images: check whether generated images copy them (each one's "
                               "distance to its nearest training image, beside --real's images, or leave-one-out "
                               "on the training images where --real is a judge's statistics)")
    evaluate.add_argument("--data", help="input images for variants that translate (CycleGAN: UCI digits)")
    evaluate.add_argument("--paired-truth", metavar="DATA",
                          help="for variants that translate: a folder of the true translations of --data's images, "
                               "matched by file name (emoji: --data twemoji/test --paired-truth noto/test); adds "
                               "L1 and PSNR against them, beside the untranslated input's (identity baseline)")
    evaluate.add_argument("--direction", metavar="DIRECTION",
                          help="for variants that translate both ways: which way to measure (CycleGAN: a2b, the "
                               "default, or b2a, which translates --data from domain B to A)")
    evaluate.add_argument("--device", default="auto")
    evaluate.add_argument("--json", type=Path, help="also write the figures here")
    evaluate.add_argument("--inception-weights", type=Path, default=None,
                          help="torchvision's Inception v3 weights file, for the usual FID as well "
                               "(default: $GANZOO_INCEPTION_WEIGHTS; unset: skipped)")

    importer = commands.add_parser("import", help="convert another project's checkpoint to ganzoo weights")
    importer.add_argument("variant", metavar="VARIANT", help=variant_help)
    importer.add_argument("path", type=Path, metavar="CHECKPOINT", help="the other project's checkpoint file")
    importer.add_argument("--out", required=True, type=Path, help="the ganzoo weights folder to write")
    return parser


def _peek(argv: list[str], flag: str) -> str | None:
    for i, word in enumerate(argv):
        if word == flag and i + 1 < len(argv):
            return argv[i + 1]
        if word.startswith(flag + "="):
            return word.split("=", 1)[1]
    return None


# --------------------------------------------------------------------------- commands


def cmd_list(args) -> None:
    from .models import models_of
    from .registry import conflicts, registry
    from .weights import describe_default

    rows = [(name, reg.variant.title, reg.plugin, describe_default(reg.variant),
             ", ".join(f'"{model}"' for model in models_of(reg.variant)) or "-") for name, reg in registry().items()]
    header = ("NAME", "TITLE", "PLUGIN", "DEFAULT WEIGHTS", "MODELS (--weights NAME)")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(5)]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())
    for conflict in conflicts():
        print(f"conflict: {conflict}")


def cmd_train(args) -> int:
    import signal

    from . import distributed
    from .registry import get_variant
    from .training import TrainingError, TrainSettings, read_run_info, train

    variant_class = get_variant(args.variant)
    overrides = {k.removeprefix("config__"): v for k, v in vars(args).items()
                 if k.startswith("config__") and v is not None}
    sources = {k.removeprefix("data__"): v for k, v in vars(args).items() if k.startswith("data__") and v}
    settings_given = {k: getattr(args, k) for k in ("steps", "epochs", "batch_size", "seed", "device",
                                                   "sample_every", "checkpoint_every", "eval_every", "eval_samples",
                                                   "diversity_every", "ema_decay", "diffaugment", "log_every")
                      if getattr(args, k) is not None}
    if args.resume and args.init_from:
        raise TrainingError("--resume continues the run in --out; --init-from starts a new one from another run: "
                            "give one of them")
    if args.resume:
        info = read_run_info(args.out)
        if info["variant"] != variant_class.name:
            raise TrainingError(f"{args.out} is a {info['variant']} run; resume it with "
                                f"`ganzoo train {info['variant']} --out {args.out} --resume`")
        if overrides:
            raise TrainingError("config fields cannot change when resuming (the checkpoint's networks were "
                                f"built from them): drop {', '.join('--' + k.replace('_', '-') for k in overrides)}, "
                                f"or start a new run from this one with --init-from {args.out}")
        config = variant_class.config_from_dict(info["config"])
        settings = TrainSettings(**{**info["settings"], **settings_given})
        sources = {**info["sources"], **sources}
    else:
        defaults = dataclasses.asdict(variant_class.Config())
        if args.init_from:
            info = read_run_info(args.init_from)
            if info["variant"] != variant_class.name:
                raise TrainingError(f"{args.init_from} is a {info['variant']} run, not {variant_class.name}")
            defaults, sources = {**defaults, **info["config"]}, {**info["sources"], **sources}
        config = variant_class.config_from_dict({**defaults, **overrides})
        settings = TrainSettings(**{"batch_size": variant_class.default_batch_size, **settings_given})
    # Under torchrun, every process runs this; the process group lasts until rank 0 has said how
    # the run ended, so no process exits (and makes torchrun stop the others) before that.
    with distributed.session(settings.device) as world:
        result = train(variant_class(config), sources, args.out, settings, resume=args.resume,
                       show_progress=not args.quiet, init_from=args.init_from)
        launcher = "torchrun ... -m ganzoo" if world.distributed else "ganzoo"
        if world.is_main and not result.finished:
            print(f"stopped at step {result.step} and saved a checkpoint; continue with: "
                  f"{launcher} train {variant_class.name} --out {result.out} --resume", flush=True)
        elif world.is_main:
            print(f"finished at step {result.step}; weights in {result.out} "
                  f"(sample with: ganzoo sample {variant_class.name} --weights {result.out})", flush=True)
        if world.distributed and not result.finished:
            # Everything is written. torchrun sends SIGTERM to the processes still exiting once one
            # has exited with 130 or 143: there is nothing left for it to stop.
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return result.exit_code  # 130 after Ctrl-C, 143 after SIGTERM: scripts can tell a stopped run


def _load_model(args):
    """The variant's model from --weights (or its default weights) on --device, saying which."""
    from .devices import pick_device
    from .registry import get_variant, load_variant_model

    model = load_variant_model(get_variant(args.variant), args.weights, pick_device(args.device))
    print(f"weights: {model.source}", file=sys.stderr)
    return model


def cmd_sample(args) -> None:
    from tqdm.auto import tqdm

    values = {k.removeprefix("input__"): v for k, v in vars(args).items()
              if k.startswith("input__") and v is not None}
    if getattr(args, "interpolate", None) or getattr(args, "frames", None) is not None:
        return sample_walk(args, values)
    model = _load_model(args)
    with tqdm(total=100, disable=not model.variant.inference_needs_grad, unit="%") as bar:
        def progress(fraction: float, description: str = "") -> None:
            bar.set_description(description)
            bar.update(round(fraction * 100) - bar.n)
        result = model.generate(progress=progress, **values)
    if args.out_dir:
        write_image_folder(args.out_dir, result, model, values)
        print(f"wrote {len(result.images)} images to {args.out_dir}")
    else:
        output = args.output or Path("grid.png")
        output.parent.mkdir(parents=True, exist_ok=True)
        (result.grid() if len(result.images) > 1 else result.images[0]).save(output)
        print(f"wrote {output}")


def sample_walk(args, values: dict) -> None:
    """``ganzoo sample VARIANT --interpolate A B``: the walk's frames as one animation."""
    from .images import ANIMATION_FORMATS, save_animation

    if not args.interpolate:
        raise UserError("--frames is the length of a walk: give the walk's ends with --interpolate SEED_A SEED_B")
    given = sorted({"seed", "n"} & set(values))
    if given or args.out_dir:
        flags = ", ".join(["--out-dir"] * bool(args.out_dir) + [f"--{name}" if name != "n" else "-n" for name in given])
        raise UserError(f"--interpolate writes one animation from its two seeds; leave out {flags}")
    output = args.output or Path("walk.webp")
    if output.suffix.lower() not in ANIMATION_FORMATS:
        raise UserError(f"-o {output}: a walk is written as an animated .webp or .gif")
    model = _load_model(args)
    frames = model.variant.walk(model, seed_a=args.interpolate[0], seed_b=args.interpolate[1], frames=args.frames,
                                **values)
    output.parent.mkdir(parents=True, exist_ok=True)
    save_animation(frames, output)
    print(f"wrote {output} ({len(frames)} frames)")


def write_image_folder(out_dir: Path, result, model, values: dict) -> None:
    """One PNG per image; with captions (class labels), one sub-folder per caption, which
    is the layout `--data` and torchvision's ImageFolder read back. A manifest records the
    weights and inputs that made them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for index, image in enumerate(result.images):
        folder = out_dir / _safe_name(result.captions[index]) if result.captions else out_dir
        folder.mkdir(exist_ok=True)
        path = folder / f"{index:05d}.png"
        image.save(path)
        files.append(str(path.relative_to(out_dir)))
    manifest = {
        "variant": model.variant.name,
        "ganzoo_version": __version__,
        "weights": model.source,
        "inputs": {k: (str(v) if not isinstance(v, (int, float, str, bool)) else v) for k, v in values.items()},
        "images": [{"file": f, **({"label": result.captions[i]} if result.captions else {})}
                   for i, f in enumerate(files)],
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))


def _safe_name(text: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_. " else "_" for c in str(text)).strip(". ")
    return cleaned or "_"


def cmd_push(args) -> None:
    from .hub import push

    repo_id = args.repo_id.removeprefix("hf://")  # the form --weights takes, accepted here too
    commit = push(args.run, repo_id, branch=args.branch, private=args.private, token=args.token)
    print(f"pushed {args.run} to {repo_id} (commit {commit}); load it with "
          f"--weights hf://{repo_id}@{commit}")


def cmd_eval(args) -> None:
    from .evaluation import evaluate, format_report
    from .inception import inception_weights_path

    _require(args.variant, "evaluation_batches", "cannot be scored by `ganzoo eval`")
    model = _load_model(args)
    if args.direction is not None:
        _check_direction(model, args.direction)
    paired = {}
    if args.paired_truth:  # first: a folder that does not pair fails before the long part
        from .paired import evaluate_paired

        if model.variant.evaluation_reference_role == "data":
            raise UserError(f"{model.variant.name} does not translate images; --paired-truth is for variants that do")
        if not args.data:
            raise UserError("--paired-truth needs --data: the images whose true translations it holds")
        paired = evaluate_paired(model, args.data, args.paired_truth, args.direction)
    figures = evaluate(model, args.real, args.samples, args.seed, args.data, model.device,
                       inception_weights_path(args.inception_weights), judge_name=args.judge,
                       train_source=args.train_data, direction=args.direction)
    figures.update(paired)
    print(format_report(model.variant.name, figures))
    if args.json:
        args.json.write_text(json.dumps({"variant": model.variant.name, "weights": model.source, **figures}, indent=2))


def _check_direction(model, direction: str) -> None:
    """``--direction`` must be one of the model's own: its ``direction`` input's choices."""
    offered = next((i.choices for i in model.variant.inputs() if i.name == "direction"), None)
    if offered is None:
        raise UserError(f"{model.variant.name} has no directions to choose from; leave out --direction")
    if direction not in offered:
        raise UserError(f"this {model.variant.name} model translates {' and '.join(offered)}, not {direction!r}: "
                        f"pass --direction {offered[0]}")
    if model.variant.evaluation_reference_role == "data":
        raise UserError(f"{model.variant.name} does not translate images; --direction is for variants that do")


def cmd_import(args) -> None:
    variant_class = _require(args.variant, "import_checkpoint", "cannot import checkpoints from other projects")
    if not args.path.exists():
        raise UserError(f"no file at {args.path}")
    out = variant_class.import_checkpoint(args.path, args.out)
    print(f"wrote ganzoo weights to {out}; use them with: ganzoo sample {variant_class.name} --weights {out}")


def _require(variant_name: str, method: str, otherwise: str) -> type:
    """The variant class, if it implements the optional ``method``; else a UserError that
    names the variants that do (the base class's version raises NotImplementedError, which
    would read as a bug)."""
    from .registry import get_variant, registry
    from .variant import Variant

    def provides(cls) -> bool:
        own, base = getattr(cls, method), getattr(Variant, method)
        return getattr(own, "__func__", own) is not getattr(base, "__func__", base)

    variant_class = get_variant(variant_name)
    if not provides(variant_class):
        able = sorted(name for name, reg in registry().items() if provides(reg.variant))
        raise UserError(f"{variant_class.name} {otherwise}; these variants can: {', '.join(able) or '(none)'}")
    return variant_class


COMMANDS = {"list": cmd_list, "train": cmd_train, "sample": cmd_sample, "push": cmd_push, "import": cmd_import,
            "eval": cmd_eval}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Warnings (random weights, a skipped plugin) read as one plain line on a terminal.
    formatwarning = warnings.formatwarning
    warnings.formatwarning = lambda message, category, *rest: f"ganzoo: warning: {message}\n"
    try:
        return _run(argv)
    finally:
        warnings.formatwarning = formatwarning


def _run(argv: list[str]) -> int:
    """A mistake the user can fix (UserError) is one line and exit status 2; anything else
    is a bug and keeps its traceback."""
    try:
        args = build_parser(argv).parse_args(argv)
        status = COMMANDS[args.command](args)
    except UserError as error:
        print(f"ganzoo: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ganzoo: interrupted", file=sys.stderr)
        return 130
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
