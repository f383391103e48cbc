"""The registry with throwaway plugins: found through a real entry point (a dist-info folder on
sys.path, which is what `pip install` leaves), broken, duplicated, unknown, misspelt."""

import sys
import textwrap
import warnings

import pytest
from ganzoo import registry as plugins
from ganzoo.errors import UserError
from ganzoo.registry import (
    Conflict,
    DuplicateVariantError,
    PluginError,
    PluginWarning,
    UnknownVariantError,
    collect_variants,
    get_plugin_manager,
    get_variant,
    load_variant_model,
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


CLAIMS_DCGAN = """
    from ganzoo.hookspecs import hookimpl
    from ganzoo.plugins.dcgan import DCGAN

    class AnotherDCGAN(DCGAN):
        title = "An impostor"  # same name, "dcgan"

    class Mine(DCGAN):
        name = "mine"

    @hookimpl
    def register_variants(register):
        register(AnotherDCGAN)
        register(Mine)
"""


def clashing(name: str) -> str:
    return f"""
        from ganzoo.hookspecs import hookimpl
        from ganzoo.plugins.dcgan import DCGAN

        class Clash(DCGAN):
            name = "clash"
            title = "{name}"

        @hookimpl
        def register_variants(register):
            register(Clash)
    """


def test_a_third_party_that_reuses_a_builtin_name_is_skipped_and_the_rest_works(installed_plugin, monkeypatch):
    monkeypatch.delenv(plugins.RAISE_ERRORS_ENV, raising=False)
    installed_plugin("ganzoo_test_dupe", CLAIMS_DCGAN, entry_name="dupe")
    found = []
    with pytest.warns(PluginWarning, match=r"'dcgan': 'ganzoo.plugins.dcgan' and 'dupe'; the built-in "
                                           r"'ganzoo.plugins.dcgan' is used and 'dupe' skipped\. Uninstall one"):
        variants = collect_variants(get_plugin_manager(), conflicts=found)
    assert variants["dcgan"].plugin == "ganzoo.plugins.dcgan" and variants["dcgan"].variant.title == "DCGAN"
    assert variants["mine"].plugin == "dupe" and "wgan_gp" in variants  # everything else works
    assert found == [Conflict("dcgan", ("ganzoo.plugins.dcgan", "dupe"), "ganzoo.plugins.dcgan")]


def test_two_third_parties_that_clash_are_both_skipped(installed_plugin, monkeypatch):
    monkeypatch.delenv(plugins.RAISE_ERRORS_ENV, raising=False)
    installed_plugin("ganzoo_test_clash_a", clashing("A"), entry_name="clash-a")
    installed_plugin("ganzoo_test_clash_b", clashing("B"), entry_name="clash-b")
    found = []
    with pytest.warns(PluginWarning, match=r"'clash': 'clash-[ab]' and 'clash-[ab]'; none of them is used"):
        variants = collect_variants(get_plugin_manager(), conflicts=found)
    assert "clash" not in variants and "dcgan" in variants
    assert [(c.name, sorted(c.plugins), c.kept) for c in found] == [("clash", ["clash-a", "clash-b"], None)]


def test_a_conflict_is_an_error_for_plugin_authors(installed_plugin, monkeypatch):
    monkeypatch.setenv(plugins.RAISE_ERRORS_ENV, "1")
    installed_plugin("ganzoo_test_dupe2", CLAIMS_DCGAN, entry_name="dupe2")
    with pytest.raises(DuplicateVariantError, match="'ganzoo.plugins.dcgan' and 'dupe2'"):
        collect_variants(get_plugin_manager())


@pytest.fixture
def process_registry():
    """Rebuild the process-wide registry after the test (requested before installed_plugin,
    so that this runs once the throwaway plugin is gone)."""
    yield
    plugins.registry(refresh=True)


def test_the_cli_works_with_a_conflicting_plugin_installed(process_registry, installed_plugin, monkeypatch, capsys):
    """The process-wide registry (which the CLI and the app use) skips the newcomer and keeps
    the conflict for `ganzoo list`."""
    from ganzoo import cli

    monkeypatch.delenv(plugins.RAISE_ERRORS_ENV, raising=False)
    installed_plugin("ganzoo_test_dupe3", CLAIMS_DCGAN, entry_name="dupe3")
    with pytest.warns(PluginWarning):
        plugins.registry(refresh=True)
    assert [c.plugins for c in plugins.conflicts()] == [("ganzoo.plugins.dcgan", "dupe3")]
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines()}
    assert "ganzoo.plugins.dcgan" in rows["dcgan"] and "dupe3" in rows["mine"]
    assert "conflict: 2 plugins register a variant named 'dcgan': 'ganzoo.plugins.dcgan' and 'dupe3'" in out


def broken_networks_variant() -> type:
    """A DCGAN whose networks cannot be built (a plugin's bug), with no weights of its own."""
    from ganzoo.plugins.dcgan import DCGAN

    class Broken(DCGAN):
        name = "broken_networks"
        bundled = None

        def build_networks(self):
            raise RuntimeError("no kernels for this layer")

    return Broken


def test_the_cli_says_in_one_line_that_a_plugins_networks_fail(process_registry, monkeypatch, capsys):
    from ganzoo import cli

    Broken = broken_networks_variant()
    monkeypatch.delenv(plugins.RAISE_ERRORS_ENV, raising=False)
    monkeypatch.setitem(plugins.registry(), "broken_networks", plugins.Registration(Broken, "broken-plugin"))
    with pytest.warns(UserWarning, match="untrained"):
        assert cli.main(["sample", "broken_networks", "-o", "unused.png"]) == 2
    error = capsys.readouterr().err
    assert "ganzoo: error: variant 'broken_networks' from plugin 'broken-plugin' could not be loaded" in error
    assert "Traceback" not in error


def test_a_variant_whose_networks_fail_to_build_is_a_plugin_error_naming_the_plugin(monkeypatch):
    from ganzoo.plugins.dcgan import DCGAN

    Broken = broken_networks_variant()
    monkeypatch.delenv(plugins.RAISE_ERRORS_ENV, raising=False)
    monkeypatch.delenv("GANZOO_WEIGHTS_BROKEN_NETWORKS", raising=False)
    with pytest.warns(UserWarning, match="untrained"), pytest.raises(PluginError) as error:
        load_variant_model(Broken, plugin="broken-plugin")
    assert isinstance(error.value, UserError)  # the CLI prints it as one line
    assert str(error.value).startswith("variant 'broken_networks' from plugin 'broken-plugin' could not be "
                                       "loaded: RuntimeError: no kernels for this layer")
    assert plugins.plugin_of(DCGAN) == "ganzoo.plugins.dcgan"
    monkeypatch.setenv(plugins.RAISE_ERRORS_ENV, "1")
    with pytest.warns(UserWarning), pytest.raises(RuntimeError, match="no kernels"):
        load_variant_model(Broken)


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


def test_training_a_variant_whose_networks_fail_is_one_error_line(process_registry, monkeypatch, capsys, tmp_path):
    from ganzoo import cli, testing
    from ganzoo.plugins.dcgan import DCGAN

    class Broken(DCGAN):
        name = "broken_networks"

        def build_networks(self):
            raise RuntimeError("no kernels for this layer")

    monkeypatch.delenv(plugins.RAISE_ERRORS_ENV, raising=False)
    monkeypatch.setitem(plugins.registry(), "broken_networks", plugins.Registration(Broken, "broken-plugin"))
    data = testing.make_image_folder(tmp_path / "data", 16, 1)
    status = cli.main(["train", "broken_networks", "--data", str(data), "--out", str(tmp_path / "run"),
                       "--steps", "1", "--quiet", "--image-size", "16"])
    assert status == 2
    error = capsys.readouterr().err
    assert "ganzoo: error: variant 'broken_networks' from plugin 'broken-plugin' could not be trained" in error
    assert "RuntimeError: no kernels for this layer" in error and "Traceback" not in error
