"""One retrain at a time: the ``flock`` on ``<artifacts>/runs/.retrain.lock``."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from taskclf_core.errors import BusyError, StorageError
from taskclf_core.fs.faultpoints import faultpoint
from taskclf_core.fs.locks import lock_file, lock_holder, try_lock

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
    # No link is followed and a file that is not ours is never written: a symlink (or a hard
    # link to another file) at the lock's name is refused, not truncated.
    path = Path(out_dir) / "runs" / RETRAIN_LOCK
    with lock_file(path) as fd:
        info = os.fstat(fd)
        if info.st_nlink != 1 or info.st_size > HOLDER_BYTES:
            raise StorageError(
                f"{path} is not a retrain lock file ({info.st_nlink} links, {info.st_size} bytes); "
                "remove it (it may be a link to another file) and retry"
            )
        if not try_lock(fd):
            raise BusyError(f"another retrain is running ({_lock_holder(fd)}); wait for it to finish or cancel it")
        holder = f"pid {os.getpid()}, started {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC"
        try:
            # A fixed-width record overwrites the last one in place: never a truncation.
            os.pwrite(fd, holder.encode().ljust(HOLDER_BYTES), 0)
        except OSError:
            pass  # only for messages: a full disk must not fail here, the save step says so
        faultpoint("retrain.locked")
        yield


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
    holder = lock_holder(Path(out_dir) / "runs" / RETRAIN_LOCK, HOLDER_BYTES)
    return None if holder is None else holder.strip() or "unknown"
