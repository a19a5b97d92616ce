"""One read per render: a page render or a CLI listing reads the registry once.

A render asks the registry the same questions several times (the champion's pointer and
bundle, the history, the deployment, pending approvals, each run's promotability). Every
answer would read and hash the same files again, and two reads could disagree if a change
lands between them. Inside ``with registry_snapshot(home) as snap:`` the registry is read
once: ``snap`` holds the pointer, the history, the deployment (policy and calibrator
store) and the pending approvals, typed, and is handed to every read model; every other
registry read inside the block (a bundle's or a run's checks, the promotability rule,
the sign-off plan) is remembered too (:func:`one_read`), so it answers from the same
files. Outside such a block (every write, the retrain) nothing is remembered.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # the registry's modules import this one: their types only
    from taskclf_core.access.approvals import PendingApprovals
    from taskclf_core.paths import Home
    from taskclf_core.registry.deployment import Deployment
    from taskclf_core.registry.history import HistoryReport
    from taskclf_core.registry.pointer import ActiveState

T = TypeVar("T")

_MEMO: ContextVar[dict[Hashable, Any] | None] = ContextVar("taskclf_registry_snapshot", default=None)


@contextmanager
def one_read() -> Iterator[None]:
    """Remember the registry's reads until the block ends (read-only callers only).

    Re-entrant: a block inside another shares the outer block's reads.
    """
    if _MEMO.get() is not None:
        yield
        return
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


@dataclass(frozen=True)
class RegistrySnapshot:
    """The registry as one render or listing sees it, read once."""

    home: Home
    #: ``models/active.json`` and the bundle it names, checked.
    active: ActiveState
    #: ``models/active_history.jsonl``: the effective history and what was left out.
    history: HistoryReport
    #: What each taskclf serving path serves: the inference policy, its store, the pointer.
    deployment: Deployment
    #: ``models/pending_approvals.json`` (the two-person rule's first sign-offs).
    pending: PendingApprovals
    #: Why the pending approvals were not read (None: read, or no file).
    pending_problem: str | None = None

    @property
    def pointer_id(self) -> str | None:
        """The model ``active.json`` names, even when it is broken (what a rollback replaces)."""
        return self.active.pointer.model_id if self.active.pointer is not None else None

    @property
    def champion_id(self) -> str | None:
        """The usable champion's model id (None: none, or the pointer has a problem)."""
        return self.active.champion_id


def take_snapshot(home: Home) -> RegistrySnapshot:
    """The registry's pointer, history, deployment and pending approvals, read once per
    :func:`one_read` block (every call inside the block returns the same snapshot)."""
    from taskclf_core.registry.deployment import inspect_deployment
    from taskclf_core.registry.history import inspect_history
    from taskclf_core.registry.pending import read_pending
    from taskclf_core.registry.pointer import inspect_active

    def read() -> RegistrySnapshot:
        pending, problem = read_pending(home)
        return RegistrySnapshot(home, inspect_active(home), inspect_history(home), inspect_deployment(home),
                                pending, problem)

    return remembered(("snapshot", home), read)


@contextmanager
def registry_snapshot(home: Home) -> Iterator[RegistrySnapshot]:
    """Read the registry once for the block (a render, a listing) and yield the snapshot."""
    with one_read():
        yield take_snapshot(home)


__all__ = ["RegistrySnapshot", "one_read", "registry_snapshot", "remembered", "take_snapshot"]
