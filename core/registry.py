"""The plugin manager and the registry of variants it collects.

Built-in plugins are listed in one tuple and loaded exactly like third-party ones: each is
a module that implements ``register_variants``. Third-party plugins are found through the
entry-point group ``ganzoo``; one that fails to import is reported as a warning and the
rest load (set ``GANZOO_RAISE_PLUGIN_ERRORS=1`` to get the traceback while writing one).
"""

from __future__ import annotations

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
    pass


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


def collect_variants(pm: pluggy.PluginManager | None = None) -> dict[str, Registration]:
    """Every registered variant by name, in registration order."""
    pm = pm or get_plugin_manager()
    found: dict[str, Registration] = {}
    # Call each implementation on its own so that we know which plugin registered what,
    # and so that one plugin raising does not hide the others' variants.
    for impl in pm.hook.register_variants.get_hookimpls():

        def register(variant, _plugin=impl.plugin_name):
            name = getattr(variant, "name", None)
            if not isinstance(name, str) or not name:
                raise TypeError(f"plugin {_plugin!r} registered {variant!r}, which has no `name`")
            if name in found:
                raise DuplicateVariantError(
                    f"two plugins register a variant named {name!r}: "
                    f"{found[name].plugin!r} and {_plugin!r}. Uninstall one of them, "
                    f"or rename the variant in one plugin."
                )
            found[name] = Registration(variant, _plugin)

        try:
            impl.function(register=register)
        except DuplicateVariantError:
            raise
        except Exception as error:
            _warn_broken_plugin(impl.plugin_name, error)
    return found


_cache: dict[str, Registration] | None = None


def registry(refresh: bool = False) -> dict[str, Registration]:
    """The process-wide registry, built on first use."""
    global _cache
    if _cache is None or refresh:
        _cache = collect_variants()
    return _cache


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
