"""ganzoo's platform: hook spec, registry, variant contract, training loop, data, losses,
Hub I/O and the CLI. Variants live in plugins (built-in ones in `plugins/`)."""

__version__ = "0.1.0"
