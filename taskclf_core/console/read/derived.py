"""Derive once per run: what the pages build from a run's files, reused until the files change.

A review re-derives the same things from the same files for every reader: the evidence
parsed and checked, the gate rows, the chart specifications. They depend only on the run's
evidence files, so they are kept in a small process-wide cache keyed by the SHA-256 of
those files' bytes (never by a time): every session of the app shares one copy, and a
changed file gives a new key (the old entry ages out). What depends on the registry (the
champion now, promotability, the history, pending approvals, whether every file is
intact) is read on every render, because it changes without the run's files changing.

Cached values are shared between sessions and threads: they are immutable (frozen
records, tuples, JSON text) and must be treated as read-only.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Final, Generic, TypeVar

T = TypeVar("T")

#: How many runs' derived records a server keeps (a few reviews read at once; each is small).
CACHED_RUNS: Final = 16
#: How many bytes of an evidence file are read for the key (larger files are refused later).
_MAX_KEY_BYTES: Final = 64 << 20


def content_key(folder: Path, names: Iterable[str]) -> str:
    """SHA-256 over the named files' names and bytes (a missing file counts as absent).

    Args:
        folder: The run folder.
        names: The files whose content decides what is derived.
    """
    digest = hashlib.sha256()
    for name in names:
        digest.update(name.encode() + b"\0")
        try:
            with (folder / name).open("rb") as fh:
                data = fh.read(_MAX_KEY_BYTES + 1)
        except OSError as exc:
            digest.update(f"<unreadable: {type(exc).__name__}>".encode())
            continue
        digest.update(len(data).to_bytes(8, "big") + hashlib.sha256(data).digest())
    return digest.hexdigest()


class ContentCache(Generic[T]):
    """A process-wide LRU of derived values keyed by ``(where, content key)``, thread-safe.

    ``make`` runs outside the lock (two sessions missing at once may both derive; one
    result is kept). A value derived while the files changed is not kept: the key is
    recomputed after ``make`` and must be unchanged.
    """

    def __init__(self, maxsize: int = CACHED_RUNS) -> None:
        self._items: OrderedDict[tuple[str, str], T] = OrderedDict()
        self._lock = threading.Lock()
        self._maxsize = maxsize
        self.hits = 0
        self.misses = 0

    def get(self, where: str, key: Callable[[], str], make: Callable[[], T]) -> tuple[T, str]:
        """The value for ``where`` at its current content, derived by ``make`` on a miss.

        Returns:
            ``(value, content key)``.
        """
        before = key()
        with self._lock:
            found = self._items.get((where, before))
            if found is not None:
                self._items.move_to_end((where, before))
                self.hits += 1
                return found, before
            self.misses += 1
        value = make()
        if key() == before:
            with self._lock:
                self._items[(where, before)] = value
                self._items.move_to_end((where, before))
                while len(self._items) > self._maxsize:
                    self._items.popitem(last=False)
        return value, before

    def clear(self) -> None:
        """Forget every value (tests, or a server asked to re-read everything)."""
        with self._lock:
            self._items.clear()


__all__ = ["CACHED_RUNS", "ContentCache", "content_key"]
