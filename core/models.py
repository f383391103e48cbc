"""A variant's named models: the weights folders it offers by name, in the tab's model picker,
to ``--weights NAME`` and in ``ganzoo list``.

Two kinds, one list per variant:

- shipped with the plugin: the class's ``models`` (display name -> weights folder, the default
  first), or its ``bundled`` folder alone, named "bundled" (``Variant.bundled_models``);
- added while the app runs: the Train tab registers each run it trained (``add_model``), and
  forgets it when the run is deleted or trains again (``remove_model``).

A name is matched exactly, or by its slug (``MNIST digits`` -> ``mnist-digits``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

BUNDLED_ORIGIN = "weights bundled with ganzoo"


@dataclass(frozen=True)
class NamedModel:
    variant: str
    name: str
    folder: Path
    origin: str  # where the weights come from, in words: BUNDLED_ORIGIN, "trained in this app" ...

    @property
    def source(self) -> str:
        """What the weights line says: ``weights bundled with ganzoo, model "MNIST digits"``."""
        return f'{self.origin}, model "{self.name}"'

    def stamp(self) -> int | None:
        """Changes whenever the folder's weights are written again (a run trained further)."""
        try:
            return (self.folder / "config.json").stat().st_mtime_ns
        except OSError:
            return None


_added: dict[str, dict[str, NamedModel]] = {}
_lock = threading.Lock()


def models_of(variant_class: type) -> dict[str, NamedModel]:
    """The variant's models by name: those shipped with it (where their folder holds weights),
    then those added at run time."""
    shipped = {name: NamedModel(variant_class.name, name, folder, BUNDLED_ORIGIN)
               for name, folder in variant_class.bundled_models().items() if (folder / "config.json").exists()}
    with _lock:
        added = dict(_added.get(variant_class.name, {}))
    return {**shipped, **{name: model for name, model in added.items() if name not in shipped}}


def add_model(variant_class: type, name: str, folder: str | Path, origin: str = "trained in this app") -> NamedModel:
    """Offer ``folder`` (config.json + model.safetensors) as the variant's model ``name``;
    a name already taken gets " (2)", " (3)" ... A folder added twice keeps its first name."""
    folder = Path(folder)
    with _lock:
        added = _added.setdefault(variant_class.name, {})
        for model in added.values():
            if model.folder == folder:
                return model
        taken = set(variant_class.bundled_models()) | set(added)
        unique, number = name, 1
        while unique in taken:
            number += 1
            unique = f"{name} ({number})"
        added[unique] = NamedModel(variant_class.name, unique, folder, origin)
        return added[unique]


def remove_model(variant_name: str, folder: str | Path) -> None:
    """Stop offering the model whose weights are in ``folder`` (a run deleted or training again)."""
    folder = Path(folder)
    with _lock:
        added = _added.get(variant_name, {})
        for name in [name for name, model in added.items() if model.folder == folder]:
            del added[name]


def forget_added_models() -> None:
    """Offer only the shipped models again (what a fresh process offers)."""
    with _lock:
        _added.clear()


def find_model(variant_class: type, spec: str) -> NamedModel | None:
    """The variant's model called ``spec``, exactly or by slug; None when none is."""
    from .cli import slug

    models = models_of(variant_class)
    if spec in models:
        return models[spec]
    matches = [model for name, model in models.items() if slug(name) == slug(spec) and slug(spec)]
    return matches[0] if len(matches) == 1 else None


def default_model(variant_class: type) -> NamedModel | None:
    """The shipped model whose folder is the variant's bundled default, if it ships one."""
    bundled = variant_class.bundled_weights()
    for model in models_of(variant_class).values():
        if model.origin == BUNDLED_ORIGIN and model.folder == bundled:
            return model
    return None
