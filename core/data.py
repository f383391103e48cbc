"""Training data: every source becomes an in-memory ``ImageSet`` of uint8 images at the
variant's size, and a ``BatchStream`` hands out seeded, resumable batches in [-1, 1].

Sources: a torchvision dataset name (downloaded where the network allows), a folder of
images (sub-folders become class labels), one image file (a style image), a folder of MNIST
IDX files (or one IDX file), or a CSV of flattened digits such as UCI's optdigits (64 pixels
then a label per row).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import math
import os
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from .errors import UserError
from .images import BadImageError, convert_mode, open_image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
# torchvision class and constructor keywords for each dataset name we accept.
TORCHVISION_DATASETS = {
    "mnist": ("MNIST", {"train": True}),
    "fashion-mnist": ("FashionMNIST", {"train": True}),
    "kmnist": ("KMNIST", {"train": True}),
    "cifar10": ("CIFAR10", {"train": True}),
    "cifar100": ("CIFAR100", {"train": True}),
    "svhn": ("SVHN", {"split": "train"}),
    "stl10": ("STL10", {"split": "unlabeled"}),
}
MAX_DATASET_BYTES = 4 * 1024**3


class DataError(UserError):
    """A dataset could not be loaded; the message says what to pass instead."""


@dataclass
class ImageSet:
    images: torch.Tensor  # uint8 (N, C, H, W)
    labels: torch.Tensor  # int64 (N,); all 0 when the source has no classes
    class_names: list[str]
    source: str

    def __len__(self) -> int:
        return self.images.shape[0]


def _default_cache() -> Path:
    return Path(os.environ.get("GANZOO_DATA_CACHE", Path.home() / ".cache" / "ganzoo" / "datasets"))


def _hint() -> str:
    return ("Pass --data a local path instead: a folder of images (sub-folders become class "
            "labels), a folder of MNIST IDX files (for example ../shared/data/mnist), or a CSV "
            "of flattened digits.")


def load_images(source: str | os.PathLike, size: int, channels: int) -> ImageSet:
    """Load ``source`` as images of ``size`` x ``size`` with ``channels`` channels."""
    path = Path(source).expanduser()
    if path.exists():
        if path.is_dir():
            if _idx_files(path):
                images, labels, names = _read_idx_folder(path)
            else:
                images, labels, names = _read_image_folder(path, channels)
        elif _is_idx(path):
            images, labels, names = _read_idx(path, None)
        elif path.name.endswith((".csv", ".csv.gz")):
            images, labels, names = _read_digit_csv(path)
        elif path.suffix.lower() in IMAGE_SUFFIXES:  # one image: a style image, say
            images, labels, names = [_read_image_file(path, channels)], torch.zeros(1, dtype=torch.long), ["all"]
        else:
            raise DataError(f"{path} is a file ganzoo cannot read as a dataset. {_hint()}")
    elif str(source).lower() in TORCHVISION_DATASETS:
        images, labels, names = _read_torchvision(str(source).lower())
    else:
        known = ", ".join(TORCHVISION_DATASETS)
        raise DataError(f"no dataset at {source!r}: it is neither an existing path nor a dataset "
                        f"name ({known}). {_hint()}")
    images = _fit(images, size, channels)
    return ImageSet(images, labels, names, str(source))


# --------------------------------------------------------------------------- readers


def _is_idx(path: Path) -> bool:
    return "idx" in path.name and path.suffix in ("", ".gz", ".ubyte") or path.name.endswith("ubyte.gz")


def _idx_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and "idx3" in p.name)


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, un-gzipped where it ends in .gz; a damaged file is a DataError."""
    try:
        if path.suffix != ".gz":
            return path.read_bytes()
        with gzip.open(path, "rb") as f:
            return f.read()
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise DataError(f"{path} is damaged: a truncated or corrupt gzip file ({type(error).__name__}: {error}). "
                        f"Download or copy it again.") from None


def _read_idx_array(path: Path) -> torch.Tensor:
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataError(f"{path} is not an IDX file of unsigned bytes (MNIST's format): it is too short")
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise DataError(f"{path} is not an IDX file of unsigned bytes (MNIST's format)")
    if len(data) < 4 + 4 * ndim:
        raise DataError(f"{path} is truncated: its header ends early")
    shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    body = data[4 + 4 * ndim:]
    if len(body) != math.prod(shape):
        raise DataError(f"{path} is truncated: expected {math.prod(shape)} bytes of data, found {len(body)}")
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).view(*shape)


def _read_idx(images_path: Path, labels_path: Path | None):
    images = _read_idx_array(images_path).unsqueeze(1)  # (N, 1, H, W)
    if labels_path is None:
        guess = images_path.parent / images_path.name.replace("images-idx3", "labels-idx1")
        labels_path = guess if guess.exists() and guess != images_path else None
    if labels_path is not None:
        labels = _read_idx_array(labels_path).long()
        names = [str(i) for i in range(int(labels.max()) + 1)]
    else:
        labels, names = torch.zeros(len(images), dtype=torch.long), ["all"]
    return images, labels, names


def _read_idx_folder(folder: Path):
    parts = [_read_idx(p, None) for p in _idx_files(folder)]
    images = torch.cat([p[0] for p in parts])
    labels = torch.cat([p[1] for p in parts])
    names = max((p[2] for p in parts), key=len)
    return images, labels, names


MNIST_BOX, MNIST_SIDE = 20, 28  # MNIST centres each digit's 20x20 box in a 28x28 frame
MIN_CSV_SIDE = 8  # the smallest digit images in use, UCI's, are 8x8


def _read_digit_csv(path: Path):
    try:
        text = _read_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{path} is not a text CSV file") from None
    reader = csv.reader(text.splitlines())
    rows = []
    for row in reader:
        if not row:
            continue
        try:
            rows.append([int(v) for v in row])
        except ValueError:
            bad = next(v for v in row if not _is_int(v))
            hint = " (a header row? remove it)" if not rows else ""
            raise DataError(f"{path}, row {reader.line_num}: {bad[:20]!r} is not a whole number{hint}; each row "
                            f"must hold an image's pixels then its label, as whole numbers") from None
        if len(rows[-1]) != len(rows[0]):
            raise DataError(f"{path}, row {reader.line_num}: {len(rows[-1])} values where the first row has "
                            f"{len(rows[0])}; every row must hold the same number of pixels, then a label")
    if not rows:
        raise DataError(f"{path} holds no rows: each row must hold an image's pixels then its label")
    data = torch.tensor(rows)
    pixels, labels = data[:, :-1], data[:, -1]
    side = math.isqrt(pixels.shape[1])
    if side * side != pixels.shape[1] or side < MIN_CSV_SIDE:
        raise DataError(f"{path}: rows of {data.shape[1]} values give {pixels.shape[1]} pixels and a label, "
                        f"not a square image of at least {MIN_CSV_SIDE}x{MIN_CSV_SIDE} pixels (UCI's digits: 64 "
                        f"pixels then the label, 65 values); is a column missing, or the label first?")
    if int(data.min()) < 0:
        row = int((data < 0).any(1).nonzero()[0]) + 1
        raise DataError(f"{path}: row {row} holds a negative value; pixels and labels are counted from 0")
    top = max(int(pixels.max()), 1)  # UCI digits count 0-16, not 0-255
    images = (pixels.float() * 255 / top).view(-1, 1, side, side)
    if side < MNIST_BOX:
        images = _frame_like_mnist(images)
    return images.round().clamp(0, 255).to(torch.uint8), labels.long(), [str(i) for i in range(int(labels.max()) + 1)]


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _frame_like_mnist(images: torch.Tensor) -> torch.Tensor:
    """Small digits that fill their whole frame (UCI's 8x8 ones) -> 28x28 framed as MNIST's:
    the digit scaled to a 20x20 box with a 4-pixel empty margin. Scaled to fill the frame
    instead, they look 40% larger than MNIST digits, which a digit classifier (and a
    translator between the two sets) reads worse: 72% against 80% for the project's judge."""
    scaled = F.interpolate(images, size=(MNIST_BOX, MNIST_BOX), mode="bilinear", antialias=True,
                           align_corners=False)
    margin = (MNIST_SIDE - MNIST_BOX) // 2
    return F.pad(scaled, (margin,) * 4, value=0.0)


def _read_image_file(path: Path, channels: int) -> torch.Tensor:
    """One image file as uint8 (C, H, W); BadImageError says why it cannot be read."""
    image = convert_mode(open_image(path), channels)
    data = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    return data.view(image.height, image.width, channels).permute(2, 0, 1)


def _read_image_folder(folder: Path, channels: int):
    class_dirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if class_dirs:
        groups = [(d.name, sorted(f for f in d.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES))
                  for d in class_dirs]
        groups = [(name, files) for name, files in groups if files]
    else:
        files = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        groups = [("all", files)] if files else []
    if not groups:
        raise DataError(f"no images found in {folder} (looked for {', '.join(sorted(IMAGE_SUFFIXES))} "
                        f"files, directly or in class sub-folders). {_hint()}")
    images, labels, skipped = [], [], []
    for label, (_, files) in enumerate(groups):
        for file in files:
            try:
                images.append(_read_image_file(file, channels))
            except BadImageError:
                skipped.append(file.name)
                continue
            labels.append(label)
    if skipped:
        warnings.warn(f"skipped {len(skipped)} unreadable file(s) in {folder}: {', '.join(skipped[:5])}"
                      + (" ..." if len(skipped) > 5 else ""))
    if not images:
        raise DataError(f"none of the image files in {folder} could be read. {_hint()}")
    return images, torch.tensor(labels, dtype=torch.long), [name for name, _ in groups]


def _download_torchvision(name: str, root: Path):
    """Fetch a torchvision dataset (a network call, kept in one place so tests can stub it)."""
    import torchvision.datasets as tvd

    class_name, kwargs = TORCHVISION_DATASETS[name]
    return getattr(tvd, class_name)(root=str(root), download=True, **kwargs)


def _read_torchvision(name: str):
    root = _default_cache()
    if os.environ.get("GANZOO_OFFLINE") == "1":
        raise DataError(f"dataset {name!r} would need a download, and GANZOO_OFFLINE=1. {_hint()}")
    try:
        dataset = _download_torchvision(name, root)
    except Exception as error:  # no network, a mirror down, a corrupt partial download
        raise DataError(f"could not download dataset {name!r} ({type(error).__name__}: {error}). "
                        f"{_hint()}") from None
    data = dataset.data
    tensor = torch.as_tensor(data)
    if tensor.dim() == 3:  # MNIST family: (N, H, W)
        tensor = tensor.unsqueeze(1)
    elif tensor.shape[-1] == 3:  # CIFAR: (N, H, W, C)
        tensor = tensor.permute(0, 3, 1, 2)
    labels = torch.as_tensor(getattr(dataset, "targets", getattr(dataset, "labels", [0] * len(tensor))))
    names = [str(c) for c in getattr(dataset, "classes", [])] or ["all"]
    return tensor.contiguous(), labels.long(), names


# --------------------------------------------------------------------------- resizing


def _fit(images, size: int, channels: int) -> torch.Tensor:
    """Resize (shorter side to ``size``, then centre-crop) and set the channel count."""
    if isinstance(images, torch.Tensor) and images.shape[-2:] == (size, size):
        return _set_channels(images, channels).contiguous()
    needed = len(images) * channels * size * size
    if needed > MAX_DATASET_BYTES:
        raise DataError(f"{len(images)} images at {size}x{size} need {needed / 1024**3:.1f} GB of "
                        f"memory; use a smaller --image-size or a subset of the images")
    out = torch.empty(len(images), channels, size, size, dtype=torch.uint8)
    for start in range(0, len(images), 512):
        for i, image in enumerate(images[start:start + 512]):
            image = _set_channels(image.unsqueeze(0), channels).float()
            h, w = image.shape[-2:]
            scale = size / min(h, w)
            new_h, new_w = max(size, round(h * scale)), max(size, round(w * scale))
            image = F.interpolate(image, size=(new_h, new_w), mode="bilinear", antialias=True,
                                  align_corners=False)
            top, left = (new_h - size) // 2, (new_w - size) // 2
            out[start + i] = image[0, :, top:top + size, left:left + size].round().clamp(0, 255).to(torch.uint8)
    return out


def _set_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    if images.shape[1] == channels:
        return images
    if channels == 3 and images.shape[1] == 1:
        return images.expand(-1, 3, -1, -1)
    if channels == 1 and images.shape[1] == 3:  # ITU-R 601 luma, as Pillow's convert("L")
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (images.float() * weights).sum(1, keepdim=True).round().to(torch.uint8)
    raise DataError(f"cannot turn {images.shape[1]}-channel images into {channels}-channel ones")


# --------------------------------------------------------------------------- batches


class BatchStream:
    """Seeded batches in a fresh order each epoch, resumable from (epoch, position).

    The order of epoch e depends only on (seed, e), so a resumed run sees exactly the
    batches an uninterrupted one would have.

    In a data-parallel run of ``world_size`` processes, ``batch_size`` is the global batch and
    each process takes its share of it, as ``DistributedSampler`` shares out an epoch: process
    ``rank`` takes every ``world_size``-th image of the batch from its ``rank``-th. The
    processes' shares of a step together are the batch one process would take, and (epoch,
    position) count in whole batches, the same on every process. A set with fewer images than
    processes (a style image) is served whole to each.
    """

    def __init__(self, images: ImageSet, batch_size: int, seed: int, device, channels_last: bool = False,
                 rank: int = 0, world_size: int = 1):
        if len(images) == 0:
            raise DataError(f"dataset {images.source} is empty")
        self.data = images
        self.batch_size = min(batch_size, len(images))
        self.rank, self.world_size = rank, world_size
        if world_size > 1:
            self.batch_size -= self.batch_size % world_size
            if self.batch_size == 0:  # fewer images than processes: each takes them all
                self.batch_size, self.rank, self.world_size = len(images), 0, 1
        self.seed = seed
        self.device = torch.device(device)
        self.channels_last = channels_last
        self.epoch = 0
        self.position = 0
        self._order = self._order_for(0)

    def _order_for(self, epoch: int) -> torch.Tensor:
        return torch.randperm(len(self.data), generator=torch.Generator().manual_seed(self.seed * 100_003 + epoch))

    def next(self) -> dict[str, torch.Tensor]:
        if self.position + self.batch_size > len(self.data):
            self.epoch += 1
            self.position = 0
            self._order = self._order_for(self.epoch)
        index = self._order[self.position + self.rank:self.position + self.batch_size:self.world_size]
        self.position += self.batch_size
        return self._to_batch(index)

    def fixed(self, n: int) -> dict[str, torch.Tensor]:
        """The first n images in file order: the same inputs for every preview grid."""
        return self._to_batch(torch.arange(min(n, len(self.data))))

    def _to_batch(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        images, labels = self.data.images[index], self.data.labels[index]
        if self.device.type == "cuda":  # a copy from pinned memory does not wait for the GPU
            images, labels = images.pin_memory(), labels.pin_memory()
        images = images.to(self.device, non_blocking=True).float().div_(127.5).sub_(1)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return {"image": images, "label": labels.to(self.device, non_blocking=True)}

    @property
    def fingerprint(self) -> str:
        """A digest of the images and labels, in order: a resumed stream must serve the same ones."""
        if getattr(self, "_fingerprint", None) is None:
            self._fingerprint = fingerprint(self.data)
        return self._fingerprint

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position, "images": self.fingerprint}

    def load_state_dict(self, state: dict) -> None:
        if state.get("images", self.fingerprint) != self.fingerprint:  # older checkpoints have no fingerprint
            raise DataError(f"the images of {self.data.source} ({len(self.data)} of them) are not the ones this "
                            f"checkpoint was trained on, so resuming would not continue the same run: pass the "
                            f"data it was trained on (run.json's sources), or start a new run")
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self._order = self._order_for(self.epoch)


def fingerprint(images: ImageSet) -> str:
    """SHA-256 (first 16 hex digits) of an image set's pixels, labels and shape."""
    digest = hashlib.sha256(str(tuple(images.images.shape)).encode())
    digest.update(images.images.contiguous().numpy())
    digest.update(images.labels.to(torch.int64).contiguous().numpy())
    return digest.hexdigest()[:16]
