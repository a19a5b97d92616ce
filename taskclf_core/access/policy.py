"""Roles (the ``access:`` section of ``configs/retrain.yaml``) and the check every action makes.

Roles apply to signed-in identities (team mode). ``approvers`` and ``operators`` list
emails (``alice@example.com``) or whole domains (``@example.com``); a signed-in person
who matches neither is a viewer (reads every page, downloads every chart and report).
Operators may also start and cancel retrains; approvers may also promote and roll back.
The two roles are independent: list a person in both to give both.

Identities that did not sign in are outside the roles, by the trust boundary the README
states: a local console is bound to 127.0.0.1 (only someone at the machine reaches it),
and a CLI command runs as an OS user who can write the registry folder anyway. Both are
recorded as such (``local, not authenticated``; ``cli`` with the OS user).
"""

from __future__ import annotations

import re
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from taskclf_core.access.identity import Identity
from taskclf_core.errors import TaskclfError, show_value

Role = Literal["approver", "operator"]

#: The actions each role allows, and the words a refusal uses.
ROLE_ACTIONS: Final[dict[Role, str]] = {
    "approver": "promote and roll back",
    "operator": "start and cancel retrains",
}
ROLE_LISTS: Final[dict[Role, str]] = {"approver": "approvers", "operator": "operators"}

MAX_REQUIRED_APPROVALS = 5

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DOMAIN = re.compile(r"^@[^@\s]+\.[^@\s]+$")


class AccessDenied(TaskclfError):
    """The acting identity lacks the role an action needs; the message names both."""


class AccessPolicy(BaseModel):
    """The ``access:`` section: who may do what, and how many sign-offs a promotion needs."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    #: Who may promote and roll back (emails or ``@domain``).
    approvers: list[str] = Field(default_factory=list)
    #: Who may start and cancel retrains (emails or ``@domain``).
    operators: list[str] = Field(default_factory=list)
    #: Sign-offs from different approvers a promotion needs (1 = today's single sign-off).
    required_approvals: int = Field(default=1, ge=1, le=MAX_REQUIRED_APPROVALS)

    @field_validator("approvers", "operators")
    @classmethod
    def _patterns(cls, values: list[str]) -> list[str]:
        out = []
        for value in values:
            text = value.strip().lower()
            if not (_EMAIL.match(text) or _DOMAIN.match(text)):
                raise ValueError(
                    f"{show_value(value)} is neither an email (alice@example.com) nor a domain "
                    "pattern (@example.com)"
                )
            out.append(text)
        return out

    def role_patterns(self, role: Role) -> list[str]:
        """The patterns of one role."""
        return self.approvers if role == "approver" else self.operators


def matches(email: str, pattern: str) -> bool:
    """Whether an email matches a pattern (exactly, or by ``@domain``), case-insensitively."""
    email = email.strip().lower()
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


__all__ = [
    "MAX_REQUIRED_APPROVALS",
    "ROLE_ACTIONS",
    "AccessDenied",
    "AccessPolicy",
    "Role",
    "describe_roles",
    "has_role",
    "matches",
    "require_role",
    "role_needed",
    "roles_of",
]
