"""Roles (the ``access:`` section of ``configs/retrain.yaml``) and the check every action makes.

Roles apply to signed-in identities (team mode). ``approvers`` and ``operators`` list
emails (``alice@example.com``) or whole domains (``@example.com``); a signed-in person
who matches neither is a viewer (reads every page, downloads every chart and report).
Operators may also start and cancel retrains; approvers may also promote and roll back.
The two roles are independent: list a person in both to give both.

Identities that did not sign in are outside the roles, by the trust boundary the README
states: a local console is bound to 127.0.0.1 (only someone at the machine reaches it),
and a CLI command runs as an OS user who can write the registry folder anyway. Both are
recorded as such (``local, not authenticated``; ``cli`` with the OS user), and count as
one approval per OS user under the two-person rule (``cli_users`` maps an OS user to the
email of the person, so their browser and CLI approvals count once).

Emails and patterns are normalized as identities are (``identity.normalize_person``:
NFKC, case-folded, stripped). Sessions (team mode) last ``session_hours`` from sign-in;
``signoff_reauth_minutes`` makes every sign-off ask for a fresh sign-in.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from taskclf_core.access.identity import Identity, normalize_person
from taskclf_core.errors import AccessDenied, SignInAgain, show_value

Role = Literal["approver", "operator"]

#: The actions each role allows, and the words a refusal uses.
ROLE_ACTIONS: Final[dict[Role, str]] = {
    "approver": "promote and roll back",
    "operator": "start and cancel retrains",
}
ROLE_LISTS: Final[dict[Role, str]] = {"approver": "approvers", "operator": "operators"}

MAX_REQUIRED_APPROVALS = 5
#: How long a sign-in lasts by default (hours from the ID token's ``iat``).
DEFAULT_SESSION_HOURS = 8.0
#: How long a pending approval waits for the next one by default (days).
DEFAULT_APPROVAL_EXPIRY_DAYS = 7.0

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DOMAIN = re.compile(r"^@[^@\s]+\.[^@\s]+$")


class AccessPolicy(BaseModel):
    """The ``access:`` section: who may do what, and how many sign-offs a promotion needs."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    #: Who may promote and roll back (emails or ``@domain``).
    approvers: list[str] = Field(default_factory=list)
    #: Who may start and cancel retrains (emails or ``@domain``).
    operators: list[str] = Field(default_factory=list)
    #: Sign-offs from different approvers a promotion or rollback needs (1 = a single sign-off).
    required_approvals: int = Field(default=1, ge=1, le=MAX_REQUIRED_APPROVALS)
    #: OS user -> email: whose CLI (and local console) approvals are that person's.
    cli_users: dict[str, str] = Field(default_factory=dict)
    #: How long a sign-in lasts (hours from sign-in); sign-out ends it earlier, everywhere.
    session_hours: float = Field(default=DEFAULT_SESSION_HOURS, ge=0.001, le=24 * 30)
    #: 0: off. N: a sign-off needs a sign-in at most N minutes old (asked with prompt=login).
    signoff_reauth_minutes: int = Field(default=0, ge=0, le=24 * 60)
    #: Days a pending approval counts; then it is void (``registry.expiry``), noted and announced.
    approval_expiry_days: float = Field(default=DEFAULT_APPROVAL_EXPIRY_DAYS, gt=0.0, le=365.0)

    @field_validator("approvers", "operators")
    @classmethod
    def _patterns(cls, values: list[str]) -> list[str]:
        out = []
        for value in values:
            text = normalize_person(value)
            if not (_EMAIL.match(text) or _DOMAIN.match(text)):
                raise ValueError(
                    f"{show_value(value)} is neither an email (alice@example.com) nor a domain "
                    "pattern (@example.com)"
                )
            if text not in out:
                out.append(text)
        return out

    @field_validator("required_approvals")
    @classmethod
    def _reachable(cls, value: int, info: ValidationInfo) -> int:
        approvers = info.data.get("approvers")
        if value < 2 or approvers is None or any(p.startswith("@") for p in approvers):
            return value
        if len(approvers) < value:
            listed = f" ({', '.join(approvers)})" if approvers else ""
            raise ValueError(
                f"{value} is more than the {len(approvers)} approver(s) listed in access.approvers{listed}, "
                f"so no promotion could ever complete; allowed: at most {max(len(approvers), 1)} (or list "
                "more approvers; a @domain pattern counts as many)"
            )
        return value

    @field_validator("cli_users")
    @classmethod
    def _cli_users(cls, values: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for user, email in values.items():
            name = user.strip()
            if not name or any(unicodedata.category(ch)[0] in "CZ" for ch in name):
                raise ValueError(f"OS user {show_value(user)} must be a login name (no spaces or control characters)")
            text = normalize_person(email) if isinstance(email, str) else ""
            if not _EMAIL.match(text):
                raise ValueError(f"OS user {name!r} must map to an email (alice@example.com); got {show_value(email)}")
            out[name] = text
        return out

    def role_patterns(self, role: Role) -> list[str]:
        """The patterns of one role."""
        return self.approvers if role == "approver" else self.operators


def matches(email: str, pattern: str) -> bool:
    """Whether an email matches a pattern (exactly, or by ``@domain``), both normalized."""
    email, pattern = normalize_person(email), normalize_person(pattern)
    if email.count("@") != 1:
        return False
    if pattern.startswith("@"):
        return email.endswith(pattern)
    return email == pattern


def roles_of(identity: Identity, policy: AccessPolicy) -> frozenset[Role]:
    """The roles an identity holds (see the module docstring for who is outside them)."""
    if not identity.verified:
        return frozenset(ROLE_ACTIONS)
    email = identity.email
    if email is None:
        return frozenset()
    return frozenset(r for r in ROLE_ACTIONS if any(matches(email, p) for p in policy.role_patterns(r)))


def has_role(identity: Identity, policy: AccessPolicy, role: Role) -> bool:
    """Whether ``identity`` may do what ``role`` allows."""
    return role in roles_of(identity, policy)


def role_needed(role: Role) -> str:
    """``"approvers only"`` / ``"operators only"``: what a disabled control says."""
    return f"{ROLE_LISTS[role]} only"


def describe_roles(identity: Identity, policy: AccessPolicy) -> str:
    """``"approver"``, ``"approver, operator"``, ``"viewer"`` (for the page header)."""
    roles = roles_of(identity, policy)
    return ", ".join(r for r in ROLE_ACTIONS if r in roles) or "viewer"


def require_role(identity: Identity, policy: AccessPolicy, role: Role, action: str) -> None:
    """Refuse ``action`` unless ``identity`` holds ``role``.

    Args:
        identity: Who acts.
        policy: The ``access:`` section in force.
        role: The role the action needs.
        action: The action in words (``"promote run 2026…"``), for the message.

    Raises:
        AccessDenied: names the person, the action, the role needed and where roles are set.
    """
    if has_role(identity, policy, role):
        return
    held = describe_roles(identity, policy)
    raise AccessDenied(
        f"{identity.name} may not {action}: {role_needed(role)} ({ROLE_LISTS[role]} may "
        f"{ROLE_ACTIONS[role]}; signed in as {held}). Ask to be listed under access.{ROLE_LISTS[role]} "
        "in configs/retrain.yaml"
    )


def require_fresh_signin(identity: Identity, policy: AccessPolicy, *, now: datetime) -> None:
    """Refuse a sign-off by a signed-in person whose sign-in is older than ``signoff_reauth_minutes``.

    Identities that did not sign in (local, cli) are outside this rule, as they are
    outside the roles.

    Raises:
        SignInAgain: names the key, the limit and when the person last signed in.
    """
    limit = policy.signoff_reauth_minutes
    if not limit or not identity.verified:
        return
    at = identity.authenticated_at
    age = None if at is None else now.timestamp() - at
    if age is not None and age <= limit * 60:
        return
    when = "at an unknown time" if at is None else f"at {datetime.fromtimestamp(at, UTC):%Y-%m-%d %H:%M:%S} UTC"
    raise SignInAgain(
        f"sign in again to sign off: a sign-off needs a sign-in at most {limit} minute(s) old "
        f"(access.signoff_reauth_minutes); {identity.name} last signed in {when}"
    )


__all__ = [
    "DEFAULT_SESSION_HOURS",
    "MAX_REQUIRED_APPROVALS",
    "ROLE_ACTIONS",
    "AccessPolicy",
    "Role",
    "describe_roles",
    "has_role",
    "matches",
    "require_role",
    "require_fresh_signin",
    "role_needed",
    "roles_of",
]
