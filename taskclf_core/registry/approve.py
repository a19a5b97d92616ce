"""Sign-off with the acting identity: roles, the two-person rule, completing the change.

:func:`approve` (promote a run) and :func:`rollback_as` (make a former champion the
champion again) are what the console and the CLI call. Both refuse an identity without
the approver role (``access.policy.require_role``) and a sign-in older than
``access.signoff_reauth_minutes`` before anything else; then, under the registry lock,
they check that the change could happen now, refuse a person who already approved it
(``Identity.same_person``: the normalized email; one approval per OS user for typed
names), and either record a pending approval (``registry.pending``) or, with
``required_approvals`` different people, carry the change out with every approval in
its history entry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from taskclf_core.access.approvals import Approval, ChangeKind, approval_by, format_utc
from taskclf_core.access.identity import Identity
from taskclf_core.access.policy import AccessPolicy, require_fresh_signin, require_role
from taskclf_core.errors import PromotionRefused
from taskclf_core.notify import emit
from taskclf_core.paths import Home
from taskclf_core.registry.events import approval_event
from taskclf_core.registry.expiry import expire_pending
from taskclf_core.registry.history import HistoryEntry
from taskclf_core.registry.pending import (
    PendingApprovals,
    PendingState,
    champion_of,
    pending_path,
    read_pending,
    valid_only,
    write_pending,
)
from taskclf_core.registry.pointer import ActiveState, registry_lock
from taskclf_core.registry.promotion import check_rollback, promote, rollback
from taskclf_core.registry.runids import validate_model_id, validate_run_id
from taskclf_core.registry.runs import read_run
from taskclf_core.registry.signoff import validate_signoff
from taskclf_core.registry.spotcheck import require_spot_checks
from taskclf_core.registry.stamps import utc_now_iso
from taskclf_core.registry.verdict import (
    ANY_CHAMPION,
    FROM_RUN,
    AnyChampion,
    FromRun,
    check_promotion,
    raise_refusal,
)

_VERB = {"promote": "promote run", "rollback": "roll back to"}
_DONE = {"promote": "the promotion", "rollback": "the rollback"}


@dataclass(frozen=True)
class PendingApproval:
    """The result of a sign-off that does not complete the change yet."""

    subject: str
    approval: Approval
    state: PendingState

    @property
    def run_id(self) -> str:
        """The run (promotion) or the model (rollback) signed off."""
        return self.subject

    @property
    def kind(self) -> ChangeKind:
        """``promote`` or ``rollback``."""
        return self.state.kind

    @property
    def approver(self) -> str:
        """Who signed off (as for a history entry)."""
        return self.approval.actor.name

    def describe(self) -> str:
        """``"Approval 1 of 2 recorded for run …; 1 more …"``; for a typed identity, how it counts."""
        what = f"run {self.subject}" if self.kind == "promote" else f"the rollback to {self.subject}"
        text = (
            f"Approval {len(self.state.valid)} of {self.state.required} recorded for {what} "
            f"by {self.approval.describe()}; {self.state.remaining} more from a different approver "
            f"completes {_DONE[self.kind]}"
        )
        actor = self.approval.actor
        if actor.method in ("cli", "local") and actor.os_user:
            person = f"the person {actor.email}" if actor.email else f"OS user {actor.os_user}"
            text += (
                f" (an unauthenticated sign-off counts once per OS user whatever approver name is given: "
                f"this one counts as {person}; another OS user, or an approver signed in on the console, "
                "must give the next one)"
            )
        return text


def _already(actor: Identity, earlier: Approval, subject: str, kind: ChangeKind, required: int) -> PromotionRefused:
    how = ""
    if actor.method in ("cli", "local") and actor.os_user:
        how = (
            f" (as OS user {earlier.actor.os_user or actor.os_user}: an unauthenticated sign-off counts "
            "once per OS user, whatever approver name is given)"
        )
    what = f"run {subject}" if kind == "promote" else f"the rollback to {subject}"
    return PromotionRefused(
        f"{actor.name} already approved {what} (as {earlier.actor.name} at {format_utc(earlier.at)}){how}; "
        f"the same person cannot approve twice: {required} different approvers must sign off"
    )


def _sign(
    home: Home, kind: ChangeKind, subject: str, *, actor: Identity, note: str, policy: AccessPolicy,
    check: Callable[[], ActiveState], complete: Callable[[tuple[Approval, ...]], HistoryEntry],
    looked_at: tuple[str, ...] = (),
) -> HistoryEntry | PendingApproval:
    """The two-person rule for one change, under the registry lock."""
    with registry_lock(home):
        expire_pending(home, policy.approval_expiry_days)  # an expired approval never counts
        state = check()
        champion, change_id = champion_of(state)
        data, _ = read_pending(home)
        pending = valid_only(data, state)
        given = pending.of(kind).get(subject, [])
        required = policy.required_approvals
        earlier = approval_by(given, actor)
        if earlier is not None and len(given) < required:
            raise _already(actor, earlier, subject, kind, required)
        if earlier is not None:  # required_approvals was lowered: the approvals on file suffice
            approvals = tuple(given)
        else:
            approval = Approval(actor=actor, at=utc_now_iso(), note=note, champion=champion, champion_change_id=change_id,
                                looked_at=looked_at)
            approvals = (*given, approval)
            if len(approvals) < required:
                runs, rollbacks = dict(pending.runs), dict(pending.rollbacks)
                (runs if kind == "promote" else rollbacks)[subject] = list(approvals)
                write_pending(home, PendingApprovals(runs=runs, rollbacks=rollbacks))
                emit(home, approval_event(kind, subject, approvals, policy))
                return PendingApproval(subject, approval, PendingState(subject, required, approvals, kind=kind))
        entry = complete(approvals)
        if pending_path(home).exists():
            # Done: its approvals are in the history entry. The others on file are void now
            # (the champion moved) and are shown as such until the next write prunes them.
            runs, rollbacks = dict(pending.runs), dict(pending.rollbacks)
            (runs if kind == "promote" else rollbacks).pop(subject, None)
            write_pending(home, PendingApprovals(runs=runs, rollbacks=rollbacks))
        return entry


def _gatekeep(actor: Identity, policy: AccessPolicy, action: str, now: datetime | None) -> None:
    require_role(actor, policy, "approver", action)
    require_fresh_signin(actor, policy, now=now or datetime.now(UTC))


def approve(
    home: Home,
    run_id: str,
    *,
    actor: Identity,
    note: str,
    auto_promote: bool,
    policy: AccessPolicy,
    expected_champion: str | None | FromRun = FROM_RUN,
    now: datetime | None = None,
    looked_at: Sequence[str] | None = None,
) -> HistoryEntry | PendingApproval:
    """Sign off a run as ``actor``: record a pending approval, or complete the promotion.

    ``looked_at``: the people the approver looked at (the checklist's spot check); when
    given it must cover what the run asks (``registry.spotcheck``); None: not recorded.

    Refuses, in this order: an actor without the approver role or with a sign-in too old
    for ``access.signoff_reauth_minutes``; a bad note; a run that may not be promoted now
    (``registry.verdict``, under the lock); an actor who already approved this run
    against the same champion while more approvals are needed. With
    ``policy.required_approvals`` approvals from different people (the void ones not
    counted), promotes with every approval recorded in the history entry and clears the file.

    Returns:
        The history entry when the promotion took effect, else the pending approval.

    Raises:
        AccessDenied: ``actor`` is not an approver, or must sign in again.
        RunIdError, PromotionRefused, ChampionChanged, BusyError: see ``registry.promote``.
    """
    run_id = validate_run_id(run_id)
    _gatekeep(actor, policy, f"{_VERB['promote']} {run_id}", now)
    _, note = validate_signoff(actor.name, note, "promote")

    def check() -> ActiveState:
        verdict = check_promotion(home, run_id, auto_promote=auto_promote, automatic=False, expected=expected_champion)
        raise_refusal(verdict)
        assert verdict.state is not None
        return verdict.state

    def complete(approvals: tuple[Approval, ...]) -> HistoryEntry:
        return promote(
            home, run_id, approver=actor.name, note=note, auto_promote=auto_promote,
            expected_champion=expected_champion, actor=actor, approvals=approvals,
        )

    # A run's files never change: its spot check is checked once, before the lock.
    seen = require_spot_checks(read_run(home, run_id), looked_at)
    return _sign(home, "promote", run_id, actor=actor, note=note, policy=policy, check=check, complete=complete,
                 looked_at=seen)


def rollback_as(
    home: Home,
    model_id: str,
    *,
    actor: Identity,
    note: str,
    policy: AccessPolicy,
    expected_champion: str | None | AnyChampion = ANY_CHAMPION,
    now: datetime | None = None,
) -> HistoryEntry | PendingApproval:
    """Roll back as ``actor``, under the same two-person rule as a promotion.

    A rollback changes what serves exactly as a promotion does: with
    ``required_approvals: 2`` the first approval is pending (void when the champion
    moves) and a second, different approver carries the rollback out.

    Returns:
        The history entry when the rollback took effect, else the pending approval.

    Raises:
        AccessDenied: ``actor`` is not an approver, or must sign in again.
        RunIdError, PromotionRefused, ChampionChanged, BusyError: see ``registry.rollback``.
    """
    model_id = validate_model_id(model_id)
    _gatekeep(actor, policy, f"{_VERB['rollback']} {model_id}", now)
    _, note = validate_signoff(actor.name, note, "roll back")

    def check() -> ActiveState:
        return check_rollback(home, model_id, expected_champion=expected_champion)[0].active

    def complete(approvals: tuple[Approval, ...]) -> HistoryEntry:
        return rollback(
            home, model_id, approver=actor.name, note=note, expected_champion=expected_champion,
            actor=actor, approvals=approvals,
        )

    return _sign(home, "rollback", model_id, actor=actor, note=note, policy=policy, check=check, complete=complete)


__all__ = ["PendingApproval", "approve", "rollback_as"]
