"""Pending approvals expire: after ``access.approval_expiry_days`` a first sign-off is void.

Nothing stays half-approved forever. :func:`expire_pending` moves every approval older
than the limit out of ``models/pending_approvals.json``, under the registry lock: it
appends a note per approval to ``models/expired_approvals.jsonl`` first (shown on
History), then rewrites the pending file, then announces each (event
``approval_expired``). A crash between the two writes leaves the approval pending and
its note written; the next sweep writes the note again, and readers show it once.

It runs where approvals are counted (``registry.approve``, under the same lock, so an
expired approval never counts), before the console shows any (``console.access``: the
inbox, Review, History; it writes only when one expired) and on every scheduled command
(``--if-due``), so the note and the event come even when nobody opens the console.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from pydantic import BaseModel, ConfigDict, ValidationError

from taskclf_core.access.approvals import Approval, ChangeKind, PendingApprovals
from taskclf_core.fs.atomic import append_line_durable
from taskclf_core.notify import emit
from taskclf_core.paths import Home
from taskclf_core.registry.events import expired_event
from taskclf_core.registry.pending import read_pending, write_pending
from taskclf_core.registry.pointer import registry_lock
from taskclf_core.registry.stamps import parse_utc

EXPIRED_FILE: Final = "expired_approvals.jsonl"


class ExpiredApproval(BaseModel):
    """The note of one approval that expired."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    expired_at: str
    kind: ChangeKind
    #: The run (promotion) or the model (rollback) it approved.
    subject: str
    approval: Approval
    #: ``access.approval_expiry_days`` in force when it expired.
    expiry_days: float

    @property
    def identity(self) -> tuple[str, str, str, str]:
        """What makes two notes the same approval (a note written twice after a crash)."""
        return (self.kind, self.subject, self.approval.actor.name, self.approval.at)

    def describe(self) -> str:
        """``"The approval by alice@… of run X (given …) expired on … after 7 day(s)"``."""
        what = f"run {self.subject}" if self.kind == "promote" else f"the rollback to {self.subject}"
        return (f"The approval by {self.approval.describe()} of {what} expired after {self.expiry_days:g} day(s) "
                "without a next approver; it no longer counts")


def expired_path(home: Home) -> Path:
    """``models/expired_approvals.jsonl``."""
    return home.models_dir / EXPIRED_FILE


def is_expired(approval: Approval, days: float, now: datetime) -> bool:
    """Whether ``approval`` is at least ``days`` old at ``now`` (an unreadable time counts as expired)."""
    try:
        given = parse_utc(approval.at)
    except ValueError:
        return True
    return now - given >= timedelta(days=days)


def _split(data: PendingApprovals, days: float, now: datetime) -> tuple[PendingApprovals, list[tuple[ChangeKind, str, Approval]]]:
    expired: list[tuple[ChangeKind, str, Approval]] = []
    kept: dict[ChangeKind, dict[str, list[Approval]]] = {"promote": {}, "rollback": {}}
    for kind in ("promote", "rollback"):
        for subject, approvals in data.of(kind).items():
            kept[kind][subject] = [a for a in approvals if not is_expired(a, days, now)]
            expired += [(kind, subject, a) for a in approvals if is_expired(a, days, now)]
    return PendingApprovals(runs=kept["promote"], rollbacks=kept["rollback"]), expired


def expire_pending(home: Home, days: float, *, now: datetime | None = None) -> list[ExpiredApproval]:
    """Void the pending approvals older than ``days``: note them, drop them, announce them.

    Reads without the lock first and takes it only when something expired.

    Returns:
        The notes written (empty when nothing expired).

    Raises:
        BusyError: another change held the registry lock too long.
        RegistryError: a note or the pending file could not be written (the message names it).
    """
    now = now or datetime.now(UTC)
    data, problem = read_pending(home)
    if problem or not _split(data, days, now)[1]:
        return []
    notes: list[ExpiredApproval] = []
    with registry_lock(home):
        data, problem = read_pending(home)
        if problem:
            return []
        kept, expired = _split(data, days, now)
        if not expired:
            return []
        stamp = now.isoformat(timespec="seconds")
        for kind, subject, approval in expired:
            note = ExpiredApproval(expired_at=stamp, kind=kind, subject=subject, approval=approval, expiry_days=days)
            append_line_durable(expired_path(home), note.model_dump_json())
            notes.append(note)
        write_pending(home, kept)
    for note in notes:
        emit(home, expired_event(note.kind, note.subject, note.approval, note.expiry_days))
    return notes


def read_expired(home: Home, *, limit: int = 100) -> list[ExpiredApproval]:
    """The notes of expired approvals, newest first, each once (unreadable lines left out)."""
    try:
        data = expired_path(home).read_bytes()
    except OSError:
        return []
    seen: set[tuple[str, str, str, str]] = set()
    notes: list[ExpiredApproval] = []
    for raw in reversed(data.split(b"\n")):
        if not raw.strip():
            continue
        try:
            note = ExpiredApproval.model_validate_json(raw)
        except ValidationError:
            continue
        if note.identity not in seen:
            seen.add(note.identity)
            notes.append(note)
    return notes[:limit]


__all__ = ["EXPIRED_FILE", "ExpiredApproval", "expire_pending", "expired_path", "is_expired", "read_expired"]
