"""A Gradio app served on a free loopback port for the length of a test or module."""

import contextlib
import socket


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served(demo):
    """``demo`` launched as ganzoo launches it (queue, upload limit) on 127.0.0.1; its URL."""
    from ganzoo.app import launch

    port = free_port()
    launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()
