"""One retrain at a time: the ``flock`` on ``<artifacts>/runs/.retrain.lock``."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from taskclf_core.errors import BusyError, StorageError
from taskclf_core.fs.atomic import open_lock_file, storage_error
from taskclf_core.fs.faultpoints import faultpoint

RETRAIN_LOCK = ".retrain.lock"
#: The holder record's fixed width (the lock file is never longer).
HOLDER_BYTES = 120


@contextmanager
def retrain_lock(out_dir: Path) -> Iterator[None]:
    """Hold the one-retrain-at-a-time lock (``<out_dir>/runs/.retrain.lock``).

    The lock is an ``flock``: the kernel drops it when the holder dies, so a killed
    retrain never leaves it behind. The file records the holder's pid for messages.

    Raises:
        BusyError: another retrain holds the lock.
        StorageError: the lock file cannot be created or opened (a read-only or full
            disk); the message names the path.
    """
    runs_dir = Path(out_dir) / "runs"
    path = runs_dir / RETRAIN_LOCK
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        # No link is followed and a file that is not ours is never written: a symlink (or
        # a hard link to another file) at the lock's name is refused, not truncated.
        fd = open_lock_file(path)
    except OSError as exc:
        raise storage_error(exc, path, "lock") from exc
    try:
        info = os.fstat(fd)
        if info.st_nlink != 1 or info.st_size > HOLDER_BYTES:
            raise StorageError(
                f"{path} is not a retrain lock file ({info.st_nlink} links, {info.st_size} bytes); "
                "remove it (it may be a link to another file) and retry"
            )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BusyError(
                f"another retrain is running ({_lock_holder(fd)}); wait for it to finish or cancel it"
            ) from None
        holder = f"pid {os.getpid()}, started {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC"
        try:
            # A fixed-width record overwrites the last one in place: never a truncation.
            os.pwrite(fd, holder.encode().ljust(HOLDER_BYTES), 0)
        except OSError:
            pass  # only for messages: a full disk must not fail here, the save step says so
        faultpoint("retrain.locked")
        yield
    finally:
        os.close(fd)


def _lock_holder(fd: int) -> str:
    """The holder record of a held retrain lock (it may take the holder a moment to write it)."""
    for _ in range(20):
        holder = os.pread(fd, HOLDER_BYTES, 0).decode("utf-8", "replace").strip()
        if holder:
            return holder
        time.sleep(0.005)
    return "unknown"


def retrain_running(out_dir: Path) -> str | None:
    """Who holds the retrain lock (``"pid N, started …"``), or ``None`` when free."""
    path = Path(out_dir) / "runs" / RETRAIN_LOCK
    if not path.exists():
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None  # a link or an unreadable file: no retrain holds it (retrain_lock says why)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.pread(fd, HOLDER_BYTES, 0).decode("utf-8", "replace").strip() or "unknown"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
