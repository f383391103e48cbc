"""The Compare tab: for one seed and one dataset, every noise-to-image model of the zoo (each
registered ``NoiseToImage`` variant, third-party ones included, and each of its models, as its
tab's picker lists them) draws a grid, shown under its measured figures and training budget.

- Figures: the model folder's ``eval.json`` (``ganzoo eval``'s Frechet distance in the judge's
  features and classifier IS), "not measured" where it has none.
- Budget: steps and batch from a run folder's ``metrics.jsonl`` and ``run.json``, else from the
  model card (``README.md``) that ``ganzoo push`` and ``scripts/train_defaults.py`` write; the
  generator's parameters counted on the loaded networks.
- Dataset: a model's data is told by its images, as the judges are chosen: grey (1 channel)
  is MNIST, colour (3 channels) is Emoji.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from . import ui
from .errors import UserError
from .models import find_model
from .spaces import gpu
from .ui import DEFAULT_MODEL, model_choices, save_output
from .variant import NoiseToImage, Seed
from .weights import explicit_choice, parse_spec

DATASETS = {"MNIST": 1, "Emoji": 3}  # the dataset picker's choices -> the channels of its images
COMPARE_IMAGES = 16


@dataclass
class Entry:
    """One model of the comparison: a variant's model as its tab's picker names it."""

    variant_class: type
    plugin: str
    model: str  # the picker's value: a model's name, or "default"
    label: str  # "DCGAN: MNIST digits"
    folder: Path | None  # its weights folder, where it has one here (not a Hub download)


def entries(variants: dict) -> list[Entry]:
    """Every noise-to-image variant's models, in registry order, each as its tab offers it."""
    found = []
    for registration in variants.values():
        variant_class = registration.variant
        if not issubclass(variant_class, NoiseToImage):
            continue
        for label, value in model_choices(variant_class):
            named = None if value == DEFAULT_MODEL else find_model(variant_class, value)
            folder = default_folder(variant_class) if value == DEFAULT_MODEL else getattr(named, "folder", None)
            found.append(Entry(variant_class, registration.plugin, value, f"{variant_class.title}: {label}", folder))
    return found


def default_folder(variant_class) -> Path | None:
    """The folder the variant's default weights load from: an explicit choice that is a folder
    or a named model, else the bundled weights; None for a Hub repo or random weights."""
    spec = explicit_choice(variant_class)
    if spec is None:
        bundled = variant_class.bundled_weights()
        return None if variant_class.default_repo or bundled is None else Path(bundled)
    try:
        parsed = parse_spec(spec, variant_class)
    except UserError:
        return None
    return parsed if isinstance(parsed, Path) else getattr(parsed, "folder", None)


def figures(folder: Path | None) -> dict:
    """The measured figures of ``eval.json`` in ``folder``; {} where there are none."""
    try:
        return json.loads((folder / "eval.json").read_text())
    except (TypeError, OSError, ValueError):
        return {}


def budget(folder: Path | None) -> dict:
    """How the weights were trained: ``steps``, ``batch_size``, ``initialised_from`` (a run whose
    steps come before these) and, for a bundled model trained in stages, ``steps_in_all_stages``,
    from a run folder, else from the model card; None where unknown."""
    found = {"steps": None, "batch_size": None, "initialised_from": None, "steps_in_all_stages": None}
    if folder is None:
        return found
    try:
        run = json.loads((folder / "run.json").read_text())
        found["batch_size"] = run.get("settings", {}).get("batch_size")
        found["initialised_from"] = run.get("initialised_from")
        lines = [line for line in (folder / "metrics.jsonl").read_text().splitlines() if line.strip()]
        found["steps"] = json.loads(lines[-1]).get("step") if lines else None
    except (OSError, ValueError):
        pass
    try:
        card = (folder / "README.md").read_text()
    except OSError:
        return found
    patterns = {"steps": r"^training_steps: (\d+)$", "batch_size": r"^- batch_size: (\d+)$",
                "initialised_from": r"^- initialised from the run `([^`]+)`",
                # a bundled model trained in stages (scripts/train_defaults.py): the whole budget
                "steps_in_all_stages": r"^- steps in all stages: (\d+)"}
    for key, pattern in patterns.items():
        match = re.search(pattern, card, re.MULTILINE)
        if found[key] is None and match:
            found[key] = int(match.group(1)) if match.group(1).isdigit() else match.group(1)
    return found


def parameters(model) -> int:
    """The parameters of the model's inference networks (a noise-to-image model's generator)."""
    return sum(p.numel() for net in model.nets.values() for p in net.parameters())


def _number(value, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def describe(entry: Entry, model) -> dict:
    """The comparison's row for one model: its figures and budget, as text."""
    measured, trained = figures(entry.folder), budget(entry.folder)
    steps = "unknown" if trained["steps"] is None else f"{trained['steps']:,}"
    if trained["steps_in_all_stages"] is not None:
        steps = f"{trained['steps_in_all_stages']:,} in stages"
    elif trained["initialised_from"] and trained["steps"] is not None:
        steps += f" (after run {trained['initialised_from']})"
    return {"model": entry.label,
            "fd": _number(measured.get("fd"), 1),
            "is": _number(measured.get("classifier_is"), 2),
            "steps": steps,
            "batch": "-" if trained["batch_size"] is None else str(trained["batch_size"]),
            "parameters": f"{parameters(model) / 1e6:.2f} M"}


def caption(row: dict) -> str:
    measured = f"FD {row['fd']}, IS {row['is']}" if row["fd"] != "-" or row["is"] != "-" else "not measured"
    return f"{row['model']} | {measured} | steps {row['steps']}, batch {row['batch']} | {row['parameters']} parameters"


def table(rows: list[dict]) -> str:
    head = ("| model | Frechet distance (judge; lower is better) | classifier IS (higher is better) | steps "
            "| batch | generator parameters |\n| --- | --- | --- | --- | --- | --- |")
    body = [f"| {r['model']} | {r['fd']} | {r['is']} | {r['steps']} | {r['batch']} | {r['parameters']} |"
            for r in rows]
    return "\n".join([head, *body])


def _draw(jobs: list, seed: int) -> list:
    """Each loaded model's grid for ``seed`` (on ZeroGPU, under one GPU call)."""
    return [model.generate(seed=seed, n=COMPARE_IMAGES).grid() for model in jobs]


def make_compare(variants: dict, output_folder: str | Path):
    """The tab's action: (dataset, seed) in; (gallery of captioned grids, table) out."""
    on_gpu = gpu(_draw)

    def compare(dataset: str = "MNIST", seed=0):
        if dataset not in DATASETS:
            raise gr.Error(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
        try:
            seed = Seed().check(seed)
        except UserError as error:
            raise gr.Error(str(error)) from None
        chosen, rows, failed = [], [], []
        for entry in entries(variants):
            try:
                model = ui.MODELS.get(entry.variant_class, entry.plugin, entry.model)
            except Exception as error:  # a plugin that cannot load: its row says so, the others go on
                failed.append(f"- {entry.label}: could not be loaded ({error})")
                continue
            if getattr(model.config, "channels", None) == DATASETS[dataset]:
                chosen.append((entry, model))
        grids = on_gpu([model for _, model in chosen], seed)
        gallery = []
        for (entry, model), grid in zip(chosen, grids):
            row = describe(entry, model)
            rows.append(row)
            gallery.append((save_output(grid, output_folder, "compare"), caption(row)))
        text = table(rows) if rows else (f"No noise-to-image model here was trained on {dataset} yet: train one "
                                         f"in the Train tab, or with `ganzoo train`, and it joins this list.")
        return gallery, "\n".join([text, *([""] + failed if failed else [])])

    return compare


def build_compare_tab(variants: dict) -> None:
    """The Compare tab's contents (call inside ``gr.Tab``)."""
    gr.Markdown("### Compare\n\nOne seed, one dataset: every noise-to-image model draws "
                f"{COMPARE_IMAGES} images from the same noise, under its measured figures (`eval.json`: "
                "Frechet distance in the judge's features, lower is better; classifier Inception Score, "
                "higher is better) and its training budget. A model's dataset is told by its images: "
                "grey ones are MNIST, colour ones Emoji. Third-party variants and runs trained in the "
                "Train tab appear too.")
    with gr.Row():
        dataset = gr.Radio(list(DATASETS), value="MNIST", label="Dataset")
        seed = gr.Number(value=0, step=1, label="Seed", info="The same noise for every model.")
        button = gr.Button("Compare", variant="primary")
    gallery = gr.Gallery(label="Grids", columns=4, object_fit="contain", height="auto")
    summary = gr.Markdown()
    button.click(make_compare(variants, gallery.GRADIO_CACHE), inputs=[dataset, seed], outputs=[gallery, summary],
                 api_name="compare")
