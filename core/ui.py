"""One Gradio tab per variant, built from the variant's declarations alone.

Weights load on a tab's first use, not at start (a cold Space starts fast and makes no
download until someone asks for an image). On ZeroGPU hardware only the computation runs
under ``spaces.GPU``, for as long as the inputs need; loading and downloads come before it.

Uploads are taken as files and opened by ganzoo, which checks an image's size from its
header before decoding it: Gradio's image component would decode any upload first.

Each tab has a model picker: the variant's named models (``ganzoo.models``: those shipped
with it, and runs trained in the Train tab), headed by "default" where an explicit choice
(``GANZOO_WEIGHTS_<VARIANT>``) or a Hub repo would answer first. The API endpoint takes the
model as its last input, which may be left out.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import gradio as gr

from .devices import pick_device
from .errors import UserError
from .images import fit_within, open_image, save_animation
from .models import find_model, models_of
from .registry import load_variant_model
from .spaces import gpu, gpu_seconds
from .variant import Choice, ImageInput, Input, NoiseToImage, Seed, Slider
from .weights import RANDOM_SOURCE, config_without_network, describe_default, explicit_choice

# Events of a tab whose work is one small forward pass (noise in, images out) run this many
# at once; tabs that take an image (CycleGAN, style transfer) run one at a time.
LIGHT_CONCURRENCY = 4
# The picker's value for "the weights the variant would load when given no choice".
DEFAULT_MODEL = "default"


class ModelCache:
    """Loads each (variant, model) once, on first use; later calls reuse it. Each variant has
    its own lock: a slow load on one tab never holds up another. A named model whose folder
    is written again (a run trained further in the Train tab) is loaded again."""

    def __init__(self):
        self._models: dict = {}  # (variant, model) -> (stamp, loaded model)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def get(self, variant_class, plugin: str | None = None, model: str = DEFAULT_MODEL):
        name = variant_class.name
        named = None if model == DEFAULT_MODEL else find_model(variant_class, model)
        if model != DEFAULT_MODEL and named is None:
            raise UserError(f"{name} has no model {model!r}; choose one of "
                            f"{', '.join(repr(m) for m in models_of(variant_class)) or 'none'}")
        key, stamp = (name, model), named.stamp() if named else None
        cached = self._models.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        with self._locks_lock:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            cached = self._models.get(key)
            if cached is None or cached[0] != stamp:
                loaded = load_variant_model(variant_class, named, pick_device("auto"), plugin)
                self._models[key] = cached = (stamp, loaded)
            return cached[1]


def model_choices(variant_class) -> list[tuple[str, str]]:
    """The picker's (label, value) pairs: the variant's models by name, after a "default" entry
    where the default is not one of them (an explicit choice, a Hub repo, or none at all)."""
    choices = [(name, name) for name in models_of(variant_class)]
    if explicit_choice(variant_class) or variant_class.default_repo or not choices:
        choices.insert(0, (f"default: {describe_default(variant_class)}", DEFAULT_MODEL))
    return choices


def model_picker_update(variant_class, chosen: str | None = None):
    """The picker with today's models (runs trained since the page loaded), keeping ``chosen``."""
    choices = model_choices(variant_class)
    values = [value for _, value in choices]
    return gr.update(choices=choices, value=chosen if chosen in values else values[0])


MODELS = ModelCache()


def shown_choices(spec: Choice) -> list[tuple[str, str]]:
    """(what the app shows, what it sends) for each choice: a CycleGAN direction shows "Twemoji
    to Noto" and sends "a2b", the value the API and the CLI take."""
    return [(spec.labels.get(choice, choice), choice) for choice in spec.choices]


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
            return gr.Radio(shown_choices(spec), value=spec.default, label=spec.label, info=info)
        return gr.Dropdown(shown_choices(spec), value=spec.default, label=spec.label, info=info)
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


def weights_line(model=None, variant_class=None, chosen: str = DEFAULT_MODEL) -> str:
    if model is None and chosen != DEFAULT_MODEL:
        return f'**Weights:** model "{chosen}", loaded on first use.'
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


# Walks are shown at least this many pixels wide: a 28-pixel frame is scaled up by a whole
# factor, nearest neighbour, so the browser does not blur it.
WALK_SIDE = 256


def save_walk(frames: list, folder: str | Path, name: str) -> str:
    """The walk's frames as an animated WebP in a folder of its own (as ``save_output``)."""
    factor = -(-WALK_SIDE // frames[0].width)
    if factor > 1:
        frames = [frame.resize((frame.width * factor, frame.height * factor), 0) for frame in frames]  # 0: nearest
    path = Path(folder) / f"ganzoo-{uuid.uuid4().hex}" / f"{name}-walk.webp"
    path.parent.mkdir(parents=True)
    return str(save_animation(frames, path))


def api_order(specs: list[Input]) -> tuple[list[Input], list[Input]]:
    """An endpoint takes the inputs, then the model's name, then the trailing inputs
    (``Input.trailing``): the inputs before and after the model."""
    return [spec for spec in specs if not spec.trailing], [spec for spec in specs if spec.trailing]


def split_arguments(specs: list[Input], arguments: tuple) -> tuple[dict, str]:
    """An endpoint's arguments in ``api_order`` -> (input values by name, the model chosen);
    arguments left out are None (their defaults) and the model "default"."""
    before, after = api_order(specs)
    values = dict(zip([spec.name for spec in before], arguments))
    rest = arguments[len(before):]
    values.update(zip([spec.name for spec in after], rest[1:]))
    return values, (rest[0] if rest and rest[0] else DEFAULT_MODEL)


def is_light(specs: list[Input]) -> bool:
    return not any(isinstance(spec, ImageInput) for spec in specs)


def make_action(variant_class, specs: list[Input], output_folder: str | Path, plugin: str | None = None):
    """The tab's main action: inputs, then optionally the model's name and the trailing inputs
    (``api_order``), in; (image path, weights line) out."""

    def compute(values: dict, progress=gr.Progress(), chosen: str = DEFAULT_MODEL):
        model = MODELS.get(variant_class, plugin, chosen)  # loaded before the GPU is held (see action)
        return model.generate(progress=lambda fraction, text="": progress(fraction, desc=text), **values)

    def duration(values: dict, progress=None, chosen: str = DEFAULT_MODEL) -> int:
        return gpu_seconds(MODELS.get(variant_class, plugin, chosen).variant, values)

    on_gpu = gpu(compute, duration=duration)

    def action(*inputs, progress=gr.Progress()):
        given, chosen = split_arguments(specs, inputs)
        try:
            model = MODELS.get(variant_class, plugin, chosen)  # may download weights: not on the GPU's time
            values = model.variant.check_inputs({spec.name: read_value(spec, given[spec.name])
                                                 for spec in specs if spec.name in given})
            prepare = getattr(model.variant, "prepare_inference", None)  # downloads it needs (VGG-19)
            if prepare is not None:
                prepare(model, values)
            result = on_gpu(values, progress, chosen)
        except UserError as error:
            raise gr.Error(str(error)) from None
        image = result.grid() if len(result.images) > 1 else result.images[0]
        return save_output(image, output_folder, variant_class.name), weights_line(model)

    action.__name__ = variant_class.name
    return action


def make_walk_action(variant_class, specs: list[Input], output_folder: str | Path, plugin: str | None = None):
    """A noise-to-image tab's walk: ``walk_inputs`` in ``api_order`` with the model's name in;
    (animated WebP path, weights line) out."""
    on_gpu = gpu(lambda model, values: model.variant.walk(model, **values))

    def walk(*inputs):
        values, chosen = split_arguments(specs, inputs)
        try:
            model = MODELS.get(variant_class, plugin, chosen)
            frames = on_gpu(model, values)
        except UserError as error:
            raise gr.Error(str(error)) from None
        return save_walk(frames, output_folder, variant_class.name), weights_line(model)

    walk.__name__ = f"{variant_class.name}_walk"
    return walk


def make_preview(output_folder: str | Path):
    """An uploaded image as the tab shows it beside the result: opened as ``read_value`` opens it
    (its size checked first), in RGB, at most 512 pixels a side."""

    def preview(path):
        if path is None:
            return None
        try:
            image = open_image(path)
        except UserError as error:
            raise gr.Error(str(error)) from None
        shown = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
        return save_output(fit_within(shown, 512, 1), output_folder, "input")
    return preview


def build_tab(variant_class, plugin: str = ""):
    """The contents of one variant's tab (call inside ``gr.Tab``); returns its model picker, or
    None. Should the plugin's code fail here, the tab says so, naming the plugin, and the
    other tabs are unaffected."""
    try:
        variant = variant_class(config_without_network(variant_class))
        intro = f"### {variant_class.title}\n\n{variant_class.description}\n\n*Paper:* {variant_class.paper}"
        specs = variant.inputs()
        walk_specs = variant.walk_inputs() if isinstance(variant, NoiseToImage) else []
        image_specs = [spec for spec in specs if isinstance(spec, ImageInput)]
        examples = variant.examples()
        gr.Markdown(intro)
        with gr.Row():
            with gr.Column(scale=1):
                choices = model_choices(variant_class)
                # Custom values: runs trained after the page loaded; the action checks the name.
                picker = gr.Dropdown(choices, value=choices[0][1], label="Model", allow_custom_value=True,
                                     info="The variant's models; runs trained in the Train tab join them.",
                                     elem_id=f"model-{variant_class.name}")
                components = {spec.name: component_for(spec) for spec in specs}
                button = gr.Button("Generate", variant="primary", elem_id=f"generate-{variant_class.name}")
                if walk_specs:  # inputs of the same name (truncation) are shared with the grid's
                    gr.Markdown("**Walk** from one seed's image to another's: the noise moves along a great "
                                "circle (spherical interpolation), one image per frame.")
                    walk_components = {spec.name: components.get(spec.name) or component_for(spec)
                                       for spec in walk_specs}
                    walk_button = gr.Button("Animate")
            with gr.Column(scale=2):
                with gr.Row():  # each uploaded image beside the result
                    previews = {spec.name: gr.Image(type="filepath", label=spec.label, format="png")
                                for spec in image_specs}
                    output = gr.Image(type="filepath", label="Result", format="png",
                                      elem_id=f"result-{variant_class.name}")
                source = gr.Markdown(weights_line(variant_class=variant_class, chosen=choices[0][1]),
                                     elem_id=f"weights-{variant_class.name}")
                walk_output = gr.Image(type="filepath", label="Walk", format="webp") if walk_specs else None
        if examples:
            # The inputs the examples set, and the model an example is for (a test emoji picks the
            # Emoji model): a click sets those, the other inputs keep their values.
            shown = [spec for spec in specs if any(spec.name in example for example in examples)]
            for_model = any("model" in example for example in examples)
            rows = [[example.get(spec.name, spec.default) for spec in shown]
                    + ([example.get("model", choices[0][1])] if for_model else []) for example in examples]
            filled = [components[spec.name] for spec in shown] + ([picker] if for_model else [])
            example_set = gr.Examples(rows, inputs=filled, label="Examples: click one to try it", cache_examples=False,
                                      api_visibility="private")
    except Exception as error:
        gr.Markdown(f"⚠️ **{variant_class.name}** (plugin `{plugin or variant_class.__module__}`) could not "
                    f"build its tab: {type(error).__name__}: {error}. Update or uninstall the plugin.")
        return None

    def arguments(specs_: list[Input], by_name: dict) -> list:
        before, after = api_order(specs_)
        return [*(by_name[spec.name] for spec in before), picker, *(by_name[spec.name] for spec in after)]

    folder = output.GRADIO_CACHE
    action = make_action(variant_class, specs, folder, plugin)
    concurrency = LIGHT_CONCURRENCY if is_light(specs) else 1
    button.click(action, inputs=arguments(specs, components), outputs=[output, source], api_name=variant_class.name,
                 concurrency_limit=concurrency)
    if examples:  # one click: the example fills the inputs, then runs
        example_set.load_input_event.then(action, inputs=arguments(specs, components), outputs=[output, source],
                                          api_visibility="private", concurrency_limit=concurrency)
    for spec in image_specs:
        components[spec.name].change(make_preview(folder), inputs=components[spec.name], outputs=previews[spec.name],
                                     api_name=f"{variant_class.name}_{spec.name}", api_visibility="undocumented")
    if walk_specs:
        walk_button.click(make_walk_action(variant_class, walk_specs, folder, plugin),
                          inputs=arguments(walk_specs, walk_components), outputs=[walk_output, source],
                          api_name=f"{variant_class.name}_walk", concurrency_limit=LIGHT_CONCURRENCY)
    choice_specs = [spec for spec in specs if isinstance(spec, Choice)]

    def on_pick(chosen):
        chosen = chosen or DEFAULT_MODEL
        return [weights_line(variant_class=variant_class, chosen=chosen), *choice_updates(variant_class, choice_specs,
                                                                                           chosen)]

    picker.change(on_pick, inputs=picker, outputs=[source, *(components[spec.name] for spec in choice_specs)],
                  api_visibility="private", queue=False)
    return picker


def choice_updates(variant_class, choice_specs: list[Choice], chosen: str) -> list:
    """The choices of the model picked, for each Choice input: a conditional GAN's classes are
    the model's own (digits, or emoji categories), read from its config.json without loading
    its weights. Inputs the model does not change stay as they are."""
    try:
        config = config_without_network(variant_class, None if chosen == DEFAULT_MODEL else chosen)
        fresh = {spec.name: spec for spec in variant_class(config).inputs() if isinstance(spec, Choice)}
    except Exception:  # a plugin's inputs() that fails: its action reports that, on Generate
        fresh = {}
    return [gr.update(choices=shown_choices(fresh[spec.name]), value=fresh[spec.name].default,
                      info=fresh[spec.name].help or None) if spec.name in fresh else gr.update()
            for spec in choice_specs]


def header_markdown(count: int) -> str:
    return (f"# ganzoo\nA zoo of generative adversarial networks: {count} variants, one tab each. "
            f"Every tab says where its weights come from.")
