"""The Train tab: choose a variant, data and settings; start, watch, stop, resume; then use,
download or publish the model. The work is ganzoo.jobs's (a ``ganzoo train`` child process
per job); this module only draws it.

Data: the sets found under the data root (``GANZOO_DATA``; in a checkout, ``../shared/data``
beside it), or an uploaded .zip of images (ganzoo.uploads), one per data role (CycleGAN's
two domains). A page knows its browser by an id kept in the browser (``gr.BrowserState``):
a reload or a second tab shows that browser's newest job, and a polling ``gr.Timer`` reads
the job's run folder every few seconds.

API (gradio_client): ``/train_start`` (the tab's inputs; the first is the browser id, any
string the caller keeps), ``/train_status``, ``/train_stop``, ``/train_resume`` (each takes
that id), ``/train_download`` (the model as a zip) and ``/train_push``.
"""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
import zipfile
from pathlib import Path

import gradio as gr

from .errors import UserError
from .jobs import ACTIVE, Job, JobManager

UPLOAD = "upload a .zip of images"
# (label, path under the data root, image size and channels it suits)
KNOWN_SETS = (
    ("MNIST digits (10,000, 28x28 grey)", "mnist", 28, 1),
    ("Emoji, Twemoji style (1,519, 64x64 colour)", "emoji/twemoji/train", 64, 3),
    ("Emoji, Noto style (1,519, 64x64 colour)", "emoji/noto/train", 64, 3),
    ("UCI digits (1,797, 8x8 grey framed to 28x28)", "uci-digits/digits.csv.gz", 28, 1),
)
CONFIG_FIELDS = ("lr", "image_size", "channels", "width")  # shown where the variant's config has them
POLL_SECONDS = 2
BROWSER_KEY = "ganzoo-train-browser"
PLOT_POINTS = 400  # per curve; a long run is thinned to this many


def data_root() -> Path | None:
    if os.environ.get("GANZOO_DATA"):
        return Path(os.environ["GANZOO_DATA"]).expanduser()
    beside = Path(__file__).resolve().parent.parent.parent / "shared" / "data"  # a checkout's ../shared/data
    return beside if beside.is_dir() else None


def bundled_sets() -> dict[str, tuple[Path, int, int]]:
    """The known data sets present under the data root: label -> (path, size, channels)."""
    root = data_root()
    if root is None:
        return {}
    return {label: (root / path, size, channels) for label, path, size, channels in KNOWN_SETS
            if (root / path).exists()}


def default_steps() -> int:
    import torch

    return 2000 if torch.cuda.is_available() else 500


def defaults(variant_class) -> dict:
    """The settings the tab shows for a variant: its own defaults, and few steps on a CPU."""
    config = dataclasses.asdict(variant_class.Config())
    values = {"steps": default_steps(), "batch_size": variant_class.default_batch_size,
              "diffaugment": False, "sample_every": 25, "checkpoint_every": 100}
    values.update({name: config[name] for name in CONFIG_FIELDS if name in config})
    return values


# --------------------------------------------------------------------------- starting a job


def _whole(name: str, value, low: int, high: int) -> int:
    if value is None or not float(value).is_integer() or not low <= value <= high:
        raise UserError(f"{name} must be a whole number from {low:,} to {high:,}, not {value!r}")
    return int(value)


def train_flags(variant_class, values: dict) -> list[str]:
    """The ``ganzoo train`` flags for the tab's settings, checked (a config the variant refuses
    is refused here, before anything is queued)."""
    sample_every = _whole("sample every", values.get("sample_every"), 1, 1_000_000)
    flags = ["--steps", str(_whole("steps", values.get("steps"), 1, 1_000_000)),
             "--batch-size", str(_whole("batch size", values.get("batch_size"), 1, 4096)),
             "--sample-every", str(sample_every),
             "--diversity-every", str(sample_every),  # a point of the diversity curve with each grid
             "--checkpoint-every", str(_whole("checkpoint every", values.get("checkpoint_every"), 1, 1_000_000))]
    config = dataclasses.asdict(variant_class.Config())
    overrides = {}
    for name in CONFIG_FIELDS:
        if name in config and values.get(name) is not None:
            if name == "lr":
                if not 0 < float(values[name]) <= 1:
                    raise UserError(f"learning rate must be above 0 and at most 1, not {values[name]!r}")
                overrides[name] = float(values[name])
            else:
                overrides[name] = _whole(name.replace("_", " "), values[name], 1, 4096)
            flags += ["--" + name.replace("_", "-"), str(overrides[name])]
    try:  # the variant's own checks (an image size its networks cannot make, say)
        variant_class(variant_class.config_from_dict({**config, **overrides})).build_networks()
    except UserError:
        raise
    except (ValueError, TypeError, AssertionError, RuntimeError) as error:
        raise UserError(f"{variant_class.name} cannot be built with these settings: {error}") from None
    if values.get("diffaugment"):
        flags += ["--diffaugment", "color,translation,cutout"]
    return flags


def data_flag(role, choice: str | None, upload: str | None, folder: Path) -> list[str]:
    """One data role's flag: a known set's path, or the upload unpacked into ``folder``."""
    from .uploads import extract_images

    sets = bundled_sets()
    if choice in sets:
        return [role.flag, str(sets[choice][0])]
    if not upload:
        raise UserError(f"no data for {role.flag}: choose a data set or upload a .zip of images")
    extracted = extract_images(upload, folder, Path(upload).name)
    return [role.flag, str(extracted.folder)]


def start_job(jobs: JobManager, variants: dict, owner: str, variant: str, name: str, values: dict,
              data: list[tuple[str | None, str | None]]) -> tuple[Job, bool]:
    """Check everything that can be checked at once, then queue the job (see JobManager.submit)."""
    if variant not in variants:
        raise UserError(f"unknown variant {variant!r}; choose one of {', '.join(variants)}")
    variant_class = variants[variant].variant
    flags = train_flags(variant_class, values)
    name = (name or "").strip() or f"{variant} {time.strftime('%Y-%m-%d %H:%M')}"
    if len(name) > 80:
        raise UserError("the run's name may be at most 80 characters")
    roles = variant_class.data_roles

    def prepare(folder: Path) -> list[str]:
        data_flags = []
        for index, (role, (choice, upload)) in enumerate(zip(roles, data)):
            data_flags += data_flag(role, choice, upload, folder / ("data" if index == 0 else f"data-{role.name}"))
        return [*data_flags, *flags]

    return jobs.submit(owner, name, variant, int(values["steps"]), prepare)


# --------------------------------------------------------------------------- showing a job


def status_markdown(status: dict, variants: dict) -> str:
    if status["state"] == "none":
        return "No run yet: choose a variant, data and settings, then press **Start**."
    title = variants[status["variant"]].variant.title if status["variant"] in variants else status["variant"]
    head = f"**Run \"{status['name']}\"** ({title}): "
    step = f"step {status['step']:,} of {status['steps']:,}"
    state = status["state"]
    if state == "preparing":
        return head + "unpacking its data..."
    if state == "queued":
        ahead = status["queue_position"] - 1
        return head + (f"waiting: place {status['queue_position']} in the queue ({ahead} run(s) ahead of it)."
                       if ahead else "waiting: next in the queue.")
    if state == "running":
        speed = ""
        if status["steps_per_s"]:
            speed = f", {status['steps_per_s']:.2f} steps/s, about {_duration(status['seconds_left'])} left"
        return head + f"training, {step}{speed}."
    if state == "stopping":
        return head + f"stopping at {step}: saving a checkpoint..."
    message = status["message"]
    message = f" {message[:1].upper()}{message[1:]}." if message else ""
    model = f" It is in the {title} tab's model picker as \"{status['name']}\"." if status["has_weights"] else ""
    return head + f"{state}, {step}.{message}{model}"


def _duration(seconds) -> str:
    if seconds is None:
        return "?"
    if seconds < 90:
        return f"{int(seconds)} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def collapse_markdown(status: dict) -> str:
    if not status.get("collapse"):
        return ""
    return (f"⚠️ **Mode collapse?** The samples' diversity ({status['diversity']:.3f}) has stayed under half "
            f"the real images' ({status['diversity_real']:.3f}): the generator may be drawing a few images over "
            f"and over. Stop it and try DiffAugment, a lower learning rate or another seed.")


def curves(records: list[dict]):
    """(losses, diversity) as long-form tables for gr.LinePlot: step, value, series."""
    import pandas as pd

    every = max(1, len(records) // PLOT_POINTS)
    thinned = records[::every] + ([records[-1]] if records and (len(records) - 1) % every else [])
    skip = {"step", "steps_per_s", "diversity", "diversity_real"}
    losses = [(r["step"], v, k) for r in thinned for k, v in r.items()
              if k not in skip and not k.startswith("eval_") and isinstance(v, (int, float))]
    shown = [r for r in records if "diversity" in r]
    shown = shown[::max(1, len(shown) // PLOT_POINTS)]
    diversity = [(r["step"], r[k], name) for r in shown for k, name in
                 (("diversity", "generated"), ("diversity_real", "real images")) if k in r]
    def table(rows):  # typed even when empty: the plot takes its axes' kinds from the first table it gets
        frame = pd.DataFrame(rows, columns=["step", "value", "series"])
        return frame.astype({"step": "int64", "value": "float64", "series": "str"})

    return table(losses), table(diversity)


def _role_label(roles) -> str:
    role = roles[1] if len(roles) > 1 else None
    return f"Data for {role.flag}: {role.help}" if role else "Second data set"


def package(job: Job, folder: Path) -> Path:
    """The run's model as a zip in ``folder``: ``NAME/config.json``, ``model.safetensors``, the
    model card (README.md) and the last sample grid; unzip and use ``--weights ./NAME``."""
    from .cli import slug
    from .hub import model_card
    from .weights import CONFIG_FILE, WEIGHTS_FILE, read_config

    name = slug(job.name) or job.id
    path = Path(folder) / f"ganzoo-{uuid.uuid4().hex}" / f"{name}.zip"
    path.parent.mkdir(parents=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in (CONFIG_FILE, WEIGHTS_FILE, "samples.png"):
            if (job.run / file).exists():
                archive.write(job.run / file, f"{name}/{file}")
        archive.writestr(f"{name}/README.md", model_card(job.run, read_config(job.run), f"./{name}"))
    return path


# --------------------------------------------------------------------------- the tab


def browser_state() -> gr.BrowserState:
    """The browser's id, kept in its local storage (make it outside any tab: a tab's contents
    appear only once it is opened, and the id must be read at once)."""
    return gr.BrowserState("", storage_key=BROWSER_KEY, secret=os.environ.get("GANZOO_SECRET", "ganzoo"))


def build_train_tab(demo: gr.Blocks, variants: dict, jobs: JobManager, browser: gr.BrowserState) -> None:
    """The Train tab's contents (call inside ``gr.Tab``); ``browser``: from ``browser_state``."""
    names = list(variants)
    first = "dcgan" if "dcgan" in variants else names[0]
    sets = list(bundled_sets())
    data_choices = [*sets, UPLOAD]
    start_values = defaults(variants[first].variant)
    oauth = bool(os.environ.get("OAUTH_CLIENT_ID"))  # a Space with `hf_oauth: true`

    gr.Markdown("### Train a model\nTraining runs as `ganzoo train` in a process of its own, one run at a time "
                "(others wait in a queue). **Stop** saves a checkpoint and **Resume** continues exactly; a "
                "reloaded page finds its run again. A finished or stopped run joins its variant's model "
                "picker. Uploads: a .zip of PNG, JPEG, BMP, GIF or WebP images, folders as class labels.")
    with gr.Row():
        with gr.Column(scale=1):
            variant = gr.Dropdown(names, value=first, label="Variant", elem_id="train-variant")
            data = gr.Dropdown(data_choices, value=data_choices[0], label="Data", elem_id="train-data")
            upload = gr.File(label="Images (.zip, at most 32 MB)", file_types=[".zip"], type="filepath", height=100,
                             visible=not sets,
                             elem_id="train-upload")
            roles = variants[first].variant.data_roles
            with gr.Group(visible=len(roles) > 1) as second:
                data_b = gr.Dropdown(data_choices, value=data_choices[0], label=_role_label(roles))
                upload_b = gr.File(label="Its images (.zip)", file_types=[".zip"], type="filepath", height=100,
                                   visible=not sets)
            with gr.Accordion("Settings", open=True):
                steps = gr.Number(start_values["steps"], label="Steps", precision=0, elem_id="train-steps")
                batch_size = gr.Number(start_values["batch_size"], label="Batch size", precision=0,
                                       elem_id="train-batch-size")
                settings = {}
                for name, label in (("lr", "Learning rate"), ("image_size", "Image size"),
                                    ("channels", "Channels (1 grey, 3 colour)"), ("width", "Width")):
                    settings[name] = gr.Number(start_values.get(name), label=label, visible=name in start_values,
                                               precision=None if name == "lr" else 0,
                                               elem_id=f"train-{name.replace('_', '-')}")
                diffaugment = gr.Checkbox(False, label="DiffAugment (color, translation, cutout): for small data sets",
                                          elem_id="train-diffaugment")
                sample_every = gr.Number(start_values["sample_every"], label="Sample grid every N steps", precision=0,
                                         elem_id="train-sample-every")
                checkpoint_every = gr.Number(start_values["checkpoint_every"], label="Checkpoint every N steps",
                                             precision=0, elem_id="train-checkpoint-every")
            run_name = gr.Textbox(label="Run name", placeholder="default: variant, date and time", elem_id="train-name")
            with gr.Row():
                start = gr.Button("Start", variant="primary", elem_id="train-start")
                stop = gr.Button("Stop", variant="stop", interactive=False, elem_id="train-stop")
                resume = gr.Button("Resume", interactive=False, elem_id="train-resume")
        with gr.Column(scale=2):
            status = gr.Markdown(status_markdown({"state": "none"}, variants), elem_id="train-status")
            warning = gr.Markdown("", elem_id="train-warning")
            grid = gr.Image(label="Samples", type="pil", format="png", interactive=False, elem_id="train-grid")
            with gr.Row():
                losses = gr.LinePlot(x="step", y="value", color="series", label="Losses", height=260)
                diversity = gr.LinePlot(x="step", y="value", color="series", height=260,
                                        label="Diversity: generated against real (mode-collapse watch)")
            with gr.Row():
                download = gr.DownloadButton("Download the model (.zip)", interactive=False, elem_id="train-download")
                fetch = gr.Button("fetch", visible=False)  # the download for API callers
                fetched = gr.File(visible=False)
            with gr.Accordion("Publish to the Hugging Face Hub", open=False):
                repo_id = gr.Textbox(label="Repo id", placeholder="you/my-model")
                if oauth:
                    gr.LoginButton()
                token = gr.Textbox(label="Token (write access)" + (", or sign in above" if oauth else ""),
                                   type="password", placeholder="hf_...")
                push = gr.Button("Push")
                pushed = gr.Markdown("")
    seen = gr.State({})
    timer = gr.Timer(POLL_SECONDS)
    inputs = [steps, batch_size, *(settings[key] for key in CONFIG_FIELDS), diffaugment, sample_every, checkpoint_every]
    cache = grid.GRADIO_CACHE

    def own(browser_id):
        return browser_id if isinstance(browser_id, str) and browser_id else uuid.uuid4().hex

    def on_variant(name):
        values = defaults(variants[name].variant)
        roles = variants[name].variant.data_roles
        updates = [gr.update(visible=len(roles) > 1), gr.update(label=_role_label(roles))]
        updates += [gr.update(value=values.get(key), visible=key in values) for key in settings]
        return [*updates, values["batch_size"], values["steps"]]

    def on_data(choice, variant_name):
        """A known set suggests its image size and channels where the variant has those fields."""
        known = bundled_sets().get(choice)
        config = dataclasses.asdict(variants[variant_name].variant.Config())
        size, channels = (known[1], known[2]) if known else (None, None)
        return [gr.update(value=size) if known and "image_size" in config else gr.skip(),
                gr.update(value=channels) if known and "channels" in config else gr.skip(),
                gr.update(visible=not known)]

    def on_start(browser_id, variant_name, data_choice, upload_path, data_b_choice, upload_b_path, name, steps,
                 batch_size, lr, image_size, channels, width, diffaugment, sample_every, checkpoint_every):
        owner = own(browser_id)
        values = dict(steps=steps, batch_size=batch_size, lr=lr, image_size=image_size, channels=channels, width=width,
                      diffaugment=diffaugment, sample_every=sample_every, checkpoint_every=checkpoint_every)
        try:
            job, created = start_job(jobs, variants, owner, variant_name, name, values,
                                     [(data_choice, upload_path), (data_b_choice, upload_b_path)])
        except UserError as error:
            raise gr.Error(str(error)) from None
        text = status_markdown(jobs.status(job), variants)
        if not created:
            text = f"Your run is already {job.state}: showing it. Stop it to start another.\n\n{text}"
        return owner, text

    def on_stop(browser_id):
        job = jobs.active(own(browser_id))
        if job is None:
            raise gr.Error("no run of yours is queued or running")
        jobs.stop(job)
        return status_markdown(jobs.status(job), variants)

    def on_resume(browser_id):
        job = jobs.latest(own(browser_id))
        if job is None:
            raise gr.Error("no run of yours to resume")
        try:
            jobs.resume(job)
        except UserError as error:
            raise gr.Error(str(error)) from None
        return status_markdown(jobs.status(job), variants)

    def train_status(browser_id: str) -> dict:
        """The browser's newest job: state, step, speed, time left, queue place, collapse warning."""
        return jobs.status(jobs.latest(browser_id or None))

    def refresh(browser_id, memory):
        job = jobs.latest(browser_id or None)
        state = jobs.status(job)
        memory = dict(memory or {})
        new = {"job": state["job"], "state": state["state"]}
        outputs = {"status": status_markdown(state, variants), "warning": collapse_markdown(state)}
        if job is not None:
            samples = job.run / "samples.png"
            new["grid"] = samples.stat().st_mtime_ns if samples.exists() else None
            loss_table, diversity_table = curves(jobs.metrics(job))
            # Each plot gets a table once it has points (a plot's first table, even empty, fixes its look).
            for key, table in (("losses", loss_table), ("diversity", diversity_table)):
                new[key] = len(table)
                if len(table) and (new["job"], new[key]) != (memory.get("job"), memory.get(key)):
                    outputs[key] = table
            if (new["job"], new["grid"]) != (memory.get("job"), memory.get("grid")) and new["grid"]:
                from PIL import Image

                with Image.open(samples) as image:
                    outputs["grid"] = image.copy()
            stamp = (job.id, (job.run / "model.safetensors").stat().st_mtime_ns
                     if job.has_weights() and job.state not in ACTIVE else None)
            if stamp != tuple(memory.get("download") or ()):
                outputs["download"] = gr.update(value=packaged(job, stamp) if stamp[1] else None,
                                                interactive=bool(stamp[1]))
            new["download"] = list(stamp)
        elif memory.get("job"):
            outputs["grid"], outputs["download"] = None, gr.update(value=None, interactive=False)
            outputs["losses"] = outputs["diversity"] = None
        active = state["state"] in ACTIVE
        outputs["start"] = gr.update(interactive=not active)
        outputs["stop"] = gr.update(interactive=active)
        outputs["resume"] = gr.update(interactive=bool(state.get("resumable")))
        order = ["status", "warning", "grid", "losses", "diversity", "download", "start", "stop", "resume"]
        return [*(outputs.get(key, gr.skip()) for key in order), {**memory, **new}]

    packages: dict = {}  # (job id, weights' mtime) -> the zip, made once for every page

    def packaged(job, stamp) -> str:
        if stamp not in packages:
            packages.clear()
            packages[stamp] = str(package(job, cache))
        return packages[stamp]

    def on_fetch(browser_id):
        job = jobs.latest(browser_id or None)
        if job is None or not job.has_weights() or job.state in ACTIVE:
            raise gr.Error("no finished or stopped run of yours with weights to download")
        return packaged(job, (job.id, (job.run / "model.safetensors").stat().st_mtime_ns))

    def publish(browser_id, repo, token_text, oauth_token=None):
        from .hub import push as push_run

        job = jobs.latest(browser_id or None)
        if job is None or not job.has_weights() or job.state in ACTIVE:
            raise gr.Error("no finished or stopped run of yours to publish")
        if not repo or "/" not in repo:
            raise gr.Error("give the repo id as user/name")
        token_value = token_text or (oauth_token.token if oauth_token is not None else None)
        try:
            commit = push_run(job.run, repo.strip(), token=token_value or None)
        except UserError as error:
            raise gr.Error(str(error)) from None
        except Exception as error:  # the Hub's own errors: a bad token, no write access
            raise gr.Error(f"pushing to {repo} failed: {type(error).__name__}: {error}") from None
        return f"Pushed to `{repo}` (commit `{commit[:12]}`): load it with `--weights {repo}@{commit[:12]}`."

    if oauth:
        def publish_signed_in(browser_id, repo, token_text, oauth_token: gr.OAuthToken | None):
            return publish(browser_id, repo, token_text, oauth_token)
        publisher = publish_signed_in
    else:
        def publisher(browser_id, repo, token_text):
            return publish(browser_id, repo, token_text)

    def init(browser_id):
        return own(browser_id)

    demo.load(init, inputs=browser, outputs=browser, api_visibility="private", queue=False)
    variant.change(on_variant, inputs=variant, outputs=[second, data_b, *settings.values(), batch_size, steps],
                   api_visibility="private", queue=False)
    data.change(on_data, inputs=[data, variant], outputs=[settings["image_size"], settings["channels"], upload],
                api_visibility="private", queue=False)
    data_b.change(lambda choice: gr.update(visible=choice not in bundled_sets()), inputs=data_b, outputs=upload_b,
                  api_visibility="private", queue=False)
    start.click(on_start, inputs=[browser, variant, data, upload, data_b, upload_b, run_name, *inputs],
                outputs=[browser, status], api_name="train_start", concurrency_limit=None)
    stop.click(on_stop, inputs=browser, outputs=status, api_name="train_stop", concurrency_limit=None)
    resume.click(on_resume, inputs=browser, outputs=status, api_name="train_resume", concurrency_limit=None)
    gr.api(train_status, api_name="train_status", concurrency_limit=None)
    timer.tick(refresh, inputs=[browser, seen],
               outputs=[status, warning, grid, losses, diversity, download, start, stop, resume, seen],
               api_visibility="private", queue=False)
    fetch.click(on_fetch, inputs=browser, outputs=fetched, api_name="train_download")
    push.click(publisher, inputs=[browser, repo_id, token], outputs=pushed, api_name="train_push")
