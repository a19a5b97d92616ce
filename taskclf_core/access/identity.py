"""The acting identity: who did something, and how we know it.

Four ways an identity is established, recorded with every champion change:

- ``oidc``: signed in through the app's OpenID Connect provider (team mode); the issuer
  and its subject identify the person, the email names them. Verified.
- ``local``: a name typed into the app in local mode (bound to 127.0.0.1, no sign-in).
  Not authenticated: anyone at the machine can type any name.
- ``cli``: ``--approver`` of a CLI command, with the operating-system user that ran it.
  The OS user is what the machine vouches for; the approver is as typed.
- ``auto``: the retrain pipeline promoting on its own (``auto_promote``).
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from taskclf_core.errors import TaskclfError, show_value

Method = Literal["oidc", "local", "cli", "auto"]

#: What a local (typed) identity is marked with, in history entries, pages and reports.
LOCAL_MARK = "local, not authenticated"


class IdentityError(TaskclfError):
    """An identity cannot be established: no issuer or subject claim, or a blank name."""


class Identity(BaseModel):
    """Who acted and how that was established (stored in history entries and approvals)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The name shown and recorded as approver: the email (oidc), the typed name (local),
    #: ``--approver`` (cli), ``auto``.
    name: str = Field(min_length=1, max_length=200)
    method: Method
    #: The verified email (oidc only).
    email: str | None = Field(default=None, max_length=320)
    #: The OpenID Connect issuer and the subject it gave the person (oidc only).
    issuer: str | None = Field(default=None, max_length=2000)
    subject: str | None = Field(default=None, max_length=2000)
    #: The operating-system user that ran the command (cli only).
    os_user: str | None = Field(default=None, max_length=200)

    @property
    def verified(self) -> bool:
        """Whether an identity provider vouched for this person (team mode)."""
        return self.method == "oidc"

    @property
    def key(self) -> str:
        """What makes two identities the same person (for "cannot approve twice").

        The issuer and subject when signed in (an email can be reassigned, a subject
        cannot); otherwise the name, case-insensitively.
        """
        if self.method == "oidc" and self.issuer and self.subject:
            return f"oidc:{self.issuer}#{self.subject}"
        return f"name:{self.name.casefold()}"

    def how(self) -> str:
        """How the identity was established, in words."""
        if self.method == "oidc":
            return f"signed in with OpenID Connect: issuer {self.issuer}, subject {self.subject}"
        if self.method == "cli":
            return f"cli, OS user {self.os_user or 'unknown'}, approver as typed"
        if self.method == "auto":
            return "automatic: the retrain pipeline with auto_promote on"
        return LOCAL_MARK

    def describe(self) -> str:
        """``"alice@example.com (signed in with OpenID Connect: issuer …, subject …)"``."""
        return f"{self.name} ({self.how()})"


def _required(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise IdentityError(f"{what} is required; got {show_value(value)}")
    return value.strip()[:200]


def local_identity(name: str) -> Identity:
    """A name typed into the app in local mode (not authenticated).

    The name's characters are checked where it is used (``registry.signoff``).

    Raises:
        IdentityError: the name is blank.
    """
    return Identity(name=_required(name, "an approver name"), method="local")


def os_user() -> str:
    """The operating-system user running this process (login name, else the uid)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER
        return f"uid {os.getuid()}"


def cli_identity(approver: str, *, user: str | None = None) -> Identity:
    """A CLI command's identity: ``--approver`` as typed plus the OS user that ran it.

    Args:
        approver: The ``--approver`` value.
        user: The OS user; by default the one running this process.

    Raises:
        IdentityError: ``approver`` is blank.
    """
    return Identity(name=_required(approver, "--approver"), method="cli", os_user=user or os_user())


AUTO = Identity(name="auto", method="auto")


def _claim(info: Mapping[str, Any], key: str) -> str | None:
    value = info.get(key)
    return value.strip() if isinstance(value, str) and value.strip() else None


def oidc_identity(info: Mapping[str, Any]) -> Identity | None:
    """The identity of a signed-in user, from the claims Streamlit exposes (``st.user``).

    Args:
        info: ``st.user.to_dict()``: ``is_logged_in`` and the ID token's claims
            (``iss``, ``sub``, ``email``, ``name``).

    Returns:
        The identity, or None when nobody is signed in.

    Raises:
        IdentityError: signed in, but the claims lack an issuer or a subject (the
            provider is not an OpenID Connect provider, or the app is misconfigured).
    """
    if info.get("is_logged_in") is not True:
        return None
    issuer, subject = _claim(info, "iss"), _claim(info, "sub")
    if issuer is None or subject is None:
        raise IdentityError(
            "the sign-in returned no issuer (iss) or subject (sub) claim; got "
            f"iss={show_value(info.get('iss'))}, sub={show_value(info.get('sub'))} "
            "(the [auth] provider in .streamlit/secrets.toml must be an OpenID Connect provider)"
        )
    email = _claim(info, "email")
    name = email or _claim(info, "name") or subject
    try:
        return Identity(name=name[:200], method="oidc", email=email, issuer=issuer, subject=subject)
    except ValidationError as exc:  # a claim longer than any real one
        claim = {"issuer": "iss", "subject": "sub"}.get(str(exc.errors()[0]["loc"][0]), "email")
        raise IdentityError(
            f"the sign-in's {claim} claim is too long to record; got {show_value(info.get(claim))}"
        ) from None


__all__ = [
    "AUTO",
    "LOCAL_MARK",
    "Identity",
    "IdentityError",
    "Method",
    "cli_identity",
    "local_identity",
    "oidc_identity",
    "os_user",
]
