"""The Hugging Face Hub: download a weights folder, publish a run.

Only the real huggingface_hub functions are used (``hf_hub_download``, ``create_repo``,
``upload_folder``), so the Hub endpoint is whatever ``HF_ENDPOINT`` says; the tests point it
at a small server on 127.0.0.1.
"""

from __future__ import annotations

import json
import shlex
import shutil
import tempfile
from pathlib import Path

from . import __version__
from .weights import CONFIG_FILE, PATH_PREFIXES, WEIGHTS_FILE, WeightsError, read_config

# Hub dataset ids of the dataset names that --data accepts, for model-card metadata.
HUB_DATASETS = {
    "mnist": "ylecun/mnist",
    "fashion-mnist": "zalando-datasets/fashion_mnist",
    "cifar10": "uoft-cs/cifar10",
    "cifar100": "uoft-cs/cifar100",
    "svhn": "ufldl-stanford/svhn",
}


def hub_reachable() -> bool:
    from huggingface_hub import constants

    return not constants.is_offline_mode()


def download_file(repo_id: str, filename: str, revision: str | None = None, *, purpose: str = "",
                  hint: str = "", error: type[Exception] = WeightsError) -> Path:
    """``hf_hub_download`` with each Hub failure turned into a message that says what went
    wrong and what to do (``purpose`` opens it, ``hint`` closes it)."""
    from huggingface_hub import errors, hf_hub_download

    where = f"{repo_id}@{revision}" if revision else repo_id
    opening = f"{purpose}: " if purpose else ""
    try:
        return Path(hf_hub_download(repo_id, filename, revision=revision))
    except errors.RevisionNotFoundError:
        message = f"revision {revision!r} not found in Hub repo {repo_id}; check the branch, tag or commit after '@'"
    except errors.RepositoryNotFoundError:
        message = (f"Hub repo {repo_id} not found. Check its name; if it is private or gated, log in with "
                   f"`hf auth login` or set HF_TOKEN")
    except errors.LocalEntryNotFoundError:
        message = (f"cannot download {filename} from {where}: the Hub cannot be reached (offline, or "
                   f"HF_HUB_OFFLINE=1) and no copy is cached")
    except errors.EntryNotFoundError:
        message = f"Hub repo {where} has no {filename}"
    except (errors.HfHubHTTPError, OSError) as failure:
        message = f"downloading {filename} from {where} failed ({failure})"
    raise error(f"{opening}{message}. {hint}".strip()) from None


def download_weights(repo_id: str, revision: str | None = None) -> tuple[Path, str]:
    """Download config.json and model.safetensors of one commit; return the local snapshot
    folder and the commit hash. Cached files are used without a download."""
    hint = (f"A ganzoo model holds {CONFIG_FILE} and {WEIGHTS_FILE} (`ganzoo push` publishes one); "
            f"without a network, connect once to cache it or pass --weights a local folder.")
    config_path = download_file(repo_id, CONFIG_FILE, revision, hint=hint)
    # The snapshot folder is named after the commit: take the weights from that same commit,
    # even if the branch moves between the two downloads.
    commit = config_path.parent.name
    weights_path = download_file(repo_id, WEIGHTS_FILE, commit, hint=hint)
    if weights_path.parent != config_path.parent:  # a cache laid out otherwise: copy together
        folder = Path(tempfile.mkdtemp(prefix="ganzoo-weights-"))
        shutil.copy(config_path, folder / CONFIG_FILE)
        shutil.copy(weights_path, folder / WEIGHTS_FILE)
        return folder, commit
    return config_path.parent, commit


# --------------------------------------------------------------------------- publishing


def _shown_source(source: str) -> str:
    """A data source as a card shows it: a local path by its last part, so a published card
    does not carry the trainer's folder layout (often their user name); other sources whole."""
    path = Path(str(source))
    return path.name if path.is_absolute() else str(source)


# Image sets whose licence asks for attribution: a folder name in a run's data path -> what a
# card must say of it (../shared/data/emoji/ATTRIBUTION.txt).
DATA_ATTRIBUTION = {
    "twemoji": "Twemoji, Copyright 2019 Twitter, Inc and other contributors (maintained by jdecked/twemoji), "
               "CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/); images from the npm package "
               "emoji-datasource-twitter 16.0.0 (https://github.com/iamcal/emoji-data)",
    "noto": "Noto Emoji, Copyright Google Inc. (https://github.com/googlefonts/noto-emoji), Apache License 2.0 "
            "(https://www.apache.org/licenses/LICENSE-2.0); images from the npm package emoji-datasource-google "
            "16.0.0 (https://github.com/iamcal/emoji-data)",
}


def data_attribution(sources: dict) -> list[str]:
    """The attribution lines owed to the image sets a run trained on, in DATA_ATTRIBUTION's order."""
    parts = {part.lower() for source in sources.values() for part in Path(str(source)).parts}
    return [text for name, text in DATA_ATTRIBUTION.items() if name in parts]


def sample_command(variant, repo_id: str | None, model_name: str | None = None) -> str:
    """The card's example: ``ganzoo sample`` with the flags the CLI makes from the variant's
    inputs (``ganzoo.cli.add_input_flags``): each number at its default, each required image as
    a file to give. Choices are left out (their default applies): their options can depend on
    the weights, which the CLI reads only after parsing (a trained style's name). Without a
    repo id (bundled weights) the command has no ``--weights``, or names ``model_name``, one of
    the models the variant ships beside its default."""
    from .cli import slug
    from .variant import Choice, ImageInput, Slider

    # A Hub repo as hf://, so that a local folder named like the user cannot take its place; a
    # local folder (the Train tab's download names ./NAME) stays as it is.
    weights = repo_id if not repo_id or repo_id.startswith(PATH_PREFIXES) else f"hf://{repo_id}"
    weights = weights or (slug(model_name) if model_name else None)
    words = ["ganzoo", "sample", variant.name, *(["--weights", weights] if weights else [])]
    for spec in variant.inputs():
        if spec.trailing:  # optional extras (truncation) stay at their defaults
            continue
        flag = "-n" if spec.name == "n" else "--" + spec.name.replace("_", "-")
        if isinstance(spec, ImageInput):
            words += [] if spec.optional else [flag, f"{spec.name}.png"]
        elif not isinstance(spec, Choice) and spec.default is not None:
            integer = isinstance(spec, Slider) and spec.is_integer
            words += [flag, str(int(spec.default) if integer else spec.default)]
    return shlex.join([*words, "-o", "out.png"])


def model_card(run: Path, info: dict, repo_id: str | None, samples: bool | None = None,
               model_name: str | None = None) -> str:
    """README.md for the Hub: YAML metadata, then how to use and how it was trained. ``repo_id``:
    the Hub repo the card is for, or None for the weights bundled with the plugin: the variant's
    default (the example command needs no --weights), or its model ``model_name``. ``samples``:
    whether a samples.png sits beside the card (default: whether the run has one)."""
    from huggingface_hub import ModelCardData

    from .cli import slug
    from .registry import get_variant

    variant_class = get_variant(info["variant"])
    run_info = json.loads((run / "run.json").read_text()) if (run / "run.json").exists() else {}
    sources = run_info.get("sources", {})
    steps = _trained_steps(run)
    datasets = sorted({HUB_DATASETS[key] for src in sources.values()
                       for key in HUB_DATASETS if key in Path(str(src)).name.lower()})
    variant = variant_class(variant_class.config_from_dict(info["config"]))
    data = ModelCardData(
        library_name="ganzoo",
        tags=["ganzoo", "gan", info["variant"], *variant_class.tags],
        datasets=datasets or None,
        pipeline_tag=variant_class.pipeline_tag,
        ganzoo_variant=info["variant"],
        ganzoo_version=__version__,
        training_steps=steps,
        **variant.card_metadata(),
    )
    settings = run_info.get("settings", {})
    heading = repo_id or (f"bundled model {model_name!r}" if model_name else "bundled default weights")
    lines = [
        "---", data.to_yaml(), "---", "",
        f"# {variant_class.title}: {heading}", "",
        f"A {variant_class.title} trained with [ganzoo](https://github.com/) "
        f"({variant_class.paper}).", "",
        "## Use", "",
        *([] if repo_id or model_name else ["These weights ship with the plugin and are the variant's default: "
                                            "`ganzoo sample` and the app use them when given no others.", ""]),
        *([f"These weights ship with the plugin as its model {model_name!r}: the tab's model picker offers "
           f"them, and `--weights {slug(model_name)}` names them.", ""] if model_name and not repo_id else []),
        "```bash", sample_command(variant, repo_id, None if repo_id else model_name), "```", "",
        "## Training", "",
        f"- steps: {steps if steps is not None else 'unknown'}",
        *[f"- data ({role}): `{_shown_source(src)}`" for role, src in sources.items()],
        *([f"- initialised from the run `{_shown_source(run_info['initialised_from'])}` (its networks and "
           f"optimisers; the steps above are this run's own)"] if run_info.get("initialised_from") else []),
        # the steps trained, above, not the settings' target (a stopped run never reached it)
        *[f"- {key}: {value}" for key, value in settings.items() if value is not None and key != "steps"],
        "", "Config:", "", "```json", json.dumps(info["config"], indent=2), "```", "",
    ]
    attribution = data_attribution(sources)
    if attribution:
        lines += ["## Data and licences", "", "Trained on images that ask to be credited:", "",
                  *[f"- {text}" for text in attribution], ""]
    if samples is None:
        samples = (run / "samples.png").exists()
    if samples:
        lines += ["## Samples", "", "![samples](samples.png)", ""]
    return "\n".join(lines)


def _trained_steps(run: Path) -> int | None:
    metrics = run / "metrics.jsonl"
    if not metrics.exists():
        return None
    last = [line for line in metrics.read_text().splitlines() if line.strip()]
    return json.loads(last[-1]).get("step") if last else None


def push(run: str | Path, repo_id: str, branch: str | None = None, private: bool = False,
         token: str | None = None, commit_message: str | None = None) -> str:
    """Publish a run's inference weights, config, model card and sample grid; returns the
    commit hash."""
    from huggingface_hub import HfApi

    run = Path(run)
    info = read_config(run)
    if not (run / WEIGHTS_FILE).exists():
        raise WeightsError(f"{run} has no {WEIGHTS_FILE} to publish; train first (`ganzoo train`)")
    api = HfApi(token=token)
    api.create_repo(repo_id, exist_ok=True, private=private)
    if branch:
        api.create_branch(repo_id, branch=branch, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ganzoo-push-") as staging:
        staging = Path(staging)
        for name in (WEIGHTS_FILE, CONFIG_FILE, "samples.png"):
            if (run / name).exists():
                shutil.copy(run / name, staging / name)
        (staging / "README.md").write_text(model_card(run, info, repo_id))
        commit = api.upload_folder(
            repo_id=repo_id, folder_path=staging, revision=branch,
            commit_message=commit_message or f"ganzoo {info['variant']}: upload weights")
    return commit.oid
