"""Sign-offs of a champion change under the two-person rule (``access.required_approvals``).

An :class:`Approval` records who signed off a change (a promotion of a run, or a rollback
to a model), when, why, and which champion was in place then. It counts only while that
champion is: an approval given before the champion changed is void (the person approved
replacing a model that is no longer the one being replaced). The registry keeps pending
approvals in ``models/pending_approvals.json`` (see ``taskclf_core.registry.pending``)
and copies the approvals that completed a change into its history entry.

Who is "the same approver" is decided by :meth:`Identity.same_person` (the normalized
email; one approval per OS user for typed names), here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from taskclf_core.access.identity import Identity
from taskclf_core.times import format_utc  # the one time format (re-exported here)

PENDING_VERSION: Final = 1

#: What a sign-off changes: a run promoted, or the champion rolled back to a model.
ChangeKind = Literal["promote", "rollback"]


class Approval(BaseModel):
    """One sign-off of one change."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    actor: Identity
    #: When (UTC, ISO 8601).
    at: str
    note: str
    #: The champion (model id) when the approval was given; None when there was none.
    champion: str | None = None
    #: The history change that made that champion (``active.json``'s ``change_id``).
    champion_change_id: str | None = None
    #: The people this approver looked at first (the checklist's spot check); empty: not recorded.
    looked_at: tuple[str, ...] = ()

    def describe(self) -> str:
        """``"alice@example.com (signed in with OpenID Connect at …: …) at 2026-… UTC"``."""
        seen = f"; looked at {', '.join(self.looked_at)}" if self.looked_at else ""
        return f"{self.actor.describe()} at {format_utc(self.at)}{seen}"


class PendingApprovals(BaseModel):
    """``models/pending_approvals.json``: approvals given so far, by run id and by rollback target."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = PENDING_VERSION
    #: Promotions: run id -> approvals.
    runs: dict[str, list[Approval]] = Field(default_factory=dict)
    #: Rollbacks: the model to make champion again -> approvals.
    rollbacks: dict[str, list[Approval]] = Field(default_factory=dict)

    def of(self, kind: ChangeKind) -> dict[str, list[Approval]]:
        """The approvals of one kind of change, by subject (run id or model id)."""
        return self.runs if kind == "promote" else self.rollbacks


def is_void(approval: Approval, champion: str | None, change_id: str | None) -> bool:
    """Whether the champion changed since ``approval`` was given.

    Compared by the change that made the champion when both sides know it (a rollback
    to the same model and back is a change too), else by model id.
    """
    if approval.champion != champion:
        return True
    if approval.champion_change_id is not None and change_id is not None:
        return approval.champion_change_id != change_id
    return False


def split_void(
    approvals: Iterable[Approval], champion: str | None, change_id: str | None
) -> tuple[list[Approval], list[Approval]]:
    """``(valid, void)`` approvals against the current champion."""
    valid: list[Approval] = []
    void: list[Approval] = []
    for approval in approvals:
        (void if is_void(approval, champion, change_id) else valid).append(approval)
    return valid, void


def approval_by(approvals: Iterable[Approval], actor: Identity) -> Approval | None:
    """The approval ``actor`` (the same person: see :meth:`Identity.same_person`) already gave, if any."""
    return next((a for a in approvals if a.actor.same_person(actor)), None)


def names(approvals: Sequence[Approval]) -> str:
    """``"alice@example.com"``, ``"alice@example.com and bob@example.com"``, ``"a, b and c"``."""
    shown = [a.actor.name for a in approvals]
    if len(shown) <= 1:
        return "".join(shown)
    return f"{', '.join(shown[:-1])} and {shown[-1]}"


def ordinal(number: int) -> str:
    """``"second"`` for 2 (up to the fifth; ``"6th"`` beyond)."""
    return {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth"}.get(number, f"{number}th")


__all__ = [
    "PENDING_VERSION",
    "Approval",
    "ChangeKind",
    "PendingApprovals",
    "approval_by",
    "format_utc",
    "is_void",
    "names",
    "ordinal",
    "split_void",
]
