"""Test-wide setup: everything stays on this machine.

The Hub endpoint must be set before huggingface_hub is imported (it reads its constants at
import time), so it is chosen here, at collection, with a free loopback port; the
`hub` fixture starts the project's fake Hub server on that same port.
"""

import os
import socket
import tempfile


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


HUB_PORT = _free_loopback_port()
os.environ["HF_ENDPOINT"] = f"http://127.0.0.1:{HUB_PORT}"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
os.environ["HF_HUB_ETAG_TIMEOUT"] = "5"
# A private cache: never the user's, never shared between test runs.
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="ganzoo-test-hf-")
os.environ.pop("HF_TOKEN", None)
os.environ.pop("HF_HUB_OFFLINE", None)
# The app's training jobs (ganzoo.jobs): never the user's folder.
os.environ["GANZOO_JOBS"] = tempfile.mkdtemp(prefix="ganzoo-test-jobs-")
# Bundled and Hub default weights are resolved only when a test asks for it.
os.environ.setdefault("GANZOO_NO_DEFAULT_HUB", "1")


import network_guard  # noqa: E402
import pytest  # noqa: E402  (the environment above must be set before anything else is imported)

network_guard.install()

import torch  # noqa: E402

# The tests' networks are tiny: one thread avoids thread hand-offs that cost more than the
# arithmetic (measured: a tiny training step 0.017 s on one thread, 0.94 s on two busy ones).
torch.set_num_threads(1)

from hub_server import FakeHub  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _models_added_stay_in_their_module():
    """Runs trained in a module's app join the process-wide model pickers; the next module
    starts from the shipped models only, as a fresh app would."""
    yield
    from ganzoo.models import forget_added_models

    forget_added_models()


@pytest.fixture(scope="session")
def hub(tmp_path_factory):
    """The fake Hub on HUB_PORT (where HF_ENDPOINT points), shared by the whole session."""
    server = FakeHub(HUB_PORT, tmp_path_factory.mktemp("hub")).start()
    yield server
    server.stop()
