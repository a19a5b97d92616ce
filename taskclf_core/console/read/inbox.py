""""Waiting for you": what the signed-in person (the local console's OS user) may sign off now.

Status opens with it. An item is a run awaiting sign-off that this person has not
approved (with the approvals given so far: ``1 of 2 by alice``), or a pending rollback
that needs a different approver than those who gave it; each with how long it has
waited, when its approvals expire, and the page to act on. A person who already
approved a change that needs another approver does not see it (they cannot act).
Before reading, approvals past ``access.approval_expiry_days`` are voided
(``registry.expiry``), so an expired one never shows as waiting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

from taskclf_core.access.approvals import Approval, approval_by, names, ordinal
from taskclf_core.access.identity import Identity, local_identity, os_user
from taskclf_core.console.access import Access, void_expired
from taskclf_core.console.formatting import format_age
from taskclf_core.console.read.runstate import run_rows
from taskclf_core.paths import Home
from taskclf_core.registry.pending import PendingState, all_pending, pending_state
from taskclf_core.registry.snapshot import registry_snapshot
from taskclf_core.registry.stamps import parse_utc
from taskclf_core.registry.verdict import promotability
from taskclf_core.times import format_utc
from taskclf_core.train.config import read_config

#: How many runs awaiting sign-off (newest first) the inbox checks.
RUNS_CHECKED: Final = 5


@dataclass(frozen=True)
class InboxItem:
    """One thing waiting for this person."""

    kind: Literal["promote", "rollback"]
    #: The run (promotion) or the model (rollback).
    subject: str
    text: str
    #: How long it has waited (since the run finished, or the first approval).
    age: timedelta | None
    #: When its approvals expire (None: no approval yet).
    expires_at: datetime | None
    #: The page to act on: ``Review`` (with ``run``) or ``History``.
    page: Literal["Review", "History"]
    query: dict[str, str] = field(default_factory=dict)

    def line(self) -> str:
        """The item in one line: the text, the wait, the expiry."""
        out = f"{self.text} Waiting {format_age(self.age)}."
        if self.expires_at is not None:
            out += f" The approvals given expire at {format_utc(self.expires_at)}."
        return out


@dataclass(frozen=True)
class Inbox:
    """Everything waiting for one person, and a note when nothing can (no role, not signed in)."""

    person: str | None
    items: list[InboxItem]
    note: str | None = None


def _person(access: Access) -> Identity | None:
    if access.identity is not None:
        return access.identity
    if access.team:
        return None
    user = os_user()  # the local console signs off as its OS user, whatever name is typed
    return local_identity(f"OS user {user}", user=user, cli_users=access.policy.cli_users)


def _since(approvals: tuple[Approval, ...]) -> datetime | None:
    try:
        return min(parse_utc(a.at) for a in approvals) if approvals else None
    except ValueError:
        return None


def _item(state: PendingState, person: Identity, days: float, now: datetime, finished: datetime | None) -> InboxItem | None:
    mine = approval_by(state.valid, person)
    if mine is not None and not state.complete:
        return None  # approved already: another approver must act
    first = _since(state.valid)
    title = f"Run {state.subject}" if state.kind == "promote" else f"The rollback to {state.subject}"
    if state.valid:
        given = f"{len(state.valid)} of {state.required} approvals given ({names(state.valid)})"
        act = ("your sign-off completes it" if state.complete or len(state.valid) + 1 >= state.required
               else f"yours would be the {ordinal(len(state.valid) + 1)}")
        text = f"{title}: {given}; it needs a different approver: {act}."
    else:
        text = f"{title} awaits your sign-off."
    since = first or finished
    return InboxItem(
        kind=state.kind, subject=state.subject, text=text, age=now - since if since else None,
        expires_at=first + timedelta(days=days) if first else None,
        page="Review" if state.kind == "promote" else "History",
        query={"run": state.subject} if state.kind == "promote" else {},
    )


def _promotable(home: Home) -> list[tuple[str, datetime | None]]:
    """The newest runs awaiting sign-off that may be promoted now."""
    auto_promote = read_config(home.config_path).effective.auto_promote
    with registry_snapshot(home) as snap:
        rows = [r for r in run_rows(snap)[0] if r.outcome == "awaiting_signoff"][:RUNS_CHECKED]
    return [(r.run_id, r.finished_at) for r in rows if promotability(home, r.run_id, auto_promote=auto_promote)[0]]


def waiting_for(
    home: Home, access: Access, *, awaiting: Sequence[tuple[str, datetime | None]] | None = None,
    now: datetime | None = None, expire: bool = True,
) -> Inbox:
    """What this session's person may sign off now, oldest wait first (Status, "Waiting for you").

    Args:
        awaiting: The runs awaiting sign-off that may be promoted now, as ``(run id, finished
            at)``, when the caller judged them already (Status's summary); None: judged here.
        expire: Void the expired approvals first (False: the caller did, as Status does
            before its registry snapshot).
    """
    now = now or datetime.now(UTC)
    person = _person(access)
    if person is None:
        return Inbox(None, [], "Sign in to see what waits for you.")
    if not access.can("approver"):
        return Inbox(person.name, [], f"Nothing waits for you: only approvers sign off (you are signed in as "
                                      f"{access.roles()}).")
    policy = access.policy
    if expire:  # Status voids them before it reads the registry once (status_summary)
        void_expired(home, policy, now=now)
    items: list[InboxItem] = []
    for run_id, finished in _promotable(home) if awaiting is None else awaiting:
        state = pending_state(home, run_id, required=policy.required_approvals)
        item = _item(state, person, policy.approval_expiry_days, now, finished)
        if item is not None:
            items.append(item)
    for state in all_pending(home, required=policy.required_approvals):
        if state.kind == "rollback" and state.valid:
            item = _item(state, person, policy.approval_expiry_days, now, None)
            if item is not None:
                items.append(item)
    items.sort(key=lambda i: i.age or timedelta(0), reverse=True)
    note = None if items else "Nothing waits for you: no run awaits your sign-off and no approval needs yours."
    return Inbox(person.name, items, note)


__all__ = ["RUNS_CHECKED", "Inbox", "InboxItem", "waiting_for"]
