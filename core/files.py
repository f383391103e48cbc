"""Atomic file writes: a reader, or a run killed mid-write, sees the old file or the new one,
never half of each. A write that finds the disk full or the folder read-only raises
``WriteError`` (a message, not a traceback) and leaves the old file as it was.

Each write goes to a temporary ``.NAME.XXXXXXXX.tmp`` beside its target, then is renamed
over it. A process killed between the two leaves that temporary file behind;
``remove_temporaries`` deletes such leftovers (training calls it when a run starts).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
from pathlib import Path

from .errors import UserError

TEMPORARY_SUFFIX = ".tmp"
# mkstemp's names: our prefix ".NAME.", 8 characters of [a-z0-9_], our suffix.
TEMPORARY_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")
FULL = (errno.ENOSPC, errno.EDQUOT)
UNWRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EEXIST)


class WriteError(UserError):
    """A file could not be written: the disk is full, or the folder is read-only or not a
    folder. The file it would have replaced is unchanged."""


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX)
        with os.fdopen(fd, "wb") as f:
            _write(f, data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file private (0600); give it the mode a plain open() would.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as error:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno in FULL + UNWRITABLE:
            raise WriteError(write_failure(path.parent, error, path.name, len(data))) from None
        raise


def _write(f, data: bytes) -> None:
    """The one place bytes reach the disk (tests make it fail partway, as a full disk does)."""
    f.write(data)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_failure(folder: Path, error: OSError, name: str | None = None, size: int | None = None) -> str:
    """Why ``folder`` (or ``name`` in it) could not be written, in words: for a full disk,
    how many bytes the write needed and how many are free."""
    target = f"{name} in {folder}" if name else f"to {folder}"
    if error.errno in FULL:
        if name is None:
            return (f"no space left on the disk of {folder} ({_size(_free(folder))} free); free some space, "
                    f"or choose a folder on another disk")
        return (f"no space left on the disk to write {target}: it needs {_size(size)}, and "
                f"{_size(_free(folder))} are free there. The previous {name} is kept; free some space, "
                f"or choose a folder on another disk")
    if error.errno in (errno.ENOTDIR, errno.EEXIST):
        return f"cannot write {target}: a part of that path is a file, not a folder"
    reason = "a read-only file system" if error.errno == errno.EROFS else "no permission to write there"
    return f"cannot write {target} ({reason}); choose a folder you can write to"


def _free(folder: Path) -> int | None:
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None


def _size(size: int | None) -> str:
    if size is None:
        return "an unknown number of bytes"
    if size < 1e6:
        return f"{size:,} bytes"
    return f"{size:,} bytes ({size / 1e6:.1f} MB)" if size < 1e9 else f"{size:,} bytes ({size / 1e9:.1f} GB)"


def check_writable(folder: str | os.PathLike) -> None:
    """Make ``folder`` and write (then remove) a small file in it: a run that cannot save
    fails at once, before it loads data or trains."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-check.", suffix=TEMPORARY_SUFFIX)
        try:
            with os.fdopen(fd, "wb") as f:
                _write(f, b"ganzoo")
        finally:
            os.unlink(probe)
    except OSError as error:
        if error.errno not in FULL + UNWRITABLE:
            raise
        raise WriteError(write_failure(folder, error)) from None


def remove_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that writes killed midway left in ``folder`` (not in its
    sub-folders); returns them. Call it only where no other process is writing."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = [p for p in folder.iterdir() if p.is_file() and TEMPORARY_NAME.match(p.name)]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed
