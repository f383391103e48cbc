"""ganzoo's Gradio app from a checkout: ``python app.py`` (http://127.0.0.1:7860).

On Hugging Face Spaces this file is the entry point (README front matter: app_file). A Space
installs requirements.txt but never the project itself, so when no ``ganzoo`` is installed
the checkout's ``core/`` is imported as the package ``ganzoo`` and ``plugins/`` as
``ganzoo.plugins``: the same names a wheel installs (pyproject.toml's package-dir).
"""

import importlib.util
import sys
from pathlib import Path


def import_checkout_as_ganzoo(root: Path) -> None:
    for name, folder in (("ganzoo", root / "core"), ("ganzoo.plugins", root / "plugins")):
        spec = importlib.util.spec_from_file_location(name, folder / "__init__.py",
                                                      submodule_search_locations=[str(folder)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    sys.modules["ganzoo"].plugins = sys.modules["ganzoo.plugins"]


if importlib.util.find_spec("ganzoo") is None:
    import_checkout_as_ganzoo(Path(__file__).resolve().parent)

from ganzoo.app import build_app, main  # noqa: E402, F401  (build_app: for `from app import build_app`)

if __name__ == "__main__":
    main()
