"""ganzoo's Gradio app: one tab per registered variant, built from the registry alone.

    python app.py              # from a checkout (a Space runs exactly this)
    python -m ganzoo.app       # from an installed ganzoo
"""

from __future__ import annotations

import os

# No outbound call at start: Gradio's analytics and the Hub's telemetry stay off. Set before
# gradio and huggingface_hub are imported: they read these once, at import.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import gradio as gr  # noqa: E402

from .compare_tab import build_compare_tab  # noqa: E402
from .registry import registry  # noqa: E402
from .train_tab import browser_state, build_train_tab  # noqa: E402
from .ui import build_tab, header_markdown, model_picker_update  # noqa: E402


# Events waiting in the queue beyond this are refused with "queue is full", not kept
# without bound. Each event's concurrency is set per tab (ui.build_tab).
QUEUE_SIZE = 64
MAX_FILE_SIZE = "32mb"  # an upload larger than this is refused before it is stored
# Results and uploads are deleted from Gradio's cache an hour after they were written.
DELETE_CACHE = (3600, 3600)


def build_app(variants=None, jobs=None) -> gr.Blocks:
    """The app: a tab per variant of ``variants`` (default: every registered one), and the
    Train tab, whose jobs ``jobs`` runs (default: ganzoo.jobs.default_manager())."""
    from .jobs import default_manager

    variants = registry() if variants is None else variants
    with gr.Blocks(title="ganzoo", delete_cache=DELETE_CACHE) as demo:
        gr.Markdown(header_markdown(len(variants)))
        browser = browser_state()
        pickers = {}  # variant class -> its tab's model picker
        with gr.Tabs():
            for name, registration in variants.items():
                with gr.Tab(registration.variant.title, id=name) as tab:
                    picker = build_tab(registration.variant, registration.plugin)
                if picker is not None:  # opening a tab, or the page, lists runs trained meanwhile
                    pickers[registration.variant] = picker
                    tab.select(_refresher([registration.variant]), inputs=picker, outputs=picker,
                               api_visibility="private", queue=False)
            with gr.Tab("Compare", id="compare"):
                build_compare_tab(variants)
            with gr.Tab("Train", id="train"):
                build_train_tab(demo, variants, jobs if jobs is not None else default_manager(), browser)
        if pickers:
            demo.load(_refresher(list(pickers)), inputs=list(pickers.values()), outputs=list(pickers.values()),
                      api_visibility="private", queue=False)
    return demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=1)


def _refresher(variant_classes: list):
    """Each picker's choices as they are now, keeping its value where it is still offered."""
    def refresh(*chosen):
        updates = [model_picker_update(cls, value) for cls, value in zip(variant_classes, chosen)]
        return updates[0] if len(updates) == 1 else updates
    return refresh


def launch(demo: gr.Blocks, **options):
    """``demo.launch`` with ganzoo's upload limit; ``options`` go to ``launch`` (and may
    override it)."""
    return demo.launch(**{"max_file_size": MAX_FILE_SIZE, **options})


def main() -> None:
    launch(build_app(),
           server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
           server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))


if __name__ == "__main__":
    main()
