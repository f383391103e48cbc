"""The registry with throwaway plugins: found through a real entry point (a dist-info folder on
sys.path, which is what `pip install` leaves), broken, duplicated, unknown, misspelt."""

import sys
import textwrap
import warnings

import pytest
from ganzoo import registry as plugins
from ganzoo.registry import (
    DuplicateVariantError,
    PluginWarning,
    UnknownVariantError,
    collect_variants,
    get_plugin_manager,
    get_variant,
)


@pytest.fixture
def installed_plugin(tmp_path):
    """Install a package as pip would (module + dist-info with entry points), without pip."""
    installed = []

    def install(module_name: str, source: str, entry_name: str | None = None):
        (tmp_path / f"{module_name}.py").write_text(textwrap.dedent(source))
        dist = tmp_path / f"{module_name}-0.1.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module_name}\nVersion: 0.1\n")
        (dist / "entry_points.txt").write_text(f"[ganzoo]\n{entry_name or module_name} = {module_name}\n")
        installed.append(module_name)

    sys.path.insert(0, str(tmp_path))
    try:
        yield install
    finally:
        sys.path.remove(str(tmp_path))
        for name in installed:
            sys.modules.pop(name, None)


THIRD_PARTY = """
    from ganzoo.hookspecs import hookimpl
    from ganzoo.plugins.dcgan import DCGAN

    class ThirdParty(DCGAN):
        name = "third_party"
        title = "A third-party variant"

    @hookimpl
    def register_variants(register):
        register(ThirdParty)
"""


def test_builtin_variants_are_registered_by_their_plugin():
    variants = collect_variants()
    assert variants["dcgan"].plugin == "ganzoo.plugins.dcgan"
    assert variants["wgan_gp"].plugin == "ganzoo.plugins.wgan_gp"


def test_third_party_entry_point_registers_a_variant(installed_plugin):
    installed_plugin("ganzoo_test_thirdparty", THIRD_PARTY, entry_name="thirdparty")
    variants = collect_variants(get_plugin_manager())
    assert variants["third_party"].plugin == "thirdparty"
    assert variants["third_party"].variant.title == "A third-party variant"
    assert "dcgan" in variants  # the built-ins are still there


def test_a_plugin_that_fails_to_import_is_a_warning_and_the_rest_load(installed_plugin, monkeypatch):
    monkeypatch.delenv(plugins.RAISE_ERRORS_ENV, raising=False)
    installed_plugin("ganzoo_test_broken", "import a_module_that_does_not_exist\n", entry_name="broken")
    with pytest.warns(PluginWarning, match=r"'broken' could not be loaded.*a_module_that_does_not_exist"):
        variants = collect_variants(get_plugin_manager())
    assert "dcgan" in variants


def test_plugin_errors_can_be_raised_for_plugin_authors(installed_plugin, monkeypatch):
    monkeypatch.setenv(plugins.RAISE_ERRORS_ENV, "1")
    installed_plugin("ganzoo_test_broken2", "raise RuntimeError('boom')\n", entry_name="broken2")
    with pytest.raises(RuntimeError, match="boom"):
        get_plugin_manager()


def test_a_plugin_whose_hook_raises_is_a_warning(installed_plugin, monkeypatch):
    monkeypatch.delenv(plugins.RAISE_ERRORS_ENV, raising=False)
    installed_plugin("ganzoo_test_hookfails", """
        from ganzoo.hookspecs import hookimpl

        @hookimpl
        def register_variants(register):
            raise ValueError("cannot register today")
    """)
    with pytest.warns(PluginWarning, match="cannot register today"):
        variants = collect_variants(get_plugin_manager())
    assert "dcgan" in variants


def test_two_variants_with_the_same_name_name_both_plugins(installed_plugin):
    installed_plugin("ganzoo_test_dupe", """
        from ganzoo.hookspecs import hookimpl
        from ganzoo.plugins.dcgan import DCGAN

        class AnotherDCGAN(DCGAN):
            pass  # same name, "dcgan"

        @hookimpl
        def register_variants(register):
            register(AnotherDCGAN)
    """, entry_name="dupe")
    with pytest.raises(DuplicateVariantError) as error:
        collect_variants(get_plugin_manager())
    assert "ganzoo.plugins.dcgan" in str(error.value) and "'dupe'" in str(error.value)


def test_unknown_variant_lists_the_known_ones():
    variants = collect_variants()
    with pytest.raises(UnknownVariantError) as error:
        get_variant("stylegan9", variants)
    message = str(error.value)
    assert "'stylegan9'" in message
    for name in variants:
        assert name in message
    assert "ganzoo list" in message


def test_a_misspelt_hook_is_caught(installed_plugin):
    installed_plugin("ganzoo_test_typo", """
        from ganzoo.hookspecs import hookimpl

        @hookimpl
        def register_variant(register):  # missing the final s
            pass
    """, entry_name="typo")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(Exception, match="register_variant"):
            get_plugin_manager()
