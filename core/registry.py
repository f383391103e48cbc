"""The plugin manager and the registry of variants it collects.

Built-in plugins are listed in one tuple and loaded exactly like third-party ones: each is
a module that implements ``register_variants``. Third-party plugins are found through the
entry-point group ``ganzoo``; one that fails to import is reported as a warning and the
rest load (set ``GANZOO_RAISE_PLUGIN_ERRORS=1`` to get the traceback while writing one).
A variant name that two plugins register is a warning too: the built-in wins, and two third
parties that clash are both skipped (``conflicts()`` lists them for ``ganzoo list``).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import os
import warnings
from dataclasses import dataclass

import pluggy

from . import hookspecs
from .errors import UserError

BUILTIN_PLUGINS = (
    "ganzoo.plugins.gan",
    "ganzoo.plugins.dcgan",
    "ganzoo.plugins.wgan",
    "ganzoo.plugins.wgan_gp",
    "ganzoo.plugins.lsgan",
    "ganzoo.plugins.began",
    "ganzoo.plugins.cgan",
    "ganzoo.plugins.cyclegan",
    "ganzoo.plugins.style_transfer",
)

ENTRY_POINT_GROUP = "ganzoo"
RAISE_ERRORS_ENV = "GANZOO_RAISE_PLUGIN_ERRORS"


class PluginWarning(UserWarning):
    """A plugin could not be loaded; the others still are."""


class UnknownVariantError(UserError):
    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return self.args[0]


class DuplicateVariantError(UserError):
    """Raised for a name conflict only when GANZOO_RAISE_PLUGIN_ERRORS is set; otherwise a
    conflict is a warning and the variant is skipped (see ``collect_variants``)."""


class PluginError(UserError):
    """A plugin's own code failed (building a variant's networks, say). The message names the
    plugin; the rest of ganzoo still works."""


@dataclass(frozen=True)
class Conflict:
    """Several plugins registered variants of one name: the built-in is kept, and third-party
    newcomers are skipped; when only third parties clash, all of them are skipped."""

    name: str
    plugins: tuple[str, ...]  # every plugin that registered the name, in registration order
    kept: str | None  # the plugin whose variant is used, or None

    def __str__(self) -> str:
        who = " and ".join(repr(p) for p in self.plugins)
        skipped = ", ".join(repr(p) for p in self.plugins if p != self.kept)
        outcome = f"the built-in {self.kept!r} is used and {skipped} skipped" if self.kept else "none of them is used"
        return (f"{len(self.plugins)} plugins register a variant named {self.name!r}: {who}; {outcome}. "
                f"Uninstall one of them, or rename the variant in one plugin.")


@dataclass(frozen=True)
class Registration:
    variant: type  # a ganzoo.variant.Variant subclass
    plugin: str  # the name of the plugin that registered it


def _raise_plugin_errors() -> bool:
    return os.environ.get(RAISE_ERRORS_ENV, "") not in ("", "0", "false", "False")


def _warn_broken_plugin(name: str, error: BaseException) -> None:
    if _raise_plugin_errors():
        raise error
    warnings.warn(
        f"ganzoo plugin {name!r} could not be loaded and is skipped: "
        f"{type(error).__name__}: {error}. "
        f"Set {RAISE_ERRORS_ENV}=1 to see the full traceback.",
        PluginWarning,
        stacklevel=3,
    )


def get_plugin_manager(builtin_plugins=BUILTIN_PLUGINS, load_entry_points=True) -> pluggy.PluginManager:
    pm = pluggy.PluginManager("ganzoo")
    pm.add_hookspecs(hookspecs)
    for module_name in builtin_plugins:
        try:
            pm.register(importlib.import_module(module_name), name=module_name)
        except ModuleNotFoundError as error:
            # A built-in listed before its file exists is not worth a warning at each start.
            if error.name != module_name:
                _warn_broken_plugin(module_name, error)
        except Exception as error:
            _warn_broken_plugin(module_name, error)
    if load_entry_points:
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if pm.get_plugin(entry_point.name) is not None or pm.is_blocked(entry_point.name):
                continue
            try:
                pm.register(entry_point.load(), name=entry_point.name)
            except Exception as error:
                _warn_broken_plugin(entry_point.name, error)
    pm.check_pending()
    return pm


def collect_variants(pm: pluggy.PluginManager | None = None,
                     conflicts: list[Conflict] | None = None) -> dict[str, Registration]:
    """Every registered variant by name, in registration order. A name that several plugins
    register is a warning, not a failure (one bad plugin must not stop the app or the CLI):
    see ``Conflict``. Pass a list as ``conflicts`` to get them."""
    pm = pm or get_plugin_manager()
    claims: dict[str, list[Registration]] = {}
    # Call each implementation on its own so that we know which plugin registered what,
    # and so that one plugin raising does not hide the others' variants.
    for impl in pm.hook.register_variants.get_hookimpls():
        registered = []

        def register(variant, _plugin=impl.plugin_name, _registered=registered):
            name = getattr(variant, "name", None)
            if not isinstance(name, str) or not name:
                raise TypeError(f"plugin {_plugin!r} registered {variant!r}, which has no `name`")
            _registered.append(Registration(variant, _plugin))

        try:
            impl.function(register=register)
        except Exception as error:  # what it registered before failing still counts
            _warn_broken_plugin(impl.plugin_name, error)
        for registration in registered:
            claims.setdefault(registration.variant.name, []).append(registration)

    found: dict[str, Registration] = {}
    for name, registrations in claims.items():
        if len(registrations) == 1:
            found[name] = registrations[0]
            continue
        builtin = next((r for r in registrations if r.plugin in BUILTIN_PLUGINS), None)
        conflict = Conflict(name, tuple(r.plugin for r in registrations), builtin and builtin.plugin)
        if _raise_plugin_errors():
            raise DuplicateVariantError(str(conflict))
        warnings.warn(str(conflict), PluginWarning, stacklevel=2)
        if conflicts is not None:
            conflicts.append(conflict)
        if builtin is not None:
            found[name] = builtin
    return found


_cache: dict[str, Registration] | None = None
_conflicts: list[Conflict] = []


def registry(refresh: bool = False) -> dict[str, Registration]:
    """The process-wide registry, built on first use."""
    global _cache, _conflicts
    if _cache is None or refresh:
        found: list[Conflict] = []
        _cache = collect_variants(conflicts=found)
        _conflicts = found
    return _cache


def conflicts() -> list[Conflict]:
    """The name conflicts met while building the process-wide registry (``ganzoo list``
    shows them)."""
    registry()
    return list(_conflicts)


def plugin_of(variant_class: type) -> str:
    """The plugin that registered this variant class (its module when none did)."""
    registration = registry().get(getattr(variant_class, "name", None))
    if registration is not None and registration.variant is variant_class:
        return registration.plugin
    return variant_class.__module__


def load_variant_model(variant_class: type, weights: str | None = None, device="cpu", plugin: str | None = None):
    """``ganzoo.weights.load_model``, with a failure of the plugin's own code (networks that
    cannot be built, say) turned into a PluginError that names the plugin (``plugin``, else
    the one that registered the class), so that the app shows a message and the CLI prints
    one line. A UserError passes through unchanged."""
    from .weights import load_model

    with blaming_plugin(variant_class, "loaded", plugin):
        return load_model(variant_class, weights, device)


@contextlib.contextmanager
def blaming_plugin(variant_class: type, doing: str, plugin: str | None = None):
    """Run a plugin's own code (building networks, loading a model): an exception from it that
    is not a UserError becomes a PluginError naming the variant and its plugin."""
    try:
        yield
    except UserError:
        raise
    except Exception as error:
        if _raise_plugin_errors():
            raise
        raise PluginError(
            f"variant {variant_class.name!r} from plugin {plugin or plugin_of(variant_class)!r} could not be "
            f"{doing}: {type(error).__name__}: {error}. Update or uninstall that plugin, or report it to "
            f"its author; set {RAISE_ERRORS_ENV}=1 to see the full traceback."
        ) from error


def get_variant(name: str, variants: dict[str, Registration] | None = None) -> type:
    variants = registry() if variants is None else variants
    try:
        return variants[name].variant
    except KeyError:
        known = ", ".join(sorted(variants)) or "(none: no plugin is installed)"
        raise UnknownVariantError(
            f"unknown variant {name!r}. Known variants: {known}. "
            f"Run `ganzoo list` to see them, or install the plugin that provides {name!r}."
        ) from None
