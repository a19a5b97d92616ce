"""The acting identity: who did something, and how we know it.

Four ways an identity is established, recorded with every champion change:

- ``oidc``: signed in through the app's OpenID Connect provider (team mode). The person
  is their **verified email, normalized** (:func:`normalize_person`): roles, the
  two-person rule, the history and the report all use it; the issuer and subject are
  recorded beside it. Two subjects with one email are one person; an email the provider
  has not verified (``email_verified`` not true) is refused.
- ``local``: a name typed into the app in local mode (bound to 127.0.0.1, no sign-in).
  Not authenticated: anyone at the machine can type any name.
- ``cli``: ``--approver`` of a CLI command, with the operating-system user that ran it.
  The OS user is what the machine vouches for; the approver is as typed.
- ``auto``: the retrain pipeline promoting on its own (``auto_promote``).

Who counts as "the same person" (the two-person rule) is :meth:`Identity.person_keys`:
the normalized email when signed in; for a typed name (local, cli) the normalized name
*and* the OS user (one approval per OS user whatever name it types), plus the email the
config maps that OS user to (``access.cli_users``), so the same person approving in the
browser and from the CLI counts once.
"""

from __future__ import annotations

import os
import pwd
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from taskclf_core.errors import IdentityError, show_value

Method = Literal["oidc", "local", "cli", "auto"]

#: What a local (typed) identity is marked with, in history entries, pages and reports.
LOCAL_MARK = "local, not authenticated"


def normalize_person(text: str) -> str:
    """One spelling per person: Unicode NFKC, then case-folded, surrounding space removed.

    ``"ALICE@Example.com "`` and ``"alice@example.com"`` are the same person, and so are
    ``"x"`` and its fullwidth look-alike ``"ｘ"``.
    """
    return unicodedata.normalize("NFKC", text).casefold().strip()


def _when(epoch: int | None) -> str:
    if epoch is None:
        return "unknown"
    try:
        return f"{datetime.fromtimestamp(epoch, UTC):%Y-%m-%d %H:%M} UTC"
    except (OverflowError, OSError, ValueError):
        return "unknown"


class Identity(BaseModel):
    """Who acted and how that was established (stored in history entries and approvals)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The name shown and recorded as approver: the normalized email (oidc), the typed
    #: name (local), ``--approver`` (cli), ``auto``.
    name: str = Field(min_length=1, max_length=200)
    method: Method
    #: The verified email, normalized (oidc); for cli/local, the email ``access.cli_users``
    #: maps the OS user to (None when unmapped).
    email: str | None = Field(default=None, max_length=320)
    #: The OpenID Connect issuer and the subject it gave the person (oidc only).
    issuer: str | None = Field(default=None, max_length=2000)
    subject: str | None = Field(default=None, max_length=2000)
    #: The operating-system user that ran the command (cli) or serves the local console (local).
    os_user: str | None = Field(default=None, max_length=200)
    #: When this sign-in was issued (the ID token's ``iat``, UTC epoch seconds; oidc only).
    signed_in_at: int | None = None
    #: When the provider last checked the person's credentials (``auth_time``, else ``iat``).
    authenticated_at: int | None = None

    @property
    def verified(self) -> bool:
        """Whether an identity provider vouched for this person (team mode)."""
        return self.method == "oidc"

    @property
    def key(self) -> str:
        """The person, in one string (sign-out records, display grouping).

        The normalized email when there is one (signed in, or an OS user mapped by
        ``access.cli_users``); else the OS user; else the normalized name.
        """
        if self.email:
            return f"person:{normalize_person(self.email)}"
        if self.method == "oidc" and self.issuer and self.subject:  # written before emails were required
            return f"oidc:{self.issuer}#{self.subject}"
        if self.os_user:
            return f"os:{normalize_person(self.os_user)}"
        return f"person:{normalize_person(self.name)}"

    def person_keys(self) -> frozenset[str]:
        """Every key under which this identity is "the same person" as another.

        Two identities are the same approver when these sets meet. Signed in: the
        normalized email, and the issuer and subject (so neither a second subject with
        the same email nor a changed email under the same subject counts twice). Typed
        (local, cli): the normalized name, the OS user, and the email the OS user is
        mapped to.
        """
        keys = {self.key}
        if self.method == "oidc" and self.issuer and self.subject:  # an email changed under one subject
            keys.add(f"oidc:{self.issuer}#{self.subject}")
        if self.method in ("local", "cli"):
            keys.add(f"person:{normalize_person(self.name)}")
            if self.os_user:
                keys.add(f"os:{normalize_person(self.os_user)}")
        return frozenset(keys)

    def same_person(self, other: Identity) -> bool:
        """Whether ``other`` is this person (see :meth:`person_keys`)."""
        return bool(self.person_keys() & other.person_keys())

    def how(self) -> str:
        """How the identity was established, in words (with when, for a sign-in)."""
        if self.method == "oidc":
            when = f" at {_when(self.authenticated_at)}" if self.authenticated_at is not None else ""
            return f"signed in with OpenID Connect{when}: issuer {self.issuer}, subject {self.subject}"
        if self.method == "cli":
            mapped = f", mapped to {self.email} by access.cli_users" if self.email else ""
            return f"cli, OS user {self.os_user or 'unknown'}{mapped}, approver as typed"
        if self.method == "auto":
            return "automatic: the retrain pipeline with auto_promote on"
        if self.os_user:
            mapped = f", mapped to {self.email}" if self.email else ""
            return f"{LOCAL_MARK}, console served by OS user {self.os_user}{mapped}"
        return LOCAL_MARK

    def describe(self) -> str:
        """``"alice@example.com (signed in with OpenID Connect at …: issuer …, subject …)"``."""
        return f"{self.name} ({self.how()})"


def _required(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise IdentityError(f"{what} is required; got {show_value(value)}")
    return value.strip()[:200]


def os_user() -> str:
    """The operating-system user running this process, from its effective uid.

    Not ``$USER``/``$LOGNAME``: whoever runs a command can set those to any name, and
    the two-person rule counts one approval per OS user.
    """
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # no passwd entry (a container's arbitrary uid)
        return f"uid {uid}"


def _mapped(user: str, cli_users: Mapping[str, str] | None) -> str | None:
    if not cli_users:
        return None
    wanted = normalize_person(user)
    return next((email for name, email in cli_users.items() if normalize_person(name) == wanted), None)


def local_identity(name: str, *, user: str | None = None, cli_users: Mapping[str, str] | None = None) -> Identity:
    """A name typed into the app in local mode (not authenticated).

    The name's characters are checked where it is used (``registry.signoff``).

    Args:
        name: The typed approver.
        user: The OS user serving the console (recorded; one approval per OS user under
            the two-person rule); None records none (older callers).
        cli_users: ``access.cli_users``: OS user -> email.

    Raises:
        IdentityError: the name is blank.
    """
    return Identity(
        name=_required(name, "an approver name"), method="local", os_user=user, email=_mapped(user or "", cli_users)
    )


def cli_identity(approver: str, *, user: str | None = None, cli_users: Mapping[str, str] | None = None) -> Identity:
    """A CLI command's identity: ``--approver`` as typed plus the OS user that ran it.

    Args:
        approver: The ``--approver`` value.
        user: The OS user; by default the one running this process.
        cli_users: ``access.cli_users``: OS user -> email of the person (links a CLI
            approval to the same person's browser sign-in).

    Raises:
        IdentityError: ``approver`` is blank.
    """
    who = user or os_user()
    return Identity(name=_required(approver, "--approver"), method="cli", os_user=who, email=_mapped(who, cli_users))


AUTO = Identity(name="auto", method="auto")


def _claim(info: Mapping[str, Any], key: str) -> str | None:
    value = info.get(key)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _epoch(info: Mapping[str, Any], key: str) -> int | None:
    value = info.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def oidc_identity(info: Mapping[str, Any]) -> Identity | None:
    """The identity of a signed-in user, from the claims Streamlit exposes (``st.user``).

    Args:
        info: ``st.user.to_dict()``: ``is_logged_in`` and the ID token's claims
            (``iss``, ``sub``, ``email``, ``email_verified``, ``iat``, ``auth_time``).

    Returns:
        The identity (named by the normalized email), or None when nobody is signed in.

    Raises:
        IdentityError: signed in, but the claims lack an issuer or a subject (the
            provider is not an OpenID Connect provider, or the app is misconfigured),
            or an email the provider verified (``email_verified`` must be true).
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
    raw_email = _claim(info, "email")
    if raw_email is None:
        raise IdentityError(
            f"the sign-in returned no email claim (subject {show_value(subject)}); a person is their "
            "verified email: the provider must release the email scope"
        )
    if info.get("email_verified") is not True:
        raise IdentityError(
            f"the email {show_value(raw_email)} is not verified by the provider (email_verified is "
            f"{show_value(info.get('email_verified'))}; it must be true): verify it with the provider, "
            "then sign in again"
        )
    email = normalize_person(raw_email)
    iat = _epoch(info, "iat")
    auth_time = _epoch(info, "auth_time")
    try:
        return Identity(
            name=email[:200], method="oidc", email=email, issuer=issuer, subject=subject,
            signed_in_at=iat, authenticated_at=auth_time if auth_time is not None else iat,
        )
    except ValidationError as exc:  # a claim longer than any real one
        claim = {"issuer": "iss", "subject": "sub"}.get(str(exc.errors()[0]["loc"][0]), "email")
        raise IdentityError(
            f"the sign-in's {claim} claim is too long to record; got {show_value(info.get(claim))}"
        ) from None


__all__ = [
    "AUTO",
    "LOCAL_MARK",
    "Identity",
    "Method",
    "cli_identity",
    "local_identity",
    "normalize_person",
    "oidc_identity",
    "os_user",
]
