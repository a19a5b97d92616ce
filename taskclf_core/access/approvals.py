"""Sign-offs of a promotion under the two-person rule (``access.required_approvals``).

An :class:`Approval` records who signed off a run, when, why, and which champion was in
place then. It counts only while that champion is: an approval given before the
champion changed is void (the person approved replacing a model that is no longer the
one being replaced). The registry keeps pending approvals in ``models/pending_approvals.json``
(see ``taskclf_core.registry.pending``) and copies the approvals that completed a
promotion into its history entry.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from taskclf_core.access.identity import Identity
from taskclf_core.times import format_utc

PENDING_VERSION: Final = 1


class Approval(BaseModel):
    """One sign-off of one run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    actor: Identity
    #: When (UTC, ISO 8601).
    at: str
    note: str
    #: The champion (model id) when the approval was given; None when there was none.
    champion: str | None = None
    #: The history change that made that champion (``active.json``'s ``change_id``).
    champion_change_id: str | None = None

    def describe(self) -> str:
        """``"alice@example.com (…) at 2026-12-06 15:22 UTC"``."""
        return f"{self.actor.describe()} at {format_utc(self.at)}"


class PendingApprovals(BaseModel):
    """``models/pending_approvals.json``: approvals given so far, by run id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = PENDING_VERSION
    runs: dict[str, list[Approval]] = Field(default_factory=dict)


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
    """The approval ``actor`` already gave among ``approvals``, if any."""
    return next((a for a in approvals if a.actor.key == actor.key), None)


__all__ = ["PENDING_VERSION", "Approval", "PendingApprovals", "approval_by", "is_void", "split_void"]
