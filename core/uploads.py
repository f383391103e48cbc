"""Training data uploaded as a .zip of images, checked as hostile until proven otherwise.

Refused, with a message that says why: a file that is not a zip (or is damaged or
password-protected), a zip over ``MAX_ZIP_BYTES``, more than ``MAX_FILES`` files, more than
``MAX_UNCOMPRESSED_BYTES`` once unpacked (counted as the bytes come out, not from the zip's own
claims), a member that unpacks to over ``MAX_RATIO`` times its packed size (a zip bomb), a
name that is absolute or climbs out with ``..``, images whose header declares over
``MAX_IMAGE_PIXELS`` each or ``MAX_TOTAL_PIXELS`` together, and fewer than ``MIN_IMAGES``
images. Files that are not images (by name, or Pillow cannot read their header) are skipped
and counted.

Nothing in the zip names a path on disk: image number i of folder F is written as
``DEST/<F, made safe>/<i>.<suffix>``, so that folders become class labels (one top folder
holding them all is looked through) and no name can leave ``DEST``.
"""

from __future__ import annotations

import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import UserError

MAX_ZIP_BYTES = 32 * 1024**2  # the app's upload limit (app.MAX_FILE_SIZE) as well
MAX_UNCOMPRESSED_BYTES = 256 * 1024**2
MAX_FILES = 20_000
MAX_RATIO = 100  # unpacked / packed size of one member over 1 MiB; images are already compressed
RATIO_FLOOR = 1024**2  # smaller members may compress well (a flat BMP): the total limit bounds them
MAX_IMAGE_PIXELS = 2048 * 2048
MAX_TOTAL_PIXELS = 128_000_000  # what the training process holds before resizing
MIN_IMAGES = 16
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}
UNLABELLED = "all"  # the class of images at the top of the zip


class UploadError(UserError):
    pass


@dataclass
class Extracted:
    folder: Path
    images: int
    skipped: int  # files that are not images
    classes: list[str]

    def summary(self, name: str) -> str:
        skipped = f", {self.skipped} other file(s) skipped" if self.skipped else ""
        return f"{name}: {self.images} images in {len(self.classes)} class(es){skipped}"


def extract_images(zip_path: str | Path, dest: str | Path, name: str | None = None) -> Extracted:
    """Check ``zip_path`` and write its images under ``dest`` (which must not exist yet)."""
    zip_path, dest = Path(zip_path), Path(dest)
    name = name or zip_path.name
    size = zip_path.stat().st_size
    if size > MAX_ZIP_BYTES:
        raise UploadError(f"{name} is {_mb(size)}; a zip of training images may be at most {_mb(MAX_ZIP_BYTES)}")
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError):
        raise UploadError(f"{name} is not a zip file (or is damaged); make one of a folder of images, with "
                          f"one sub-folder per class") from None
    with archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        _check_members(members, name)
        dest.mkdir(parents=True)
        try:
            return _extract(archive, members, dest, name)
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            raise


def _check_members(members: list[zipfile.ZipInfo], name: str) -> None:
    """What the zip's directory says, checked before anything is unpacked."""
    if len(members) > MAX_FILES:
        raise UploadError(f"{name} holds {len(members):,} files; at most {MAX_FILES:,} are taken")
    for info in members:
        path = PurePosixPath(info.filename.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
            raise UploadError(f"{name} holds {info.filename!r}, a path outside the zip's own folder; "
                              f"refused (zip the images' folder itself)")
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise UploadError(f"{name} looks like a zip bomb: {info.filename!r} unpacks from "
                              f"{_mb(info.compress_size)} to {_mb(info.file_size)}; refused")
        if info.flag_bits & 0x1:
            raise UploadError(f"{name} is password-protected; zip the images without a password")
    declared = sum(info.file_size for info in members)
    if declared > MAX_UNCOMPRESSED_BYTES:
        raise UploadError(f"{name} unpacks to {_mb(declared)}; at most {_mb(MAX_UNCOMPRESSED_BYTES)} are taken")


def _label_of(path: PurePosixPath, top: str | None) -> str:
    parts = path.parts[1:] if top is not None else path.parts
    return _safe_label(parts[0]) if len(parts) > 1 else UNLABELLED


def _safe_label(text: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_. " else "_" for c in text).strip(". ")
    return cleaned[:64] or "_"


def _extract(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], dest: Path, name: str) -> Extracted:
    from PIL import Image

    paths = [PurePosixPath(info.filename.replace("\\", "/")) for info in members]
    wanted = [(info, path) for info, path in zip(members, paths)
              if path.suffix.lower() in IMAGE_SUFFIXES and not _is_junk(path)]
    skipped = len(members) - len(wanted)
    firsts = {path.parts[0] for _, path in wanted if len(path.parts) > 1}
    top = firsts.pop() if len(firsts) == 1 and all(len(path.parts) > 1 for _, path in wanted) else None
    unpacked = pixels = images = 0
    counts: dict[str, int] = {}
    for info, path in wanted:
        label = _label_of(path, top)
        target = dest / label / f"{counts.get(label, 0):06d}{path.suffix.lower()}"
        target.parent.mkdir(exist_ok=True)
        unpacked += _copy_member(archive, info, target, name, MAX_UNCOMPRESSED_BYTES - unpacked)
        try:
            with Image.open(target) as image:
                width, height = image.size
                image.verify()
        except Exception:  # not an image after all, or a damaged one: Pillow raises many kinds
            target.unlink()
            skipped += 1
            continue
        if width * height > MAX_IMAGE_PIXELS:
            raise UploadError(f"{name}: {info.filename!r} is {width}x{height}; images of at most "
                              f"{MAX_IMAGE_PIXELS:,} pixels (2048x2048) are taken: downscale them first")
        pixels += width * height
        if pixels > MAX_TOTAL_PIXELS:
            raise UploadError(f"{name}: the images hold over {MAX_TOTAL_PIXELS:,} pixels together; use fewer "
                              f"or smaller ones (the training size is at most a few hundred pixels a side)")
        counts[label] = counts.get(label, 0) + 1
        images += 1
    if images < MIN_IMAGES:
        others = f" ({skipped} other file(s) skipped: not PNG, JPEG, BMP, GIF or WebP images)" if skipped else ""
        raise UploadError(f"{name} holds {images} image(s){others}; training needs at least {MIN_IMAGES}")
    return Extracted(dest, images, skipped, sorted(counts))


def _is_junk(path: PurePosixPath) -> bool:
    """macOS's resource forks and hidden files, which zips made by Finder carry."""
    return any(part.startswith(".") or part == "__MACOSX" for part in path.parts)


def _copy_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, name: str, budget: int) -> int:
    """Unpack one member, counting the bytes as they come: a zip may lie about its sizes."""
    written = 0
    try:
        with archive.open(info) as source, open(target, "wb") as out:
            while chunk := source.read(1024 * 1024):
                written += len(chunk)
                if written > budget:
                    raise UploadError(f"{name} unpacks to over {_mb(MAX_UNCOMPRESSED_BYTES)}; refused")
                out.write(chunk)
    except (zipfile.BadZipFile, EOFError, OSError, RuntimeError, NotImplementedError) as error:
        raise UploadError(f"{name} is damaged: {info.filename!r} cannot be unpacked ({error})") from None
    return written


def _mb(size: int) -> str:
    return f"{size / 1024**2:,.1f} MB"
