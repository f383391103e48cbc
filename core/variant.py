"""The contract every GAN variant implements.

A variant is a class with a config dataclass. The core calls its methods; a variant never
runs its own training loop, builds its own UI or reads files itself:

- ``build_networks`` / ``build_optimizers`` / ``train_step``: what the one training loop in
  ``ganzoo.training`` needs. ``train_step`` pulls as many batches as it wants from
  ``ctx.next_batch(role)``, so 5 critic steps or two unpaired domains need no special case.
- ``data_roles`` / ``prepare_data``: which datasets training takes (``--data``,
  ``--data-b``, ...), loaded by ``ganzoo.data``.
- ``inputs`` / ``generate``: declared inputs become Gradio components in the app and flags
  in the CLI; ``generate`` turns their values into images, which ``Model.generate`` has
  checked against those declarations (bounds, choices, types) first.
- ``inference_networks``: the networks that are published as ``model.safetensors``.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, Sequence

from .errors import UserError

# --------------------------------------------------------------------------- inputs
# Declarative descriptions of a variant's inference inputs. The app turns each into a
# Gradio component and the CLI into a flag named after `name`.


@dataclass
class Input:
    name: str
    label: str
    help: str = ""
    default: Any = None
    # In the app's API, after the model's name rather than before it: an optional input added to
    # a variant that had others keeps their places for callers who pass them by position.
    trailing: bool = field(default=False, kw_only=True)

    def check(self, value):
        """The value ``generate`` gets, checked against this input's bounds (and numbers given
        their type back: Gradio sends floats); a value outside them raises ``UserError``."""
        return value


def _number(spec: Input, value, minimum, maximum, integer: bool, rule: str):
    """``value`` as an int (``integer``) or float within [minimum, maximum], else UserError
    naming the input, the value and ``rule`` (the allowed range, in words)."""
    number = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not number or not minimum <= value <= maximum or (integer and not float(value).is_integer()):
        raise UserError(f"{spec.name} must be {rule}, not {value!r}")
    return int(value) if integer else float(value)


# Seeds: 0 to 2**63 - 1 for every variant, a signed 64-bit integer anywhere (numpy, JSON readers).
# torch would also take negative seeds, but they only alias large ones (-1 seeds as 2**64 - 1).
SEED_MAX = 2**63 - 1


@dataclass
class Seed(Input):
    name: str = "seed"
    label: str = "Seed"
    help: str = "The same seed gives the same images: a whole number from 0 to 2**63 - 1."
    default: int = 0
    minimum: int = 0
    maximum: int = SEED_MAX

    def check(self, value) -> int:
        return _number(self, value, self.minimum, self.maximum, True,
                       f"a whole number between {self.minimum} and {self.maximum}")


@dataclass
class Slider(Input):
    minimum: float = 0
    maximum: float = 100
    step: float = 1

    @property
    def is_integer(self) -> bool:
        return all(float(v).is_integer() for v in (self.minimum, self.maximum, self.step))

    def check(self, value) -> int | float:
        whole = " (a whole number)" if self.is_integer else ""
        return _number(self, value, self.minimum, self.maximum, self.is_integer,
                       f"between {self.minimum:g} and {self.maximum:g}{whole}")


@dataclass
class Choice(Input):
    choices: Sequence[str] = ()
    labels: Mapping[str, str] = field(default_factory=dict)  # what the app shows for a choice; callers send the choice

    def check(self, value) -> str:
        if value not in self.choices:
            choices = ", ".join(map(str, self.choices))
            message = f"unknown {self.name.replace('_', ' ')} {value!r}; choose one of {choices}."
            raise UserError(f"{message} {self.help}" if self.help else message)
        return value


@dataclass
class ImageInput(Input):
    """An uploaded image (a PIL image in ``generate``); on the CLI, a file path."""

    optional: bool = False

    def check(self, value):
        from PIL import Image

        if value is None and not self.optional:
            raise UserError(f"no {self.label.lower()} given: upload one, or pass "
                            f"--{self.name.replace('_', '-')} PATH")
        if value is not None and not isinstance(value, (Image.Image, str, os.PathLike)):
            raise UserError(f"{self.name} must be an image or the path of one, not {type(value).__name__}")
        return value


def count_input(default: int = 16, maximum: int = 64) -> Slider:
    return Slider("n", "Number of images", "How many images to generate.", default, 1, maximum, 1)


def truncation_input() -> Slider:
    return Slider("truncation", "Truncation", "Scales the noise toward its mean: lower gives more typical, "
                  "cleaner images and less variety; 1 is off. With noise clusters, the cluster stays.",
                  1.0, 0.1, 1.0, 0.05, trailing=True)


def check_values(specs: list[Input], values: dict, owner: str) -> dict:
    """Every input's value (None or missing: its default), checked by ``Input.check``; a name
    not among ``specs`` is refused, naming ``owner``'s inputs."""
    unknown = sorted(set(values) - {spec.name for spec in specs})
    if unknown:
        raise UserError(f"{owner} takes inputs {sorted(spec.name for spec in specs)}, not {unknown}")
    return {spec.name: spec.check(spec.default if values.get(spec.name) is None else values[spec.name])
            for spec in specs}


# --------------------------------------------------------------------------- outputs


@dataclass
class Generated:
    """What ``generate`` returns: images, optionally with a caption (class label) each."""

    images: list  # of PIL.Image.Image
    captions: list[str] | None = None
    columns: int | None = None  # grid columns; default: a near-square grid
    row_labels: list[str] | None = None  # written left of each row of the grid (a class per row)

    def grid(self, padding: int = 2):
        from .images import make_grid

        columns = self.columns or max(1, math.ceil(math.sqrt(len(self.images))))
        return make_grid(self.images, columns, padding, self.row_labels)


Progress = Callable[[float, str], None]  # fraction done in [0, 1], a short description


def no_progress(fraction: float, description: str = "") -> None:
    pass


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class DataRole:
    """A dataset that training takes. Role "data" is the CLI's ``--data``; a role "data_b"
    becomes ``--data-b``."""

    name: str
    help: str

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


DATA = DataRole("data", "training images: a dataset name (mnist, cifar10, ...), a folder of "
                        "images (sub-folders become class labels) or a folder of MNIST IDX files")


# --------------------------------------------------------------------------- the variant


class Variant:
    """Subclass this, set the class attributes, implement the methods marked required."""

    name: ClassVar[str]  # short, lower case: the tab's id, API endpoint and CLI argument
    title: ClassVar[str]
    paper: ClassVar[str]  # "Authors, Title, Venue Year" + link, shown in the tab
    description: ClassVar[str] = ""  # one paragraph for the tab, markdown
    Config: ClassVar[type]  # a dataclass; its fields are the networks' and optimisers' settings

    inference_networks: ClassVar[tuple[str, ...]] = ("generator",)
    data_roles: ClassVar[tuple[DataRole, ...]] = (DATA,)
    default_batch_size: ClassVar[int] = 64  # the paper's, where it fits a CPU; --batch-size overrides
    # The networks whose input images --diffaugment augments (ganzoo.augment); None: every network
    # whose name starts with "discriminator". () where no discriminator judges plain images (BEGAN).
    augmented_networks: ClassVar[tuple[str, ...] | None] = None
    # Inference that optimises (style transfer) needs autograd; all others run in inference mode.
    inference_needs_grad: ClassVar[bool] = False
    # Hub repo (id or id@revision) of the published default weights, tried before the bundled ones.
    default_repo: ClassVar[str | None] = None
    tags: ClassVar[tuple[str, ...]] = ()
    pipeline_tag: ClassVar[str] = "unconditional-image-generation"  # the Hub's task of this variant
    # What still works without trained weights, in words (style transfer's Gatys mode); None:
    # nothing, and untrained weights are announced as random noise.
    untrained_mode: ClassVar[str | None] = None
    # The weights folder shipped inside the plugin's package, if any: for example
    # ``importlib.resources.files(__package__) / "weights"``. Tried after ``default_repo``;
    # declared by each class itself (see ``bundled_weights``).
    bundled: ClassVar[Path | None] = None
    # Named models shipped with the plugin, display name -> weights folder, shown in the tab's
    # model picker and taken by --weights NAME: ``{"MNIST digits": bundled, "Emoji": files(...) /
    # "weights" / "emoji"}``. ``bundled`` stays the default; without it, the first model is.
    # Declared by each class itself, as ``bundled`` (see ``bundled_models``).
    models: ClassVar[dict[str, Path] | None] = None

    def __init__(self, config=None):
        self.config = config if config is not None else self.Config()

    # ---- configuration -----------------------------------------------------------------
    @classmethod
    def tiny_config(cls):
        """A config small enough for the conformance suite to train on CPU in seconds."""
        raise NotImplementedError(f"{cls.__name__} must define tiny_config()")

    @classmethod
    def bundled_weights(cls) -> Path | None:
        """The folder of weights shipped with the plugin (config.json + model.safetensors), from
        the class's own ``bundled`` attribute; None when it ships none. A subclass does not
        inherit its parent's weights: they were trained for the parent's networks."""
        folder = cls.__dict__.get("bundled")
        if folder is None:
            return next(iter(cls.bundled_models().values()), None)
        return Path(str(folder))

    @classmethod
    def bundled_models(cls) -> dict[str, Path]:
        """The named models shipped with the plugin (display name -> folder): the class's own
        ``models``, else its ``bundled`` folder named "bundled", else none."""
        models = cls.__dict__.get("models")
        if models:
            return {str(name): Path(str(folder)) for name, folder in models.items()}
        folder = cls.__dict__.get("bundled")
        return {} if folder is None else {"bundled": Path(str(folder))}

    # ---- networks and training (required) -----------------------------------------------
    def build_networks(self) -> dict:
        """All networks, by name: {"generator": ..., "discriminator": ...}."""
        raise NotImplementedError

    def build_optimizers(self, nets: dict) -> dict:
        """One optimiser per name: {"generator": Adam(...), ...}."""
        raise NotImplementedError

    def init_train_state(self) -> dict:
        """The variant's own training state beyond weights and optimisers (BEGAN's k_t, an
        image pool). It is checkpointed, so keep it to tensors and plain Python values."""
        return {}

    def train_step(self, ctx) -> dict:
        """One generator step, with whatever discriminator steps precede it. Returns losses
        and other figures to log: tensors of one value (``loss.detach()``), which the loop
        keeps on the device and reads every --log-every steps, or floats. In data-parallel
        training ``ctx.nets`` are wrapped in DistributedDataParallel: call each network, not
        its parts, and average over the processes any state they must share
        (``ctx.mean_across_ranks``)."""
        raise NotImplementedError

    def prepare_data(self, sources: dict[str, str]) -> dict:
        """Load each data role's source as a ``ganzoo.data.ImageSet``. Override to adapt the
        config to the data (class names) or to load something else."""
        from .data import load_images

        return {role: load_images(src, self.config.image_size, self.config.channels)
                for role, src in sources.items()}

    def preview(self, nets: dict, batches: dict, seed: int = 0):
        """Images in [-1, 1] (N, C, H, W) for the sample grids written during training.
        ``batches`` holds a fixed batch of each data role. Default: the generator on fixed noise."""
        import torch

        from .sampling import noise

        device = next(nets["generator"].parameters()).device
        z = noise(64, self.config.latent_dim, seed, device)
        with torch.no_grad():
            return nets["generator"](z)

    # ---- inference ---------------------------------------------------------------------
    def inputs(self) -> list[Input]:
        return [Seed(), count_input()]

    def check_inputs(self, values: dict) -> dict:
        """Every input's value (None or missing: its default), checked against its declaration
        by ``Input.check``: what ``Model.generate`` passes to ``generate``. Override to add checks
        that involve several inputs."""
        return check_values(self.inputs(), values, self.name)

    def generate(self, model, progress: Progress = no_progress, **values) -> Generated:
        """Images for ``values``, which ``check_inputs`` has checked (via ``Model.generate``)."""
        raise NotImplementedError

    def output_size(self, values: dict) -> tuple[int, int]:
        """(width, height) of each image ``generate`` returns for these input values."""
        return (self.config.image_size, self.config.image_size)

    def examples(self) -> list[dict]:
        """Inputs to try in one click, offered under the tab's inputs: one dict of input values per
        example (images as file paths; inputs left out keep their values), and optionally
        ``"model"``, the name of the model it is for (``models``), which the click picks too.
        Default: none."""
        return []

    # ---- evaluation ------------------------------------------------------------------------
    # The figure that picks the best checkpoint during training, and whether lower is better.
    selection_metric: ClassVar[tuple[str, str]] = ("fd", "min")
    # The data role whose images are the real reference of the quality figures.
    evaluation_reference_role: ClassVar[str] = "data"

    def evaluation_batches(self, model, n: int, seed: int, data=None):
        """Yield (images in [-1, 1], labels they should have or None) until about n images,
        for ``ganzoo.evaluation``. ``data`` is an ImageSet for variants that translate images."""
        raise NotImplementedError(f"{self.name} does not say how to evaluate it")

    # ---- importing and publishing ---------------------------------------------------------
    @classmethod
    def import_checkpoint(cls, path: Path, out: Path) -> Path:
        """Convert a checkpoint published by another project into a ganzoo weights folder
        (``ganzoo import NAME PATH --out DIR``). Optional."""
        raise NotImplementedError(f"{cls.name} cannot import checkpoints from other projects")

    def card_metadata(self) -> dict:
        """Extra model-card metadata (merged into the card's YAML header)."""
        return {}

    # ---- helpers --------------------------------------------------------------------------
    def config_dict(self) -> dict:
        return dataclasses.asdict(self.config)

    @classmethod
    def config_from_dict(cls, values: dict):
        """Rebuild the config from config.json; unknown fields are an error, not ignored."""
        fields = {f.name: f for f in dataclasses.fields(cls.Config)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise UserError(
                f"config has fields that {cls.name}'s config does not know: {', '.join(unknown)}. "
                f"Known fields: {', '.join(fields)}. Was it written for another variant or version?"
            )
        import typing

        try:
            hints = typing.get_type_hints(cls.Config)
        except Exception:  # an annotation that does not resolve: values go unchecked
            hints = {}
        converted = {}
        for key, value in values.items():
            if key in hints:  # checked, and JSON's lists made tuples where the field is one
                value = _checked_field(key, value, hints[key], fields[key])
            elif isinstance(value, list) and isinstance(fields[key].default, tuple):
                value = tuple(value)
            converted[key] = value
        return cls.Config(**converted)


class _Mismatch(Exception):
    pass


def _checked_field(name: str, value, hint, field_: dataclasses.Field):
    """A config value as its annotation says (int, float, bool, str, tuple[...], list, dict,
    X | None; JSON's lists become tuples, whole numbers floats), else UserError naming the
    field. An int may not fall below ``field.metadata["minimum"]``, which defaults to 1 where
    the default is positive (sizes, counts) and 0 where it is 0; ``"minimum": None`` allows any."""
    try:
        value = _conform(value, hint)
    except _Mismatch:
        raise UserError(f"config field {name} must be {_describe(hint)}, not {value!r} "
                        f"({type(value).__name__})") from None
    default = field_.default
    implied = None
    if isinstance(default, int) and not isinstance(default, bool) and default >= 0:
        implied = 1 if default > 0 else 0
    minimum = field_.metadata.get("minimum", implied)
    if minimum is not None and isinstance(value, (int, float)) and not isinstance(value, bool) and value < minimum:
        raise UserError(f"config field {name} must be at least {minimum}, not {value!r}")
    return value


def _conform(value, hint):
    import types
    import typing

    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                return _conform(value, option)
            except _Mismatch:
                pass
        raise _Mismatch
    if hint is type(None):
        if value is None:
            return None
        raise _Mismatch
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _Mismatch
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _Mismatch
    if hint is str:
        if isinstance(value, str):
            return value
        raise _Mismatch
    if hint is tuple or origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_conform(v, args[0]) for v in value)
        if args and len(args) != len(value):
            raise _Mismatch
        return tuple(_conform(v, a) for v, a in zip(value, args)) if args else tuple(value)
    if hint is list or origin is list:
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        return [_conform(v, args[0]) for v in value] if args else list(value)
    if hint is dict or origin is dict:
        if not isinstance(value, dict):
            raise _Mismatch
        return {_conform(k, args[0]): _conform(v, args[1]) for k, v in value.items()} if args else value
    return value  # any other annotation: not checked


def _describe(hint) -> str:
    return hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")


@dataclass
class Model:
    """A variant with its inference networks loaded, ready to generate."""

    variant: Variant
    nets: dict
    device: Any
    source: str  # where the weights came from, in words, shown in the tab
    is_random: bool = False
    extras: dict = field(default_factory=dict)  # anything else a variant loaded (VGG features)

    @property
    def config(self):
        return self.variant.config

    def generate(self, progress: Progress = no_progress, **values) -> Generated:
        """The variant's images for these input values (None or missing: the default). Every
        value is checked against its declared input first, so the CLI and the Python API
        keep to the bounds the app's components show."""
        import torch

        checked = self.variant.check_inputs(values)
        with torch.inference_mode(not self.variant.inference_needs_grad):
            return self.variant.generate(self, progress=progress, **checked)


class NoiseToImage(Variant):
    """A variant whose generator maps ``config.latent_dim`` Gaussian noise to images: the seed,
    the number of images and the truncation are its inputs, and ``walk`` animates the way from
    one seed's image to another's. DCGAN, WGAN-GP, LSGAN, WGAN, BEGAN and the MLP GAN."""

    def inputs(self) -> list[Input]:
        """Seed, number and truncation; no truncation for a subclass whose own ``generate``
        does not take it (written before there was one)."""
        import inspect

        parameters = inspect.signature(self.generate).parameters
        truncates = "truncation" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())
        return [Seed(), count_input(), *([truncation_input()] if truncates else [])]

    def generate(self, model, progress: Progress = no_progress, seed: int = 0, n: int = 16,
                 truncation: float = 1.0) -> Generated:
        from .images import to_pil_list
        from .sampling import noise

        z = noise(int(n), self.config.latent_dim, int(seed), model.device)
        return Generated(to_pil_list(model.nets["generator"](self.truncate(model, z, truncation))))

    def truncate(self, model, z, psi: float):
        """``z`` scaled toward 0 by ``psi``; a noise mixture's first coordinate, which picks the
        cluster (``NoiseMixture``), stays, so truncation pulls toward the seed's own cluster."""
        from .networks import NoiseMixture
        from .sampling import truncate

        clustered = isinstance(getattr(model.nets["generator"], "noise", None), NoiseMixture)
        return truncate(z, psi, start=1 if clustered else 0)

    def walk_inputs(self) -> list[Input]:
        return [Seed("seed_a", "From seed", "The walk starts at this seed's image."),
                Seed("seed_b", "To seed", "... and ends at this seed's image.", default=1),
                Slider("frames", "Frames", "Images in the animation, both ends included.", 32, 2, 120, 1),
                truncation_input()]

    def walk(self, model, **values) -> list:
        """The frames of a walk through noise space from ``seed_a``'s noise to ``seed_b``'s, by
        spherical interpolation (``ganzoo.sampling.slerp``), as PIL images: frame 0 is the first
        image ``generate(seed=seed_a)`` draws, the last frame ``seed_b``'s. Values are checked
        against ``walk_inputs``."""
        import torch

        from .images import to_pil_list
        from .sampling import noise, slerp

        values = check_values(self.walk_inputs(), values, f"{self.name}'s walk")
        ends = [noise(1, self.config.latent_dim, values[seed], "cpu")[0] for seed in ("seed_a", "seed_b")]
        z = slerp(*ends, torch.linspace(0, 1, values["frames"])).to(model.device)
        with torch.inference_mode():
            return to_pil_list(model.nets["generator"](self.truncate(model, z, values["truncation"])))

    def evaluation_batches(self, model, n: int, seed: int, data=None, batch_size: int = 500):
        from .sampling import noise

        for start in range(0, n, batch_size):
            z = noise(min(batch_size, n - start), self.config.latent_dim, seed * 1_000_003 + start, model.device)
            yield model.nets["generator"](z), None
