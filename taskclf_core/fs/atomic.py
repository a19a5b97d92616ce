"""Atomic writes: a reader sees the old content or the new one, never a mix.

Files: write a temporary file in the same folder, flush, fsync, ``os.replace``, fsync the
folder. Folders: build a temporary sibling folder, fsync its files, rename it into place.
Every write to disk in this package goes through here.

An ``OSError`` (a full disk, a read-only mount, no permission) leaves the target as it
was and becomes a :class:`~taskclf_core.errors.StorageError` naming the path and the
reason in words (``cannot write /…/models/active.json: no space left on device``), so
front ends show one line instead of a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from taskclf_core.errors import StorageError
from taskclf_core.fs.faultpoints import faultpoint

TMP_PREFIX = ".tmp-"

_REASONS: dict[int, str] = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EFBIG: "file too large",
    errno.EIO: "input/output error",
}


def os_error_reason(exc: OSError) -> str:
    """The reason of an ``OSError`` in words (``"no space left on device"``)."""
    if exc.errno in _REASONS:
        return _REASONS[exc.errno]
    return (exc.strerror or str(exc) or type(exc).__name__).lower()


def storage_error(exc: OSError, path: Path | str, action: str = "write") -> StorageError:
    """``StorageError("cannot <action> <path>: <reason>")`` for an ``OSError`` on ``path``."""
    return StorageError(f"cannot {action} {path}: {os_error_reason(exc)}")


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (renames, new files) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir_after_rename(path: Path) -> None:
    # The rename is done and visible; a failing fsync of the folder cannot undo it, and
    # raising would report a change that took effect as failed. Best effort.
    with contextlib.suppress(OSError):
        fsync_dir(path)


def open_lock_file(path: Path) -> int:
    """Open (creating if needed) a lock file without following links; never truncates it.

    Returns:
        A read-write file descriptor on a regular file (close-on-exec).

    Raises:
        OSError: ``path`` is a symbolic link (``ELOOP``), not a regular file, or cannot be
            opened.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, f"{path} is not a regular file")
    return fd


def _create_exclusive(path: Path) -> int:
    # O_EXCL + O_NOFOLLOW: a temporary name planted as a link (or any existing file) is
    # never written through; the random suffix makes a collision a refusal, not a write.
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (temp file, fsync, rename).

    Raises:
        StorageError: The disk refused the write (full, read-only, ...); ``path`` is
            unchanged and the temporary file removed when the disk allows it.
    """
    path = Path(path)
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    try:
        with os.fdopen(_create_exclusive(tmp), "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        faultpoint("atomic.file.written")
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise storage_error(exc, path) from exc
        raise
    faultpoint("atomic.file.replaced")
    _fsync_dir_after_rename(path.parent)


def write_text_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))


def dumps_json(obj: Any) -> str:
    """Canonical JSON text used for every JSON file we write (sorted keys, 2-space indent)."""
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def write_json_atomic(path: Path, obj: Any) -> None:
    """Replace ``path`` with ``obj`` as canonical JSON, atomically."""
    write_text_atomic(path, dumps_json(obj))


def append_line_durable(path: Path, line: str) -> None:
    """Append one line to a log file with a single ``write`` and fsync.

    If a previous writer died mid-line (no trailing newline), the new line starts on a
    fresh line so that it stays parseable.

    Raises:
        StorageError: The disk refused the write; at most a torn last line was written,
            which readers skip.
    """
    if "\n" in line:
        raise ValueError("a log line must not contain a newline")
    data = (line + "\n").encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise storage_error(exc, path) from exc
    try:
        size = os.fstat(fd).st_size
        if size > 0:
            with open(path, "rb") as fh:
                fh.seek(size - 1)
                if fh.read(1) != b"\n":
                    data = b"\n" + data
        faultpoint("atomic.append.before")
        written = os.write(fd, data)
        if written != len(data):  # a regular file only writes short when the disk is full
            raise OSError(errno.ENOSPC, f"short write ({written} of {len(data)} bytes)")
        os.fsync(fd)
        faultpoint("atomic.append.written")
    except OSError as exc:
        raise storage_error(exc, path) from exc
    finally:
        os.close(fd)


@contextmanager
def atomic_folder(target: Path) -> Iterator[Path]:
    """Build a folder under a temporary name and rename it to ``target`` on success.

    Yields the temporary folder to fill. On any exception the temporary folder is
    removed (when the disk allows it) and ``target`` is untouched. ``target`` must not
    exist yet.

    Raises:
        StorageError: ``target`` exists, or the disk refused a write, here or in the
            ``with`` block (an ``OSError`` there is reported for the file's final path).
    """
    target = Path(target)
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error(exc, parent, "create") from exc
    if target.exists():
        raise StorageError(f"{target} already exists; refusing to overwrite it")
    tmp = parent / f"{TMP_PREFIX}{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()
    except OSError as exc:
        raise storage_error(exc, target) from exc
    try:
        yield tmp
        faultpoint("atomic.folder.filled")
        for child in sorted(tmp.rglob("*"), reverse=True):  # files and sub-folders, deepest first
            if child.is_symlink():
                continue
            if child.is_file():
                _fsync_file(child, target / child.relative_to(tmp))
            elif child.is_dir():
                fsync_dir(child)
        fsync_dir(tmp)
        faultpoint("atomic.folder.synced")
        try:
            os.rename(tmp, target)
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            # Another writer renamed its folder into place first.
            raise StorageError(f"{target} already exists; refusing to overwrite it") from exc
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            raise storage_error(exc, _final_path(exc, tmp, target)) from exc
        raise
    faultpoint("atomic.folder.renamed")
    _fsync_dir_after_rename(parent)


def _fsync_file(path: Path, shown: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise storage_error(exc, shown) from exc


def _final_path(exc: OSError, tmp: Path, target: Path) -> Path:
    """Where the file an ``OSError`` names will live once the folder is in place.

    A failed copy names its source as ``filename`` and its destination as ``filename2``.
    """
    names = [Path(os.fsdecode(n)) for n in (exc.filename2, exc.filename) if n is not None]
    for name in names:
        if name == tmp or tmp in name.parents:
            return target / name.relative_to(tmp)
    return names[-1] if names else target


