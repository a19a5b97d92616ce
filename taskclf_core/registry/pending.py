"""Pending approvals of the two-person rule: ``models/pending_approvals.json`` and what it says.

``access.required_approvals: 2`` makes a promotion, and a rollback, need sign-offs from
two different approvers. The first is kept here as a pending approval (written
atomically, under the registry lock, by ``registry.approve``); the second completes the
change and both land in its history entry. An approval counts only while the champion it
saw is the champion (``access.approvals.is_void``); after any champion change the file
is pruned at the next write, and a void approval is shown as void until then.

The states are judged against the ``required_approvals`` in force *now*: after the value
changes, a run with enough approvals is complete (the next sign-off, by anyone who may,
carries it out) and one with too few keeps waiting.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pydantic import ValidationError

from taskclf_core.access.approvals import (
    Approval,
    ChangeKind,
    PendingApprovals,
    approval_by,
    format_utc,
    names,
    ordinal,
    split_void,
)
from taskclf_core.access.identity import Identity
from taskclf_core.errors import describe_validation_error
from taskclf_core.fs.atomic import write_text_atomic
from taskclf_core.paths import Home
from taskclf_core.registry.pointer import ActiveState, inspect_active
from taskclf_core.registry.runids import validate_model_id, validate_run_id
from taskclf_core.registry.snapshot import remembered

PENDING_FILE: Final = "pending_approvals.json"
MAX_PENDING_BYTES: Final = 1 << 20
#: The change each kind completes, in words.
_COMPLETES: Final[dict[ChangeKind, str]] = {"promote": "the promotion", "rollback": "the rollback"}


def pending_path(home: Home) -> Path:
    """``models/pending_approvals.json``."""
    return home.models_dir / PENDING_FILE


def _shown(home: Home) -> str:
    return f"{home.models_dir.name}/{PENDING_FILE}"


def read_pending(home: Home) -> tuple[PendingApprovals, str | None]:
    """The pending approvals, and why they were ignored when the file is not valid.

    Read once per ``registry.snapshot.one_read`` block (a render's snapshot).
    """
    return remembered(("pending", home), lambda: _read_pending(home))


def _read_pending(home: Home) -> tuple[PendingApprovals, str | None]:
    """:func:`read_pending` without the snapshot's memory."""
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


def write_pending(home: Home, data: PendingApprovals) -> None:
    """Replace the file, dropping subjects without approvals (the caller holds the registry lock)."""
    home.models_dir.mkdir(parents=True, exist_ok=True)
    body = PendingApprovals(
        runs={k: v for k, v in data.runs.items() if v}, rollbacks={k: v for k, v in data.rollbacks.items() if v}
    )
    write_text_atomic(pending_path(home), body.model_dump_json(indent=2) + "\n")


def champion_of(state: ActiveState) -> tuple[str | None, str | None]:
    """``(model id, change id)`` of the champion in ``state`` (``(None, None)`` without one)."""
    pointer = state.pointer
    return (pointer.model_id, pointer.change_id) if pointer is not None else (None, None)


def valid_only(data: PendingApprovals, state: ActiveState) -> PendingApprovals:
    """The approvals that still count against the champion in ``state`` (void ones dropped)."""
    champion, change_id = champion_of(state)

    def keep(items: dict[str, list[Approval]]) -> dict[str, list[Approval]]:
        return {k: split_void(v, champion, change_id)[0] for k, v in items.items()}

    return PendingApprovals(runs=keep(data.runs), rollbacks=keep(data.rollbacks))


@dataclass(frozen=True)
class PendingState:
    """The approvals of one change so far: the ones that count, the void ones, how many are needed."""

    #: The run id (promote) or the model to make champion again (rollback).
    subject: str
    required: int
    valid: tuple[Approval, ...] = ()
    void: tuple[Approval, ...] = ()
    problem: str | None = None
    kind: ChangeKind = "promote"

    @property
    def run_id(self) -> str:
        """The subject (named for promotions, the common case)."""
        return self.subject

    @property
    def remaining(self) -> int:
        """Sign-offs still needed (from approvers not in :attr:`valid`)."""
        return max(self.required - len(self.valid), 0)

    @property
    def complete(self) -> bool:
        """Enough approvals under the rule in force now (``required_approvals`` was lowered)."""
        return bool(self.valid) and self.remaining == 0

    @property
    def title(self) -> str:
        """``"Run 2026…"`` or ``"Rollback to 2026…"``."""
        return f"Run {self.subject}" if self.kind == "promote" else f"Rollback to {self.subject}"

    def waiting(self) -> str | None:
        """Who approved and what the change waits for (None without valid approvals)."""
        if not self.valid:
            return None
        who = "; ".join(a.describe() for a in self.valid)
        if self.complete:
            return (
                f"Approved by {who}: that meets access.required_approvals = {self.required} in force now; "
                f"the next sign-off by an approver completes {_COMPLETES[self.kind]}"
            )
        return (
            f"Approved by {who}; waiting for a {ordinal(len(self.valid) + 1)} approver "
            f"({len(self.valid)} of {self.required} approvals given)"
        )

    def sentences(self) -> list[str]:
        """What to show on Review, Status and History (empty when there is nothing)."""
        out = []
        if self.valid:
            who = "; ".join(a.describe() for a in self.valid)
            more = self.remaining
            out.append(
                f"{self.title}: {len(self.valid)} of {self.required} approvals given ({who}); "
                + (
                    f"{more} more from a different approver completes {_COMPLETES[self.kind]}" if more
                    else f"enough under access.required_approvals = {self.required}: the next sign-off "
                    f"completes {_COMPLETES[self.kind]}"
                )
            )
        for approval in self.void:
            out.append(
                f"{self.title}: the approval by {approval.describe()} is void: the champion "
                f"changed since (it was {approval.champion or 'none'})"
            )
        if self.problem:
            out.append(self.problem)
        return out


def _subject(kind: ChangeKind, subject: str) -> str:
    return validate_run_id(subject) if kind == "promote" else validate_model_id(subject)


def pending_state(home: Home, subject: str, *, required: int, kind: ChangeKind = "promote") -> PendingState:
    """One change's pending approvals against the current champion (no lock; read only).

    Args:
        home: The registry home.
        subject: The run (promote) or the model to roll back to (validated).
        required: ``access.required_approvals`` in force.
        kind: ``promote`` or ``rollback``.
    """
    subject = _subject(kind, subject)
    data, problem = read_pending(home)
    champion, change_id = champion_of(inspect_active(home))
    valid, void = split_void(data.of(kind).get(subject, []), champion, change_id)
    return PendingState(subject, required, tuple(valid), tuple(void), problem, kind)


def all_pending(home: Home, *, required: int) -> list[PendingState]:
    """Every change with approvals on file (valid or void), newest approval first."""
    data, problem = read_pending(home)
    champion, change_id = champion_of(inspect_active(home))
    states = []
    for kind in ("promote", "rollback"):
        for subject, items in data.of(kind).items():
            valid, void = split_void(items, champion, change_id)
            if valid or void:
                states.append(PendingState(subject, required, tuple(valid), tuple(void), kind=kind))
    states.sort(key=lambda s: max(a.at for a in (*s.valid, *s.void)), reverse=True)
    if problem:
        states.insert(0, PendingState("", required, problem=problem))
    return states


@dataclass(frozen=True)
class SignoffPlan:
    """What a sign-off by one person would do now, for the form and its confirmation.

    Computed before anything is confirmed (no lock): the registry re-checks the same
    under its lock (``registry.approve``).
    """

    state: PendingState
    #: This person's approval already on file (their form is disabled), or None.
    already: Approval | None

    @property
    def completes(self) -> bool:
        """Whether this sign-off carries the change out (else it is recorded as pending)."""
        return self.state.complete or len(self.state.valid) + 1 >= self.state.required

    @property
    def position(self) -> int:
        """Which approval this one would be (1 of 2, ...)."""
        return len(self.state.valid) + 1

    def blocked(self) -> str | None:
        """Why this person may not sign off now (they already approved and more are needed)."""
        if self.already is None or self.state.complete:
            return None
        return (
            f"you approved this at {format_utc(self.already.at)} "
            f"({len(self.state.valid)} of {self.state.required} approvals given); "
            f"a {ordinal(self.position)}, different approver must sign off"
        )

    def confirmation(self, change: str) -> str:
        """The dialog's first line: ``"Approval 1 of 2: <change> when a second approver signs off."``.

        Args:
            change: What happens when it completes (``"run X becomes the champion, replacing Y"``).
        """
        if self.completes:
            given = self.state.valid
            led = f" (with the approval of {names(given)})" if given else ""
            return f"{change[:1].upper()}{change[1:]}{led}."
        return (
            f"Approval {self.position} of {self.state.required}: {change} when a "
            f"{ordinal(self.position + 1)} approver signs off."
        )


def signoff_plan(
    home: Home, subject: str, *, actor: Identity | None, required: int, kind: ChangeKind = "promote"
) -> SignoffPlan:
    """What a sign-off of ``subject`` by ``actor`` would do now (``actor`` None: not known yet)."""
    state = pending_state(home, subject, required=required, kind=kind)
    already = approval_by(state.valid, actor) if actor is not None else None
    return SignoffPlan(state, already)


__all__ = [
    "PENDING_FILE",
    "PendingState",
    "SignoffPlan",
    "all_pending",
    "champion_of",
    "pending_path",
    "pending_state",
    "read_pending",
    "signoff_plan",
    "valid_only",
    "write_pending",
]
