"""ganzoo: a zoo of GANs behind one Gradio app.

The installed package ``ganzoo`` is the repository's ``core/`` (the platform: hook spec,
registry, variant contract, training loop, data, losses, Hub I/O, CLI and app), with the
built-in variants of ``plugins/`` as ``ganzoo.plugins``. Plugin authors import from
``ganzoo.api`` only; everything else may change.
"""

__version__ = "0.1.0"
