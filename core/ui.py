"""One Gradio tab per variant, built from the variant's declarations alone.

Weights load on a tab's first use, not at start (a cold Space starts fast and makes no
download until someone asks for an image). On ZeroGPU hardware the work runs under
``spaces.GPU``; elsewhere that wrapper is the identity.
"""

from __future__ import annotations

import threading

import gradio as gr

from .data import DataError
from .devices import pick_device
from .images import BadImageError
from .spaces import gpu
from .variant import Choice, ImageInput, Input, Seed, Slider
from .weights import RANDOM_SOURCE, WeightsError, config_without_network, describe_default, load_model

USER_ERRORS = (BadImageError, WeightsError, DataError, ValueError)


class ModelCache:
    """Loads each variant's model once, on first use; later calls reuse it."""

    def __init__(self):
        self._models: dict = {}
        self._lock = threading.Lock()

    def get(self, variant_class):
        with self._lock:
            if variant_class.name not in self._models:
                self._models[variant_class.name] = load_model(variant_class, None, pick_device("auto"))
            return self._models[variant_class.name]


MODELS = ModelCache()


def component_for(spec: Input):
    """The Gradio component for one declared input."""
    info = spec.help or None
    if isinstance(spec, Seed):
        return gr.Number(value=spec.default, precision=0, label=spec.label, info=info)
    if isinstance(spec, Slider):
        return gr.Slider(spec.minimum, spec.maximum, value=spec.default, step=spec.step, label=spec.label,
                         info=info)
    if isinstance(spec, Choice):
        if len(spec.choices) <= 3:
            return gr.Radio(list(spec.choices), value=spec.default, label=spec.label, info=info)
        return gr.Dropdown(list(spec.choices), value=spec.default, label=spec.label, info=info)
    if isinstance(spec, ImageInput):
        return gr.Image(type="pil", label=spec.label, sources=["upload", "clipboard"], height=256)
    if isinstance(spec.default, (int, float)):
        return gr.Number(value=spec.default, label=spec.label, info=info)
    return gr.Textbox(value=spec.default, label=spec.label, info=info)


def coerce(spec: Input, value):
    """Gradio gives numbers as floats; integer inputs get ints back."""
    if value is None:
        return None
    if isinstance(spec, Seed) or (isinstance(spec, Slider) and spec.is_integer):
        return int(value)
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


def make_action(variant_class, specs: list[Input]):
    """The tab's main action: inputs in, (image, weights line) out."""

    @gpu
    def action(*values, progress=gr.Progress()):
        try:
            model = MODELS.get(variant_class)
            kwargs = {spec.name: coerce(spec, value) for spec, value in zip(specs, values)}
            missing = [spec.label for spec in specs
                       if isinstance(spec, ImageInput) and not spec.optional and kwargs.get(spec.name) is None]
            if missing:
                raise gr.Error(f"Please upload an image for: {', '.join(missing)}.")
            result = model.generate(progress=lambda fraction, text="": progress(fraction, desc=text), **kwargs)
        except USER_ERRORS as error:
            raise gr.Error(str(error)) from None
        image = result.grid() if len(result.images) > 1 else result.images[0]
        return image, weights_line(model)

    action.__name__ = variant_class.name
    return action


def build_tab(variant_class) -> None:
    """The contents of one variant's tab (call inside ``gr.Tab``)."""
    variant = variant_class(config_without_network(variant_class))
    gr.Markdown(f"### {variant_class.title}\n\n{variant_class.description}\n\n*Paper:* {variant_class.paper}")
    specs = variant.inputs()
    with gr.Row():
        with gr.Column(scale=1):
            components = [component_for(spec) for spec in specs]
            button = gr.Button("Generate", variant="primary")
        with gr.Column(scale=2):
            output = gr.Image(type="pil", label="Result", format="png")
            source = gr.Markdown(weights_line(variant_class=variant_class))
    button.click(make_action(variant_class, specs), inputs=components, outputs=[output, source],
                 api_name=variant_class.name)


def header_markdown(count: int) -> str:
    return (f"# ganzoo\nA zoo of generative adversarial networks: {count} variants, one tab each. "
            f"Every tab says where its weights come from.")
