"""One Gradio tab per variant, built from the variant's declarations alone.

Weights load on a tab's first use, not at start (a cold Space starts fast and makes no
download until someone asks for an image). On ZeroGPU hardware only the computation runs
under ``spaces.GPU``, for as long as the inputs need; loading and downloads come before it.

Uploads are taken as files and opened by ganzoo, which checks an image's size from its
header before decoding it: Gradio's image component would decode any upload first.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import gradio as gr

from .devices import pick_device
from .errors import UserError
from .images import open_image
from .registry import load_variant_model
from .spaces import gpu, gpu_seconds
from .variant import Choice, ImageInput, Input, Seed, Slider
from .weights import RANDOM_SOURCE, config_without_network, describe_default

# Events of a tab whose work is one small forward pass (noise in, images out) run this many
# at once; tabs that take an image (CycleGAN, style transfer) run one at a time.
LIGHT_CONCURRENCY = 4


class ModelCache:
    """Loads each variant's model once, on first use; later calls reuse it. Each variant has
    its own lock: a slow load on one tab never holds up another."""

    def __init__(self):
        self._models: dict = {}
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def get(self, variant_class, plugin: str | None = None):
        name = variant_class.name
        if name in self._models:
            return self._models[name]
        with self._locks_lock:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            if name not in self._models:
                self._models[name] = load_variant_model(variant_class, None, pick_device("auto"), plugin)
            return self._models[name]


MODELS = ModelCache()


def component_for(spec: Input):
    """The Gradio component for one declared input."""
    info = spec.help or None
    if isinstance(spec, Seed):
        # No precision: Gradio's rounding would fail on "abc" without a message; Seed.check says why.
        return gr.Number(value=spec.default, step=1, label=spec.label, info=info)
    if isinstance(spec, Slider):
        return gr.Slider(spec.minimum, spec.maximum, value=spec.default, step=spec.step, label=spec.label,
                         info=info)
    if isinstance(spec, Choice):
        if len(spec.choices) <= 3:
            return gr.Radio(list(spec.choices), value=spec.default, label=spec.label, info=info)
        return gr.Dropdown(list(spec.choices), value=spec.default, label=spec.label, info=info)
    if isinstance(spec, ImageInput):
        # A file, not gr.Image: gr.Image decodes every upload (up to 179 megapixels) before
        # ganzoo could refuse it. open_image checks the size from the header first.
        return gr.File(label=f"{spec.label} (an image file)", file_types=["image"], type="filepath", height=120)
    if isinstance(spec.default, (int, float)):
        return gr.Number(value=spec.default, label=spec.label, info=info)
    return gr.Textbox(value=spec.default, label=spec.label, info=info)


def read_value(spec: Input, value):
    """One input as Gradio gives it -> what ``generate`` takes: an uploaded file is opened as
    an image (its size checked before it is decoded). Other values go on as they are:
    ``Variant.check_inputs`` checks them against their declarations."""
    if isinstance(spec, ImageInput) and value is not None:
        return open_image(value)
    return value


def weights_line(model=None, variant_class=None) -> str:
    if model is None:
        return f"**Weights:** loaded on first use ({describe_default(variant_class)})."
    if model.is_random and model.variant.untrained_mode:
        return f"**Weights:** {model.source}."
    if model.is_random:
        return (f"**Weights:** ⚠️ {RANDOM_SOURCE}: the images are noise, not a trained model. "
                f"Train with `ganzoo train {model.variant.name}` and set `GANZOO_WEIGHTS_{model.variant.name.upper()}`.")
    return f"**Weights:** {model.source}."


def save_output(image, folder: str | Path, name: str) -> str:
    """Write the result as PNG into a folder of its own inside Gradio's cache and return its
    path, which Gradio then serves as it is. Equal inputs give equal images: had Gradio
    written them, it would put them all at one path (named by their hash), rewriting that
    file while another caller downloads it."""
    path = Path(folder) / f"ganzoo-{uuid.uuid4().hex}" / f"{name}.png"
    path.parent.mkdir(parents=True)
    image.save(path, format="png")
    return str(path)


def is_light(specs: list[Input]) -> bool:
    return not any(isinstance(spec, ImageInput) for spec in specs)


def make_action(variant_class, specs: list[Input], output_folder: str | Path, plugin: str | None = None):
    """The tab's main action: inputs in, (image path, weights line) out."""

    def compute(values: dict, progress=gr.Progress()):
        model = MODELS.get(variant_class, plugin)  # loaded before the GPU is held (see action)
        return model.generate(progress=lambda fraction, text="": progress(fraction, desc=text), **values)

    def duration(values: dict, progress=None) -> int:
        return gpu_seconds(MODELS.get(variant_class, plugin).variant, values)

    on_gpu = gpu(compute, duration=duration)

    def action(*inputs, progress=gr.Progress()):
        try:
            model = MODELS.get(variant_class, plugin)  # may download weights: not on the GPU's time
            values = model.variant.check_inputs({spec.name: read_value(spec, value)
                                                 for spec, value in zip(specs, inputs)})
            prepare = getattr(model.variant, "prepare_inference", None)  # downloads it needs (VGG-19)
            if prepare is not None:
                prepare(model, values)
            result = on_gpu(values, progress)
        except UserError as error:
            raise gr.Error(str(error)) from None
        image = result.grid() if len(result.images) > 1 else result.images[0]
        return save_output(image, output_folder, variant_class.name), weights_line(model)

    action.__name__ = variant_class.name
    return action


def build_tab(variant_class, plugin: str = "") -> None:
    """The contents of one variant's tab (call inside ``gr.Tab``). Should the plugin's code
    fail here, the tab says so, naming the plugin, and the other tabs are unaffected."""
    try:
        variant = variant_class(config_without_network(variant_class))
        intro = f"### {variant_class.title}\n\n{variant_class.description}\n\n*Paper:* {variant_class.paper}"
        specs = variant.inputs()
        gr.Markdown(intro)
        with gr.Row():
            with gr.Column(scale=1):
                components = [component_for(spec) for spec in specs]
                button = gr.Button("Generate", variant="primary")
            with gr.Column(scale=2):
                output = gr.Image(type="filepath", label="Result", format="png")
                source = gr.Markdown(weights_line(variant_class=variant_class))
    except Exception as error:
        gr.Markdown(f"⚠️ **{variant_class.name}** (plugin `{plugin or variant_class.__module__}`) could not "
                    f"build its tab: {type(error).__name__}: {error}. Update or uninstall the plugin.")
        return
    button.click(make_action(variant_class, specs, output.GRADIO_CACHE, plugin), inputs=components,
                 outputs=[output, source], api_name=variant_class.name,
                 concurrency_limit=LIGHT_CONCURRENCY if is_light(specs) else 1)


def header_markdown(count: int) -> str:
    return (f"# ganzoo\nA zoo of generative adversarial networks: {count} variants, one tab each. "
            f"Every tab says where its weights come from.")
