"""The registry's events: a champion change, an approval recorded, an approval expired.

Built from what the change itself wrote (the history entry, the pending approval), so an
event says exactly what the registry recorded. Sent with ``notify.emit`` by the code
that made the change, after it was written.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from taskclf_core.access.approvals import Approval, ChangeKind, ordinal
from taskclf_core.access.policy import AccessPolicy
from taskclf_core.notify.config import EventKind
from taskclf_core.notify.events import ApprovalCount, Event
from taskclf_core.registry.history import HistoryEntry


def review_page(run_id: str) -> str:
    """``Review?run=<id>``: the page that shows a run, relative to the console."""
    return f"Review?run={quote(run_id, safe='')}"


def _page(kind: ChangeKind, subject: str) -> str:
    return review_page(subject) if kind == "promote" else "History"


def change_event(entry: HistoryEntry) -> Event:
    """``promoted`` (a promotion, automatic or signed off, or a calibrator refit applied) or ``rolled_back``."""
    who = " and ".join(a.actor.name for a in entry.approvals) or entry.approver
    was = entry.previous_champion or "none"
    kind: EventKind
    if entry.action == "rollback":
        title = f"Rolled back to {entry.new_champion}"
        summary = f"{entry.new_champion} is the champion again, replacing {was}, rolled back by {who}. Note: {entry.note}"
        kind = "rolled_back"
        page = "History"
    elif entry.action == "recalibrate":
        title = f"Calibrator refit {entry.run_id} applied"
        summary = (f"{entry.new_champion} keeps serving with the calibrator refitted by run {entry.run_id}, "
                   f"signed off by {who}. Note: {entry.note}")
        kind = "promoted"
        page = review_page(entry.run_id)
    else:
        how = "automatically (auto_promote on, every gate passed)" if entry.action == "auto_promote" else f"signed off by {who}"
        title = f"Run {entry.run_id} promoted"
        summary = f"{entry.new_champion} is the champion, replacing {was}, {how}. Note: {entry.note}"
        kind = "promoted"
        page = review_page(entry.run_id)
    return Event(
        kind=kind, title=title, summary=summary, run_id=entry.run_id, model_id=entry.new_champion,
        outcome=entry.action, figures={"macro_f1": entry.macro_f1}, actor=who,
        reason=entry.requested.reason if entry.requested else None, page=page,
        approvals=ApprovalCount(given=len(entry.approvals), required=len(entry.approvals),
                                approved_by=[a.actor.name for a in entry.approvals]) if entry.approvals else None,
    )


def still_needed(given: Sequence[Approval], policy: AccessPolicy) -> str:
    """Who may give the next approval: the listed approvers who have not approved, in words."""
    left = [p for p in policy.approvers if not any(a.actor.email == p or a.actor.name == p for a in given)]
    listed = f"; approvers who have not approved: {', '.join(left)}" if left else ""
    return f"a {ordinal(len(given) + 1)} approver other than {', '.join(a.actor.name for a in given)}{listed}"


def approval_event(kind: ChangeKind, subject: str, given: Sequence[Approval], policy: AccessPolicy) -> Event:
    """``approval_recorded``: one sign-off of a change that needs more (``1 of 2``, who is still needed)."""
    latest = given[-1]
    what = f"run {subject}" if kind == "promote" else f"the rollback to {subject}"
    needed = still_needed(given, policy)
    return Event(
        kind="approval_recorded",
        title=f"Approval {len(given)} of {policy.required_approvals} for {what}",
        summary=(f"{latest.actor.name} approved {what} ({len(given)} of {policy.required_approvals} approvals). "
                 f"Still needed: {needed}. Note: {latest.note}"),
        run_id=subject if kind == "promote" else None, model_id=subject if kind == "rollback" else None,
        outcome="pending", actor=latest.actor.name, page=_page(kind, subject),
        approvals=ApprovalCount(given=len(given), required=policy.required_approvals,
                                approved_by=[a.actor.name for a in given], still_needed=needed),
    )


def expired_event(kind: ChangeKind, subject: str, approval: Approval, days: float) -> Event:
    """``approval_expired``: a pending approval voided after ``access.approval_expiry_days``."""
    what = f"run {subject}" if kind == "promote" else f"the rollback to {subject}"
    return Event(
        kind="approval_expired",
        title=f"Approval of {what} expired",
        summary=(f"The approval by {approval.actor.name} of {what} waited {days:g} day(s) for a next approver "
                 "and is void now (access.approval_expiry_days); the change needs its approvals again."),
        run_id=subject if kind == "promote" else None, model_id=subject if kind == "rollback" else None,
        outcome="expired", actor=approval.actor.name, page=_page(kind, subject),
    )


__all__ = ["approval_event", "change_event", "expired_event", "review_page", "still_needed"]
