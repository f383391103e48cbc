"""The one hook a ganzoo plugin implements.

A plugin module (built in, or a third-party package declared under the entry-point group
``ganzoo``) implements :func:`register_variants`; everything a variant does is a method
on the variant class, called by the core, never a hook of its own.
"""

import pluggy

hookspec = pluggy.HookspecMarker("ganzoo")
hookimpl = pluggy.HookimplMarker("ganzoo")


@hookspec
def register_variants(register):
    """Register GAN variants: call ``register(VariantClass)`` once for each
    :class:`ganzoo.variant.Variant` subclass this plugin provides."""
