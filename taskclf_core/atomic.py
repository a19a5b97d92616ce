"""Atomic writes: a reader sees the old content or the new one, never a mix.

Files: write a temporary file in the same folder, flush, fsync, ``os.replace``, fsync the
folder. Folders: build a temporary sibling folder, fsync its files, rename it into place.
Every write to disk in this package goes through here.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from taskclf_core.errors import RegistryError

TMP_PREFIX = ".tmp-"


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (renames, new files) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (temp file, fsync, rename)."""
    path = Path(path)
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


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
    """
    if "\n" in line:
        raise ValueError("a log line must not contain a newline")
    data = (line + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size > 0:
            with open(path, "rb") as fh:
                fh.seek(size - 1)
                if fh.read(1) != b"\n":
                    data = b"\n" + data
        written = os.write(fd, data)
        if written != len(data):
            raise OSError(f"short write to {path}: {written} of {len(data)} bytes")
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_folder(target: Path) -> Iterator[Path]:
    """Build a folder under a temporary name and rename it to ``target`` on success.

    Yields the temporary folder to fill. On any exception the temporary folder is
    removed and ``target`` is untouched. ``target`` must not exist yet.
    """
    target = Path(target)
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        raise RegistryError(f"{target} already exists; refusing to overwrite it")
    tmp = parent / f"{TMP_PREFIX}{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        for child in tmp.iterdir():
            if child.is_file():
                fd = os.open(child, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        fsync_dir(tmp)
        try:
            os.rename(tmp, target)
        except OSError as exc:
            raise RegistryError(f"could not move {tmp.name} into place as {target}: {exc}") from exc
        fsync_dir(parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def is_temporary(path: Path) -> bool:
    """True for the leftovers of an interrupted atomic write."""
    return path.name.startswith(TMP_PREFIX)
