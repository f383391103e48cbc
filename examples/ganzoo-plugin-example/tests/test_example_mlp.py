"""The plugin's own tests: ganzoo's conformance suite over its variant, and its registration."""

import pytest

from ganzoo.api import testing
from ganzoo_plugin_example import variant


@pytest.mark.parametrize("check", testing.CHECKS, ids=lambda check: check.__name__)
def test_example_mlp_conforms(check, tmp_path):
    check(variant.ExampleMLP, tmp_path)


def test_the_module_registers_the_variant():
    registered = []
    variant.register_variants(register=registered.append)
    assert registered == [variant.ExampleMLP]
