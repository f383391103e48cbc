"""Every registered variant, built-in or installed, passes the conformance suite."""

import pytest
from ganzoo import testing
from ganzoo.registry import registry


@pytest.mark.parametrize("check", testing.CHECKS, ids=lambda check: check.__name__.removeprefix("check_"))
@pytest.mark.parametrize("name", sorted(registry()))
def test_variant_conforms(name, check, tmp_path):
    check(registry()[name].variant, tmp_path)
