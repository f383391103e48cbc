"""Faults a user meets get a message, not a traceback, and leave a run that can go on: torn logs,
leftover temporary files, changed settings on resume, stop signals, unwritable or full output
folders, damaged or malformed data, impossible config values, damaged weights."""

import errno
import gzip
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from ganzoo import files
from ganzoo.cli import main
from ganzoo.data import DataError, load_images
from ganzoo.errors import UserError
from ganzoo.files import WriteError, atomic_write_bytes
from ganzoo.registry import BUILTIN_PLUGINS, get_variant, registry
from ganzoo.testing import make_image_folder
from ganzoo.training import CHECKPOINT, TrainingError, TrainSettings, train
from ganzoo.variant import Variant
from ganzoo.weights import CONFIG_FILE, WEIGHTS_FILE, WeightsError, load_folder, save_weights

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--image-size", "16", "--width", "4", "--latent-dim", "8"]
DCGAN = get_variant("dcgan")


@pytest.fixture
def data(tmp_path):
    return make_image_folder(tmp_path / "data", size=16, channels=1)


def settings(**overrides) -> TrainSettings:
    values = dict(steps=2, batch_size=4, seed=3, device="cpu", sample_every=100, checkpoint_every=100)
    return TrainSettings(**{**values, **overrides})


def tiny_run(data, out, **overrides):
    return train(DCGAN(DCGAN.tiny_config()), {"data": str(data)}, out, settings(**overrides), show_progress=False)


def resume(data, out, **overrides):
    return train(DCGAN(DCGAN.tiny_config()), {"data": str(data)}, out, settings(**overrides), show_progress=False,
                 resume=True)


# --------------------------------------------------------------------------- the run folder


def test_a_torn_last_metrics_line_is_dropped_with_a_note(data, tmp_path):
    """A crash while a log line is written leaves half of it; resuming used to fail on it for good
    ("Expecting ',' delimiter")."""
    out = tmp_path / "run"
    tiny_run(data, out)
    with open(out / "metrics.jsonl", "a") as log:
        log.write('{"step": 3, "loss_d": 1.3, "lo')
    with pytest.warns(UserWarning, match="dropped its last line"):
        result = resume(data, out, steps=4)
    assert result.finished and result.step == 4
    assert [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3, 4]


def test_a_damaged_line_inside_the_log_is_named(data, tmp_path):
    out = tmp_path / "run"
    tiny_run(data, out)
    lines = (out / "metrics.jsonl").read_text().splitlines()
    (out / "metrics.jsonl").write_text("\n".join(["{not json", *lines]) + "\n")
    with pytest.raises(TrainingError, match=r"metrics.jsonl, line 1, is not a log line"):
        resume(data, out, steps=4)


def test_temporary_files_left_by_killed_writes_are_removed_on_the_next_start(data, tmp_path):
    out = tmp_path / "run"
    tiny_run(data, out)
    leftovers = [out / "checkpoints" / ".last.pt.k2x9_q0a.tmp", out / ".model.safetensors.ab12cd34.tmp",
                 out / ".config.json.zz99yy88.tmp", out / "samples" / ".samples.png.0a1b2c3d.tmp"]
    for path in leftovers:
        path.write_bytes(b"\0" * 1000)
    kept = [out / "notes.tmp", out / ".hidden.tmp", out / "checkpoints" / "mine.pt"]
    for path in kept:
        path.write_text("the user's")
    resume(data, out, steps=3)
    assert not [path for path in leftovers if path.exists()]
    assert all(path.read_text() == "the user's" for path in kept)


@pytest.mark.parametrize("change, message", [
    ({"seed": 4}, r"--seed 4 \(the run used 3\)"),
    ({"batch_size": 2}, r"--batch-size 2 \(the run used 4\)"),
])
def test_resume_refuses_a_changed_seed_or_batch_size(data, tmp_path, change, message):
    out = tmp_path / "run"
    tiny_run(data, out)
    with pytest.raises(TrainingError, match=message) as error:
        resume(data, out, steps=4, **change)
    assert "--init-from" in str(error.value)
    assert torch.load(out / CHECKPOINT, weights_only=True)["step"] == 2  # untouched


def test_resume_refuses_other_images_and_takes_the_same_ones_anywhere(data, tmp_path):
    out = tmp_path / "run"
    tiny_run(data, out)
    other = make_image_folder(tmp_path / "other", size=16, channels=1, seed=9)
    with pytest.raises(DataError, match="not the ones this checkpoint was trained on"):
        resume(other, out, steps=4)
    moved = shutil.copytree(data, tmp_path / "moved")  # the same images under another path: exactness holds
    assert resume(moved, out, steps=4).step == 4


def test_resume_without_a_checkpoint_says_so_before_loading_data(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"variant": "dcgan", "settings": {}, "sources": {}}))
    with pytest.raises(TrainingError, match="stopped before its first one"):
        resume(tmp_path / "no-such-data", out)


# A run stopped by a signal exits 128 + N: tests/test_cli.py's real-process signal test checks it.


def test_a_finished_run_exits_0(data, tmp_path):
    assert main(["train", "dcgan", "--data", str(data), "--out", str(tmp_path / "run"), "--steps", "1",
                 "--batch-size", "4", "--quiet", *TINY]) == 0


# --------------------------------------------------------------------------- unwritable or full disks


def test_an_out_folder_under_a_file_fails_before_the_data_loads(tmp_path, capsys):
    """A real unwritable path (tests run as root, which chmod does not stop): its parent is a file.
    The data source does not exist either: the --out message comes first, so nothing was loaded."""
    (tmp_path / "a-file").write_text("")
    status = main(["train", "dcgan", "--data", str(tmp_path / "no-such-data"), "--out",
                   str(tmp_path / "a-file" / "run"), "--quiet"])
    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith("ganzoo: error: --out: cannot write") and "is a file, not a folder" in err


def test_a_read_only_out_folder_fails_before_the_data_loads(tmp_path, monkeypatch):
    """A read-only file system, simulated: creating a file there raises EROFS, as the kernel would."""
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(TrainingError, match="read-only file system"):
        tiny_run(tmp_path / "no-such-data", tmp_path / "run")


def fill_disk_after_half(monkeypatch, which=lambda data: True):
    """Writes of ``which`` data write half their bytes, then find the disk full."""
    write = files._write

    def full(f, data):
        if not which(data):
            return write(f, data)
        f.write(data[:len(data) // 2])
        f.flush()
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files, "_write", full)


def test_a_full_disk_keeps_the_previous_file_and_says_how_much_is_needed(tmp_path, monkeypatch):
    target = tmp_path / "folder" / "last.pt"
    atomic_write_bytes(target, b"previous")
    fill_disk_after_half(monkeypatch)
    with pytest.raises(WriteError) as error:
        atomic_write_bytes(target, b"x" * 5000)
    assert target.read_bytes() == b"previous"
    assert os.listdir(target.parent) == ["last.pt"]  # the temporary file is gone
    message = str(error.value)
    assert str(target.parent) in message and "5,000 bytes" in message and "previous last.pt is kept" in message


def test_a_full_disk_during_training_keeps_the_last_checkpoint_and_the_run_resumes(data, tmp_path, monkeypatch):
    out = tmp_path / "run"
    tiny_run(data, out)
    fill_disk_after_half(monkeypatch, which=lambda data: data[:2] == b"PK")  # torch.save's zip: the checkpoint
    with pytest.raises(TrainingError) as error:
        resume(data, out, steps=4)
    message = str(error.value)
    assert "training stopped at step 4: no space left on the disk to write last.pt" in message
    assert "bytes" in message and "continue with --resume" in message
    assert torch.load(out / CHECKPOINT, weights_only=True)["step"] == 2
    assert sorted(os.listdir(out / "checkpoints")) == ["last.pt"]
    monkeypatch.undo()
    assert resume(data, out, steps=4).step == 4


# --------------------------------------------------------------------------- damaged and malformed data


def write_idx_gz(path: Path, images: torch.Tensor) -> bytes:
    header = bytes([0, 0, 8, images.dim()]) + b"".join(n.to_bytes(4, "big") for n in images.shape)
    payload = gzip.compress(header + images.numpy().tobytes())
    path.write_bytes(payload)
    return payload


@pytest.mark.parametrize("damage", ["truncated", "corrupt", "not gzip"])
def test_a_damaged_gzip_idx_file_is_a_message(tmp_path, damage):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    payload = write_idx_gz(path, torch.randint(0, 256, (20, 28, 28), dtype=torch.uint8))
    if damage == "truncated":
        path.write_bytes(payload[:len(payload) // 2])
    elif damage == "corrupt":
        path.write_bytes(payload[:30] + bytes(b ^ 0xFF for b in payload[30:200]) + payload[200:])
    else:
        path.write_bytes(b"plain bytes, not gzip" * 10)
    with pytest.raises(DataError, match="is damaged: a truncated or corrupt gzip file"):
        load_images(path, 28, 1)


def test_a_truncated_gzip_csv_is_a_message(tmp_path):
    payload = gzip.compress(("\n".join(",".join(["3"] * 64 + ["1"]) for _ in range(200)) + "\n").encode())
    (tmp_path / "digits.csv.gz").write_bytes(payload[:len(payload) // 2])
    with pytest.raises(DataError, match="digits.csv.gz is damaged"):
        load_images(tmp_path / "digits.csv.gz", 28, 1)


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("".join(row + "\n" for row in rows))
    return path


DIGIT_ROW = ",".join(["0"] * 63 + ["16", "7"])  # 64 pixels then a label


@pytest.mark.parametrize("rows, message", [
    ([], "holds no rows"),
    ([DIGIT_ROW, DIGIT_ROW + ",3", DIGIT_ROW], r"row 2: 66 values where the first row has 65"),
    ([",".join(f"pixel{i}" for i in range(64)) + ",label", DIGIT_ROW], r"row 1: 'pixel0' is not a whole number "
                                                                       r"\(a header row\? remove it\)"),
    ([DIGIT_ROW, DIGIT_ROW.replace("16", "1.5")], r"row 2: '1.5' is not a whole number"),
    (["1,2,3,4"] * 3, "rows of 4 values give 3 pixels and a label, not a square image"),
    (["1,2,3,4,5"] * 3, "rows of 5 values give 4 pixels"),  # a square, 2x2: too small to be digits
    (["1,2,3,4,5,6,7,8,9,1"] * 3, "rows of 10 values give 9 pixels"),  # 3x3
    ([DIGIT_ROW, DIGIT_ROW.replace("16", "-16")], "row 2 holds a negative value"),
])
def test_malformed_csvs_name_the_file_and_the_row(tmp_path, rows, message):
    path = write_csv(tmp_path / "digits.csv", rows)
    with pytest.raises(DataError, match=message) as error:
        load_images(path, 28, 1)
    assert str(path) in str(error.value)


def test_a_well_formed_csv_still_loads(tmp_path):
    loaded = load_images(write_csv(tmp_path / "digits.csv", [DIGIT_ROW, "", DIGIT_ROW]), 28, 1)
    assert loaded.images.shape == (2, 1, 28, 28) and loaded.labels.tolist() == [7, 7]


# --------------------------------------------------------------------------- config values


def saved_folder(tmp_path, variant_class=DCGAN, config=None) -> Path:
    variant = variant_class(config or variant_class.tiny_config())
    return save_weights(tmp_path / "weights", variant, variant.build_networks())


def edit_config(folder: Path, **fields) -> None:
    info = json.loads((folder / CONFIG_FILE).read_text())
    info["config"].update(fields)
    (folder / CONFIG_FILE).write_text(json.dumps(info))


@pytest.mark.parametrize("fields, message", [
    ({"image_size": "abc"}, r"config field image_size must be int, not 'abc' \(str\)"),
    ({"width": -4}, "config field width must be at least 1, not -4"),
    ({"width": 0}, "config field width must be at least 1, not 0"),
    ({"extra_layers": -1}, "config field extra_layers must be at least 0, not -1"),
    ({"lr": "fast"}, "config field lr must be float"),
    ({"betas": [0.5]}, r"config field betas must be tuple\[float, float\], not \[0.5\]"),
    ({"image_size": True}, "config field image_size must be int, not True"),
])
def test_bad_config_values_name_the_field(tmp_path, fields, message):
    folder = saved_folder(tmp_path)
    edit_config(folder, **fields)
    with pytest.raises(WeightsError, match=message) as error:
        load_folder(folder)
    assert str(folder / CONFIG_FILE) in str(error.value)


def test_bad_config_values_on_the_command_line_are_one_line(data, tmp_path, capsys):
    assert main(["train", "dcgan", "--data", str(data), "--out", str(tmp_path / "run"), "--width", "-4"]) == 2
    assert "ganzoo: error: config field width must be at least 1, not -4" in capsys.readouterr().err


@dataclass
class AnyConfig:
    size: int = 8
    offset: int = -3  # a negative default: no bound
    scale: float = 1.0
    name: str = "x"
    flag: bool = False
    widths: tuple[int, ...] = (4, 8)
    pair: tuple[float, float] = (0.5, 0.9)
    tags: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    limit: int | None = None
    pool: int = field(default=50, metadata={"minimum": 0})


class AnyVariant(Variant):
    name = "any"
    Config = AnyConfig


def test_config_checks_follow_each_fields_annotation():
    good = AnyVariant.config_from_dict({"size": 3, "offset": -9, "scale": 2, "flag": True, "widths": [1, 2, 3],
                                        "pair": [0.1, 1], "tags": ["a"], "extra": {"k": 1}, "limit": 5, "pool": 0})
    assert good.widths == (1, 2, 3) and good.pair == (0.1, 1.0) and good.scale == 2.0 and good.pool == 0
    assert AnyVariant.config_from_dict({"limit": None}).limit is None
    for values, message in [({"widths": [1, "2"]}, r"widths must be tuple\[int, \.\.\.\]"),
                            ({"pair": [1, 2, 3]}, r"pair must be tuple\[float, float\]"),
                            ({"tags": "a"}, r"tags must be list\[str\]"), ({"extra": []}, "extra must be dict"),
                            ({"limit": "5"}, "limit must be int | None"), ({"flag": 1}, "flag must be bool"),
                            ({"name": 3}, "name must be str"), ({"pool": -1}, "pool must be at least 0"),
                            ({"size": 0}, "size must be at least 1")]:
        with pytest.raises(UserError, match=message.replace("|", r"\|")):
            AnyVariant.config_from_dict(values)


def test_cyclegan_takes_no_pool_and_no_decay():
    config = get_variant("cyclegan").config_from_dict({"pool_size": 0, "decay_start_step": 0, "decay_steps": 0})
    assert (config.pool_size, config.decay_start_step, config.decay_steps) == (0, 0, 0)


# --------------------------------------------------------------------------- damaged weights


def data_offset(path: Path) -> int:
    return 8 + int.from_bytes(path.read_bytes()[:8], "little")


def test_flipped_bytes_in_the_weights_are_refused(tmp_path):
    """4,000 flipped bytes inside the tensor data used to load silently and draw other images."""
    folder = saved_folder(tmp_path, config=DCGAN.Config())
    path = folder / WEIGHTS_FILE
    raw = bytearray(path.read_bytes())
    start = data_offset(path) + 1000
    raw[start:start + 4000] = bytes(b ^ 0x5A for b in raw[start:start + 4000])
    path.write_bytes(bytes(raw))
    with pytest.raises(WeightsError, match="SHA-256 .* its config.json records: the file is damaged"):
        load_folder(folder)
    info = json.loads((folder / CONFIG_FILE).read_text())
    del info["sha256"]  # a folder written before the field existed loads as before
    (folder / CONFIG_FILE).write_text(json.dumps(info))
    assert not load_folder(folder).is_random


def test_saved_weights_record_their_hash(tmp_path):
    folder = saved_folder(tmp_path)
    recorded = json.loads((folder / CONFIG_FILE).read_text())["sha256"]
    assert recorded == hashlib.sha256((folder / WEIGHTS_FILE).read_bytes()).hexdigest()


@pytest.mark.parametrize("variant_class", [r.variant for r in registry().values()
                                           if r.plugin in BUILTIN_PLUGINS and r.variant.bundled_weights()],
                         ids=lambda v: v.name)
def test_the_bundled_weights_are_protected_too(variant_class):
    folder = variant_class.bundled_weights()
    recorded = json.loads((folder / CONFIG_FILE).read_text()).get("sha256")
    assert recorded == hashlib.sha256((folder / WEIGHTS_FILE).read_bytes()).hexdigest()
