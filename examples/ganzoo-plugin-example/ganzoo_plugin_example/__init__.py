"""An example ganzoo plugin: one variant, ``example_mlp``, in ``ganzoo_plugin_example.variant``."""
