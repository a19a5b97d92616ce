"""File locks: an ``flock`` on a lock file that is never a link and never truncated.

The kernel drops an ``flock`` when its holder dies, so a crash never leaves a stale lock.
Every lock of the console (the registry's, one retrain at a time, the scheduler's tick,
the job start, the sign-out record) opens its file with :func:`lock_file` and takes it
with :func:`try_lock` or :func:`wait_lock`; :func:`lock_holder` asks whether another holds one.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from taskclf_core.fs.atomic import open_lock_file, storage_error


@contextmanager
def lock_file(path: Path) -> Iterator[int]:
    """The lock file at ``path`` opened (it and its folder created if needed); closing it on
    exit releases any lock taken on it.

    Raises:
        StorageError: it cannot be created or opened (a read-only or full disk, a symbolic
            link or not a regular file); the message names the path.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = open_lock_file(path)
    except OSError as exc:
        raise storage_error(exc, path, "lock") from exc
    try:
        yield fd
    finally:
        os.close(fd)


def try_lock(fd: int) -> bool:
    """Take the exclusive lock without waiting: False when another holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def wait_lock(fd: int) -> None:
    """Take the exclusive lock, waiting for its holder."""
    fcntl.flock(fd, fcntl.LOCK_EX)


def lock_holder(path: Path, record_bytes: int = 0) -> str | None:
    """Whether another holds the lock at ``path``: None when free (or no regular file is
    there to hold), else the first ``record_bytes`` of its holder record ("" with 0)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return os.pread(fd, record_bytes, 0).decode("utf-8", "replace") if record_bytes else ""
        return None
    finally:
        os.close(fd)  # also releases the shared lock just taken
