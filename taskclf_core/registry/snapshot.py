"""One read per render: inside :func:`one_read`, each file set is read and checked once.

A page render asks the registry the same questions several times (the champion's
pointer and bundle for the review, its effective state, its pending approvals and its
promotability; the run's files for promotability and for "intact"). Every answer reads
and hashes the same files again: for a real model that is most of a render's time.
Inside ``with one_read():`` the checks of a bundle or a run folder are done once and
their answers reused until the block ends: the render sees one snapshot of the registry.
Outside such a block (the CLI, every write) nothing is remembered.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

_MEMO: ContextVar[dict[Hashable, Any] | None] = ContextVar("taskclf_registry_snapshot", default=None)


@contextmanager
def one_read() -> Iterator[None]:
    """Remember the registry's file checks until the block ends (read-only callers only)."""
    token = _MEMO.set({})
    try:
        yield
    finally:
        _MEMO.reset(token)


def remembered(key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, once per ``key`` inside :func:`one_read` (every time outside it).

    An exception is not remembered: the next call computes again.
    """
    memo = _MEMO.get()
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    value: T = memo[key]
    return value


__all__ = ["one_read", "remembered"]
