"""The console's access calls: the roles in force, pending approvals, start and cancel as someone.

Pages and the app's sign-in frame call these (one call per action or read). Promotion
and rollback with an identity go through ``service.promote_run`` / ``service.rollback_model``
(the same calls the CLI makes); the role and two-person rules themselves live in
``taskclf_core.access`` and ``taskclf_core.registry.pending``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final

from taskclf_core.access.identity import Identity, local_identity
from taskclf_core.access.policy import (
    AccessPolicy,
    describe_roles,
    has_role,
    require_role,
    role_needed,
)
from taskclf_core.errors import ConfigError
from taskclf_core.paths import Home
from taskclf_core.registry.history import HistoryEntry
from taskclf_core.registry.pending import all_pending, pending_state, rollback_as
from taskclf_core.registry.signoff import validate_signoff
from taskclf_core.train.config import load_retrain_config_or_defaults

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

    def roles(self) -> str:
        """The roles held, for the sidebar (``"approver, operator"``, ``"viewer"``)."""
        if self.identity is None:
            return "local mode: every role, not authenticated"
        if self.problem:
            return "no role while the configuration cannot be read"
        return describe_roles(self.identity, self.policy)


def access_policy(home: Home) -> tuple[AccessPolicy, str | None]:
    """The ``access:`` section in force, or no roles and the reason when the config is invalid."""
    try:
        config, _ = load_retrain_config_or_defaults(home.config_path)
    except ConfigError as exc:
        return AccessPolicy(), f"the roles cannot be read, so nobody holds one: {exc}"
    return config.access, None


def session_access(home: Home, *, team: bool, identity: Identity | None) -> Access:
    """The :class:`Access` of a page view (the app's frame calls this once per run)."""
    policy, problem = access_policy(home)
    return Access(team=team, identity=identity, policy=policy, problem=problem)


def pending_sentences(home: Home, run_id: str | None = None) -> list[str]:
    """Pending (and void) approvals in words: one run's, or every run's (Review, Status, History)."""
    policy, _ = access_policy(home)
    if run_id is not None:
        return pending_state(home, run_id, required=policy.required_approvals).sentences()
    return [s for state in all_pending(home, required=policy.required_approvals) for s in state.sentences()]


#: Headings of approvals in words: those that count, those void, a file that was not read.
PENDING_HEADING: Final = "Pending approval"
VOID_HEADING: Final = "Void approval"
UNREAD_HEADING: Final = "Approvals not read"


def pending_notes(home: Home, run_id: str | None = None) -> list[tuple[str, str]]:
    """Approvals in words under the heading that fits them: ``(heading, sentence)``.

    "Pending approval" only for approvals that still count toward the two-person rule; a
    void one (the champion changed since) is headed "Void approval".
    """
    policy, _ = access_policy(home)
    required = policy.required_approvals
    states = [pending_state(home, run_id, required=required)] if run_id is not None else all_pending(home, required=required)
    out: list[tuple[str, str]] = []
    for state in states:
        parts = (
            (PENDING_HEADING, replace(state, void=(), problem=None)),
            (VOID_HEADING, replace(state, valid=(), problem=None)),
            (UNREAD_HEADING, replace(state, valid=(), void=())),
        )
        out += [(heading, sentence) for heading, part in parts for sentence in part.sentences()]
    return out


def who(entry: HistoryEntry) -> str:
    """Who made a champion change and how that was established (History page, report)."""
    if entry.actor is not None:
        return entry.actor.describe()
    if entry.origin == "taskclf":
        return "taskclf (set by taskclf; no identity recorded)"
    if entry.action == "auto_promote":
        return "auto (automatic promotion; no identity recorded)"
    return f"{entry.approver} (no identity recorded: written before identities were recorded)"


def approvals_of(entry: HistoryEntry) -> str:
    """The sign-offs that led to a change, in one line (empty for rollbacks and older lines)."""
    return "; ".join(f"{a.describe()}, note: {a.note}" for a in entry.approvals)


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


def roll_back_as(
    home: Home, model_id: str, *, approver: str, note: str, expected_champion: str | None,
    actor: Identity | None,
) -> HistoryEntry:
    """Roll back as the signed-in person (approvers only), or as the typed ``approver`` (local).

    ``expected_champion`` is the champion shown to the person deciding (None: no champion).

    Raises:
        AccessDenied: a signed-in ``actor`` is not an approver.
        RunIdError, PromotionRefused, ChampionChanged, BusyError: see ``registry.rollback``.
    """
    if actor is None:
        approver, note = validate_signoff(approver, note, "roll back")
        actor = local_identity(approver)
    policy = access_policy(home)[0] if actor.verified else AccessPolicy()
    return rollback_as(home, model_id, actor=actor, note=note, policy=policy, expected_champion=expected_champion)


def start_retrain(home: Home, fields: Mapping[str, Any], *, actor: Identity | None) -> JobStatus:
    """Start a retrain as ``actor`` (the Retrain page's call): operators only.

    ``actor`` None is the local console (no sign-in configured): no role applies.

    Raises:
        AccessDenied: ``actor`` is not an operator.
        ConfigError, JobRunningError, DataError: see ``jobs.submit``.
    """
    from taskclf_core.console.jobs import submit

    if actor is not None:
        require_role(actor, access_policy(home)[0], "operator", "start a retrain")
    return submit(home, fields)


def cancel_retrain(home: Home, job_id: str, *, actor: Identity | None) -> JobStatus:
    """Cancel a running retrain as ``actor``: operators only (see ``jobs.cancel_job``)."""
    from taskclf_core.console.jobs import cancel_job

    if actor is not None:
        require_role(actor, access_policy(home)[0], "operator", f"cancel retrain job {job_id}")
    return cancel_job(home, job_id)


__all__ = [
    "Access",
    "access_policy",
    "approvals_of",
    "audit_rows",
    "cancel_retrain",
    "pending_notes",
    "pending_sentences",
    "roll_back_as",
    "session_access",
    "start_retrain",
    "who",
]
