"""Training data sources and the resumable batch stream."""

import gzip
import struct
from pathlib import Path

import pytest
import torch
from ganzoo import data
from ganzoo.data import BatchStream, DataError, load_images
from PIL import Image

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def write_idx(path: Path, array: torch.Tensor, compress: bool = True) -> None:
    header = struct.pack(">HBB", 0, 0x08, array.dim()) + struct.pack(">" + "I" * array.dim(), *array.shape)
    payload = header + array.to(torch.uint8).numpy().tobytes()
    (gzip.open if compress else open)(path, "wb").write(payload)


def test_idx_folder_with_labels(tmp_path):
    images = torch.randint(0, 256, (5, 28, 28), dtype=torch.uint8)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", torch.tensor([3, 1, 4, 1, 5]))
    loaded = load_images(tmp_path, size=28, channels=1)
    assert loaded.images.shape == (5, 1, 28, 28) and loaded.images.dtype == torch.uint8
    assert torch.equal(loaded.images[:, 0], images)
    assert loaded.labels.tolist() == [3, 1, 4, 1, 5]
    assert loaded.class_names == [str(i) for i in range(6)]


def test_idx_resized_and_made_rgb(tmp_path):
    write_idx(tmp_path / "x-images-idx3-ubyte", torch.full((2, 28, 28), 200), compress=False)
    loaded = load_images(tmp_path / "x-images-idx3-ubyte", size=32, channels=3)
    assert loaded.images.shape == (2, 3, 32, 32)
    assert int(loaded.images.float().mean().round()) == 200


def test_truncated_idx_is_reported(tmp_path):
    header = struct.pack(">HBBIII", 0, 8, 3, 10, 28, 28)
    (tmp_path / "bad-images-idx3-ubyte").write_bytes(header + b"\0" * 100)
    with pytest.raises(DataError, match="truncated"):
        load_images(tmp_path / "bad-images-idx3-ubyte", 28, 1)


def test_image_folder_classes_and_modes(tmp_path):
    (tmp_path / "cats").mkdir()
    (tmp_path / "dogs").mkdir()
    Image.new("RGBA", (40, 30), (255, 0, 0, 128)).save(tmp_path / "cats" / "a.png")
    Image.new("P", (10, 50)).save(tmp_path / "cats" / "b.png")
    Image.new("L", (64, 64), 7).save(tmp_path / "dogs" / "c.jpg")
    (tmp_path / "dogs" / "broken.png").write_bytes(b"not an image")
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        loaded = load_images(tmp_path, size=16, channels=3)
    assert loaded.class_names == ["cats", "dogs"]
    assert loaded.labels.tolist() == [0, 0, 1]
    assert loaded.images.shape == (3, 3, 16, 16)


def test_flat_folder_is_one_class(tmp_path):
    for i in range(3):
        Image.new("RGB", (20, 20), (i, i, i)).save(tmp_path / f"{i}.png")
    loaded = load_images(tmp_path, size=8, channels=1)
    assert loaded.class_names == ["all"] and loaded.labels.tolist() == [0, 0, 0]


def test_digit_csv(tmp_path):
    rows = ["0," * 63 + "16,7", "16," * 64 + "2"]
    with gzip.open(tmp_path / "digits.csv.gz", "wt") as f:
        f.write("\n".join(rows) + "\n")
    loaded = load_images(tmp_path / "digits.csv.gz", size=28, channels=1)
    # framed as MNIST frames its digits: a 20x20 box in the middle, a 4-pixel empty margin
    assert loaded.images.shape == (2, 1, 28, 28)
    full = loaded.images[1, 0]
    assert full[4:24, 4:24].min() == 255 and full.sum() == 255 * 20 * 20
    assert loaded.images[0, 0, 23, 23] > 0 and loaded.images[0, 0, 4, 4] == 0  # the bottom-right pixel
    assert loaded.labels.tolist() == [7, 2]


@pytest.mark.parametrize("source, message", [
    ("no/such/folder", "neither an existing path nor a dataset name"),
    ("", "neither an existing path nor a dataset name"),
])
def test_missing_sources_say_what_to_pass(source, message):
    with pytest.raises(DataError, match=message) as error:
        load_images(source or "definitely-missing", 28, 1)
    assert "folder of images" in str(error.value)


def test_empty_folder(tmp_path):
    with pytest.raises(DataError, match="no images found"):
        load_images(tmp_path, 28, 1)


def test_dataset_name_without_network_points_to_local_paths(monkeypatch):
    def no_network(name, root):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: Name or service not known")

    monkeypatch.setattr(data, "_download_torchvision", no_network)
    with pytest.raises(DataError, match="could not download dataset 'mnist'") as error:
        load_images("mnist", 28, 1)
    assert "../shared/data/mnist" in str(error.value)


def test_dataset_name_offline_mode_does_not_try(monkeypatch):
    monkeypatch.setenv("GANZOO_OFFLINE", "1")
    monkeypatch.setattr(data, "_download_torchvision", lambda *a: pytest.fail("tried to download"))
    with pytest.raises(DataError, match="GANZOO_OFFLINE"):
        load_images("cifar10", 32, 3)


def make_set(n=10):
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 2, 2).contiguous()
    return data.ImageSet(images, torch.arange(n), ["x"], "test")


def test_batch_stream_is_seeded_and_scaled():
    a, b = BatchStream(make_set(), 4, seed=1, device="cpu"), BatchStream(make_set(), 4, seed=1, device="cpu")
    first = a.next()
    assert torch.equal(first["image"], b.next()["image"])
    assert first["image"].min() >= -1 and first["image"].max() <= 1
    assert first["label"].shape == (4,)


def test_batch_stream_resumes_mid_epoch():
    straight = BatchStream(make_set(), 3, seed=5, device="cpu")
    batches = [straight.next()["label"].tolist() for _ in range(7)]
    interrupted = BatchStream(make_set(), 3, seed=5, device="cpu")
    for _ in range(4):
        interrupted.next()
    resumed = BatchStream(make_set(), 3, seed=5, device="cpu")
    resumed.load_state_dict(interrupted.state_dict())
    assert [resumed.next()["label"].tolist() for _ in range(3)] == batches[4:]
    # each epoch (3 batches of 3 from 10 images) holds distinct images
    assert len(set(sum(batches[:3], []))) == 9


def test_batch_stream_resumes_only_on_the_same_images():
    state = BatchStream(make_set(), 3, seed=5, device="cpu").state_dict()
    BatchStream(make_set(), 3, seed=5, device="cpu").load_state_dict(state)  # the same images: fine
    with pytest.raises(DataError, match="not the ones this checkpoint was trained on"):
        BatchStream(make_set(11), 3, seed=5, device="cpu").load_state_dict(state)
    relabelled = make_set()
    relabelled.labels[0] = 9
    with pytest.raises(DataError, match="not the ones"):
        BatchStream(relabelled, 3, seed=5, device="cpu").load_state_dict(state)
    older = {"epoch": 1, "position": 3}  # a checkpoint from before the fingerprint: taken as it is
    stream = BatchStream(make_set(11), 3, seed=5, device="cpu")
    stream.load_state_dict(older)
    assert (stream.epoch, stream.position) == (1, 3)


@pytest.mark.skipif(not (SHARED / "mnist").exists(), reason="needs ../shared/data (the real MNIST test split)")
def test_real_mnist_and_uci_digits():
    mnist = load_images(SHARED / "mnist", 28, 1)
    assert len(mnist) == 10_000 and mnist.class_names == [str(i) for i in range(10)]
    assert torch.bincount(mnist.labels).min() > 800
    digits = load_images(SHARED / "uci-digits" / "digits.csv.gz", 32, 1)
    assert len(digits) == 1797 and digits.images.shape[-1] == 32
