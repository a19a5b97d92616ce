"""Sign-off with the acting identity: roles, the two-person rule, pending approvals.

``access.required_approvals: 2`` makes a promotion need sign-offs from two different
approvers. The first is kept as a pending approval in ``models/pending_approvals.json``
(written atomically, under the registry lock); the second completes the promotion's
compare-and-swap (``registry.promotion.promote``) and both land in its history entry.
An approval counts only while the champion it saw is the champion (see
``access.approvals.is_void``); after any champion change the file is pruned at the next
write, and a void approval is shown as void until then.

:func:`approve` and :func:`rollback_as` are what the console calls: they refuse an
identity without the approver role (``access.policy.require_role``) before anything else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pydantic import ValidationError

from taskclf_core.access.approvals import Approval, PendingApprovals, approval_by, split_void
from taskclf_core.access.identity import Identity
from taskclf_core.access.policy import AccessPolicy, require_role
from taskclf_core.errors import PromotionRefused, describe_validation_error
from taskclf_core.fs.atomic import write_text_atomic
from taskclf_core.paths import Home
from taskclf_core.registry.history import HistoryEntry
from taskclf_core.registry.pointer import ActiveState, inspect_active, registry_lock
from taskclf_core.registry.promotion import promote, rollback
from taskclf_core.registry.runids import validate_model_id, validate_run_id
from taskclf_core.registry.signoff import validate_signoff
from taskclf_core.registry.stamps import utc_now_iso
from taskclf_core.registry.verdict import (
    ANY_CHAMPION,
    FROM_RUN,
    AnyChampion,
    FromRun,
    judge,
    raise_refusal,
)

PENDING_FILE: Final = "pending_approvals.json"
MAX_PENDING_BYTES: Final = 1 << 20


def pending_path(home: Home) -> Path:
    """``models/pending_approvals.json``."""
    return home.models_dir / PENDING_FILE


def _shown(home: Home) -> str:
    return f"{home.models_dir.name}/{PENDING_FILE}"


def _read(home: Home) -> tuple[PendingApprovals, str | None]:
    """The pending approvals, and why they were ignored when the file is not valid."""
    path = pending_path(home)
    try:
        if path.is_symlink():
            return PendingApprovals(), f"{_shown(home)} is a symbolic link; not read"
        with path.open("rb") as fh:
            data = fh.read(MAX_PENDING_BYTES + 1)
    except FileNotFoundError:
        return PendingApprovals(), None
    except OSError as exc:
        return PendingApprovals(), f"{_shown(home)} cannot be read ({exc.strerror or exc})"
    if len(data) > MAX_PENDING_BYTES:
        return PendingApprovals(), f"{_shown(home)} is larger than {MAX_PENDING_BYTES:,} bytes; ignored"
    try:
        return PendingApprovals.model_validate_json(data), None
    except ValidationError as exc:
        why = describe_validation_error(exc, model=PendingApprovals)[:200]
        return PendingApprovals(), (
            f"{_shown(home)} is not valid ({why}); its pending approvals are ignored (sign off again)"
        )


def _write(home: Home, runs: dict[str, list[Approval]]) -> None:
    """Replace the file (the caller holds the registry lock)."""
    home.models_dir.mkdir(parents=True, exist_ok=True)
    body = PendingApprovals(runs={k: v for k, v in runs.items() if v})
    write_text_atomic(pending_path(home), body.model_dump_json(indent=2) + "\n")


def _champion(state: ActiveState) -> tuple[str | None, str | None]:
    pointer = state.pointer
    return (pointer.model_id, pointer.change_id) if pointer is not None else (None, None)


def _valid_only(runs: dict[str, list[Approval]], state: ActiveState) -> dict[str, list[Approval]]:
    champion, change_id = _champion(state)
    return {rid: split_void(items, champion, change_id)[0] for rid, items in runs.items()}


@dataclass(frozen=True)
class PendingState:
    """A run's approvals so far: the ones that count, the void ones, how many are needed."""

    run_id: str
    required: int
    valid: tuple[Approval, ...] = ()
    void: tuple[Approval, ...] = ()
    problem: str | None = None

    @property
    def remaining(self) -> int:
        """Sign-offs still needed (from approvers not in :attr:`valid`)."""
        return max(self.required - len(self.valid), 0)

    def sentences(self) -> list[str]:
        """What to show on Review, Status and History (empty when there is nothing)."""
        out = []
        if self.valid:
            who = "; ".join(a.describe() for a in self.valid)
            more = self.remaining
            out.append(
                f"Run {self.run_id}: {len(self.valid)} of {self.required} approvals given ({who}); "
                + (f"{more} more from a different approver completes the promotion" if more else "complete")
            )
        for approval in self.void:
            out.append(
                f"Run {self.run_id}: the approval by {approval.describe()} is void: the champion "
                f"changed since (it was {approval.champion or 'none'})"
            )
        if self.problem:
            out.append(self.problem)
        return out


def pending_state(home: Home, run_id: str, *, required: int) -> PendingState:
    """A run's pending approvals against the current champion (no lock; read only).

    Args:
        home: The registry home.
        run_id: The run (validated).
        required: ``access.required_approvals`` in force.
    """
    run_id = validate_run_id(run_id)
    data, problem = _read(home)
    champion, change_id = _champion(inspect_active(home))
    valid, void = split_void(data.runs.get(run_id, []), champion, change_id)
    return PendingState(run_id, required, tuple(valid), tuple(void), problem)


def all_pending(home: Home, *, required: int) -> list[PendingState]:
    """Every run with approvals on file (valid or void), newest approval first."""
    data, problem = _read(home)
    champion, change_id = _champion(inspect_active(home))
    states = []
    for rid, items in data.runs.items():
        valid, void = split_void(items, champion, change_id)
        if valid or void:
            states.append(PendingState(rid, required, tuple(valid), tuple(void)))
    states.sort(key=lambda s: max(a.at for a in (*s.valid, *s.void)), reverse=True)
    if problem:
        states.insert(0, PendingState("", required, problem=problem))
    return states


@dataclass(frozen=True)
class PendingApproval:
    """The result of a sign-off that does not complete the promotion yet."""

    run_id: str
    approval: Approval
    state: PendingState

    @property
    def approver(self) -> str:
        """Who signed off (as for a history entry)."""
        return self.approval.actor.name

    def describe(self) -> str:
        """``"Approval 1 of 2 recorded for run …; 1 more …"``."""
        return (
            f"Approval {len(self.state.valid)} of {self.state.required} recorded for run {self.run_id} "
            f"by {self.approval.describe()}; {self.state.remaining} more from a different approver "
            "completes the promotion"
        )


def approve(
    home: Home,
    run_id: str,
    *,
    actor: Identity,
    note: str,
    auto_promote: bool,
    policy: AccessPolicy,
    expected_champion: str | None | FromRun = FROM_RUN,
) -> HistoryEntry | PendingApproval:
    """Sign off a run as ``actor``: record a pending approval, or complete the promotion.

    Refuses, in this order: an actor without the approver role; a bad note; a run that
    may not be promoted now (``registry.verdict``, under the lock); an actor who already
    approved this run against the same champion. With ``policy.required_approvals``
    approvals from different people (the void ones not counted), promotes with every
    approval recorded in the history entry and clears the file.

    Returns:
        The history entry when the promotion took effect, else the pending approval.

    Raises:
        AccessDenied: ``actor`` is not an approver.
        RunIdError, PromotionRefused, ChampionChanged, BusyError: see ``registry.promote``.
    """
    run_id = validate_run_id(run_id)
    require_role(actor, policy, "approver", f"promote run {run_id}")
    _, note = validate_signoff(actor.name, note, "promote")
    with registry_lock(home):
        verdict = judge(home, run_id, auto_promote=auto_promote, automatic=False, expected=expected_champion)
        raise_refusal(verdict)
        assert verdict.state is not None
        champion, change_id = _champion(verdict.state)
        data, _ = _read(home)
        runs = _valid_only(data.runs, verdict.state)
        given = runs.get(run_id, [])
        earlier = approval_by(given, actor)
        if earlier is not None:
            raise PromotionRefused(
                f"{actor.name} already approved run {run_id} (at {earlier.at}); the same person "
                f"cannot approve twice: {policy.required_approvals} different approvers must sign off"
            )
        approval = Approval(
            actor=actor, at=utc_now_iso(), note=note, champion=champion, champion_change_id=change_id
        )
        approvals = [*given, approval]
        if len(approvals) < policy.required_approvals:
            _write(home, {**runs, run_id: approvals})
            state = PendingState(run_id, policy.required_approvals, tuple(approvals))
            return PendingApproval(run_id, approval, state)
        entry = promote(
            home, run_id, approver=actor.name, note=note, auto_promote=auto_promote,
            expected_champion=expected_champion, actor=actor, approvals=tuple(approvals),
        )
        if pending_path(home).exists():  # the champion changed: every approval on file is void
            _write(home, {})
        return entry


def rollback_as(
    home: Home,
    model_id: str,
    *,
    actor: Identity,
    note: str,
    policy: AccessPolicy,
    expected_champion: str | None | AnyChampion = ANY_CHAMPION,
) -> HistoryEntry:
    """Roll back as ``actor`` (one approver suffices: it restores a former champion).

    Raises:
        AccessDenied: ``actor`` is not an approver.
        RunIdError, PromotionRefused, ChampionChanged, BusyError: see ``registry.rollback``.
    """
    model_id = validate_model_id(model_id)
    require_role(actor, policy, "approver", f"roll back to {model_id}")
    return rollback(
        home, model_id, approver=actor.name, note=note, expected_champion=expected_champion, actor=actor
    )


def approvals_text(approvals: Iterable[Approval]) -> str:
    """The approvals of a change in one line (for tables and the report)."""
    return "; ".join(a.describe() for a in approvals)


__all__ = [
    "PENDING_FILE",
    "PendingApproval",
    "PendingState",
    "all_pending",
    "approvals_text",
    "approve",
    "pending_path",
    "pending_state",
    "rollback_as",
]
