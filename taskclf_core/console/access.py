"""The console's access calls: the roles in force, pending approvals, start and cancel as someone.

Pages and the app's sign-in frame call these (one call per action or read). Promotion
and rollback with an identity go through ``service.promote_run`` / ``service.rollback_model``
(the same calls the CLI makes); the role and two-person rules themselves live in
``taskclf_core.access`` and ``taskclf_core.registry.approve``. Every action taken as a
signed-in person first checks that their session is alive (``console.sessions``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal

from taskclf_core.access.approvals import ChangeKind, format_utc, names
from taskclf_core.access.identity import Identity, cli_identity, local_identity, os_user
from taskclf_core.access.policy import (
    AccessPolicy,
    describe_roles,
    has_role,
    require_fresh_signin,
    require_role,
    role_needed,
)
from taskclf_core.console.sessions import require_live_session
from taskclf_core.errors import SignInAgain, TaskclfError
from taskclf_core.paths import Home
from taskclf_core.registry.history import HistoryEntry
from taskclf_core.registry.pending import SignoffPlan, all_pending, pending_state, signoff_plan
from taskclf_core.registry.signoff import validate_signoff
from taskclf_core.registry.snapshot import RegistrySnapshot
from taskclf_core.train.config import read_config

if TYPE_CHECKING:
    from taskclf_core.console.jobs import JobStatus


@dataclass(frozen=True)
class Access:
    """Who is acting in this session of the app, and the roles in force.

    ``identity`` is the signed-in person in team mode and None in local mode (where the
    approver is typed and every role is open: see ``access.policy``).
    """

    team: bool
    identity: Identity | None
    policy: AccessPolicy
    #: Why the roles could not be read (the config is invalid): nobody holds a role then.
    problem: str | None = None

    def can(self, role: Any) -> bool:
        """Whether the person may do what ``role`` (``approver``/``operator``) allows."""
        if self.identity is None:
            return not self.team
        return has_role(self.identity, self.policy, role)

    def needs(self, role: Any) -> str | None:
        """Why a control is disabled (``"approvers only: you are signed in as a viewer"``), or None."""
        if self.can(role):
            return None
        if self.problem and self.identity is not None:  # not a viewer: nobody's roles can be read
            return f"{role_needed(role)}: {self.problem}"
        held = describe_roles(self.identity, self.policy) if self.identity else "nobody (not signed in)"
        return f"{role_needed(role)}: you are signed in as {held}"

    def sign_in_again(self) -> str | None:
        """Why a sign-off needs a fresh sign-in first (``access.signoff_reauth_minutes``), or None."""
        if self.identity is None:
            return None
        try:
            require_fresh_signin(self.identity, self.policy, now=datetime.now(UTC))
        except SignInAgain as exc:
            return str(exc)
        return None

    def roles(self) -> str:
        """The roles held, for the sidebar (``"approver, operator"``, ``"viewer"``)."""
        if self.identity is None:
            return "local mode: every role, not authenticated"
        if self.problem:
            return "no role while the configuration cannot be read"
        return describe_roles(self.identity, self.policy)


def access_policy(home: Home) -> tuple[AccessPolicy, str | None]:
    """The ``access:`` section in force, or no roles and the reason when the config is invalid."""
    state = read_config(home.config_path)
    if state.config is None:
        return AccessPolicy(), f"the roles cannot be read, so nobody holds one: {state.error}"
    return state.config.access, None


def session_access(home: Home, *, team: bool, identity: Identity | None) -> Access:
    """The :class:`Access` of a page view (the app's frame calls this once per run)."""
    policy, problem = access_policy(home)
    return Access(team=team, identity=identity, policy=policy, problem=problem)


def void_expired(home: Home, policy: AccessPolicy, *, now: datetime | None = None) -> None:
    """Void the pending approvals past ``access.approval_expiry_days`` before any is shown or counted
    (``registry.expiry``: it writes only when one expired); a busy lock leaves them to the next read."""
    from taskclf_core.registry.expiry import expire_pending

    try:
        expire_pending(home, policy.approval_expiry_days, now=now)
    except TaskclfError:
        pass


#: Headings of approvals in words: those that count, those void, a file that was not read.
PENDING_HEADING: Final = "Pending approval"
VOID_HEADING: Final = "Void approval"
UNREAD_HEADING: Final = "Approvals not read"


def pending_notes(
    snap: RegistrySnapshot, policy: AccessPolicy, subject: str | None = None, *, kind: ChangeKind = "promote"
) -> list[tuple[str, str]]:
    """Approvals in words under the heading that fits them: ``(heading, sentence)``; one
    change's, or every change's (Review, Status, History), from the render's snapshot.

    "Pending approval" only for approvals that still count toward the two-person rule; a
    void one (the champion changed since) is headed "Void approval". The read model voids
    the expired ones first (:func:`void_expired`, before its snapshot: a read never writes).
    """
    required = policy.required_approvals
    home = snap.home  # the pending file and the pointer are the snapshot's (one read)
    states = (
        [pending_state(home, subject, required=required, kind=kind)] if subject is not None
        else all_pending(home, required=required)
    )
    out: list[tuple[str, str]] = []
    for state in states:
        parts = (
            (PENDING_HEADING, replace(state, void=(), problem=None)),
            (VOID_HEADING, replace(state, valid=(), problem=None)),
            (UNREAD_HEADING, replace(state, valid=(), void=())),
        )
        out += [(heading, sentence) for heading, part in parts for sentence in part.sentences()]
    return out


def plan_signoff(home: Home, subject: str, *, kind: ChangeKind, access: Access) -> SignoffPlan:
    """What a sign-off of ``subject`` by this session's person would do now (Review, History).

    In local mode the person is the OS user serving the console (one approval per OS user).
    Expired approvals are voided by the read model before its snapshot (:func:`void_expired`).
    """
    policy = access.policy
    person = access.identity
    if person is None and not access.team:  # whoever types, the console's OS user signs off
        user = os_user()
        person = local_identity(f"OS user {user}", user=user, cli_users=policy.cli_users)
    return signoff_plan(home, subject, actor=person, required=policy.required_approvals, kind=kind)


def required_rule(policy: AccessPolicy) -> str:
    """Which rule applies, in words (``"access.required_approvals = 2 ...: 2 different approvers"``)."""
    if policy.required_approvals == 1:
        return "access.required_approvals = 1 in configs/retrain.yaml: one approver's sign-off is enough"
    return (
        f"access.required_approvals = {policy.required_approvals} in configs/retrain.yaml: "
        f"{policy.required_approvals} different approvers must sign off (one approval per person: "
        "the same email signed in twice, or the same OS user on the CLI, counts once)"
    )


def _unrecorded(entry: HistoryEntry) -> tuple[str, str]:
    """Who made a change that recorded no identity, and how that is known."""
    if entry.origin == "taskclf":
        return "taskclf", "set by taskclf; no identity recorded"
    if entry.action == "auto_promote":
        return "auto", "automatic promotion; no identity recorded"
    return entry.approver, "no identity recorded: written before identities were recorded"


def who(entry: HistoryEntry) -> str:
    """Who made a champion change and how that was established (History page, report)."""
    if entry.actor is not None:
        return entry.actor.describe()
    name, how = _unrecorded(entry)
    return f"{name} ({how})"


def approvals_of(entry: HistoryEntry) -> str:
    """Every sign-off that led to a change, with when and how each was authenticated, and its note."""
    return "; ".join(f"{a.describe()}, note: {a.note}" for a in entry.approvals)


def signed_by(entry: HistoryEntry) -> str:
    """Every approver of a change, when it took effect and how each was authenticated.

    ``"bob on 2026-… UTC (local, not authenticated)"``; with two approvals
    ``"alice@example.com and bob@example.com on … (alice@example.com: approved at …,
    signed in with OpenID Connect at …: issuer …, subject …; bob@example.com: …)"``.
    """
    when = format_utc(entry.time)
    if len(entry.approvals) > 1:
        each = "; ".join(f"{a.actor.name}: approved at {format_utc(a.at)}, {a.actor.how()}" for a in entry.approvals)
        return f"{names(entry.approvals)} on {when} ({each})"
    actor = entry.approvals[0].actor if entry.approvals else entry.actor
    how = actor.how() if actor is not None else _unrecorded(entry)[1]
    return f"{actor.name if actor is not None else entry.approver} on {when} ({how})"


def audit_rows(entry: HistoryEntry | None, pending: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The sign-off rows of a run's review and report: who, how, which approvals; then the
    approvals under their headings (:func:`pending_notes`)."""
    rows: list[tuple[str, str]] = []
    if entry is not None:
        rows.append((f"{entry.action} by", who(entry)))
        if entry.approvals:
            rows.append(("Approvals", approvals_of(entry)))
    rows += list(pending)
    return rows


def acting(
    home: Home, actor: Identity | None, *, approver: str, note: str, verb: str, policy: AccessPolicy,
    origin: Literal["local", "cli"] = "local",
) -> tuple[Identity, str]:
    """Who signs off, and the note: the signed-in person (their session must be alive), or the
    typed ``approver`` with the OS user (local console, CLI), linked to a person by
    ``access.cli_users``.

    Raises:
        SessionEnded: the signed-in person signed out elsewhere, or the sign-in is too old.
        PromotionRefused: a typed approver or the note is missing or not allowed.
    """
    if actor is not None:
        if actor.verified:
            require_live_session(home, actor, policy)
        return actor, note
    approver, note = validate_signoff(approver, note, verb)
    make = cli_identity if origin == "cli" else local_identity
    return make(approver, user=os_user(), cli_users=policy.cli_users), note


def start_retrain(home: Home, fields: Mapping[str, Any], *, actor: Identity | None) -> JobStatus:
    """Start a retrain as ``actor`` (the Retrain page's call): operators only.

    ``actor`` None is the local console (no sign-in configured): no role applies.

    Raises:
        AccessDenied: ``actor`` is not an operator.
        ConfigError, JobRunningError, DataError: see ``jobs.submit``.
    """
    from taskclf_core.console.jobs import submit

    if actor is not None:
        policy = access_policy(home)[0]
        require_live_session(home, actor, policy)
        require_role(actor, policy, "operator", "start a retrain")
    # Who starts it is what the console established, never a typed field.
    started = {"started_by": actor.name, "started_how": "signed_in"} if actor is not None else {
        "started_by": f"OS user {os_user()}", "started_how": "local"}
    return submit(home, {**fields, **started})


def cancel_retrain(home: Home, job_id: str, *, actor: Identity | None) -> JobStatus:
    """Cancel a running retrain as ``actor``: operators only (see ``jobs.cancel_job``)."""
    from taskclf_core.console.jobs import cancel_job

    if actor is not None:
        policy = access_policy(home)[0]
        require_live_session(home, actor, policy)
        require_role(actor, policy, "operator", f"cancel retrain job {job_id}")
    return cancel_job(home, job_id)


__all__ = [
    "Access",
    "access_policy",
    "acting",
    "approvals_of",
    "audit_rows",
    "cancel_retrain",
    "pending_notes",
    "plan_signoff",
    "required_rule",
    "signed_by",
    "session_access",
    "void_expired",
    "start_retrain",
    "who",
]
