"""Sessions of the team console that end: sign-out everywhere, and a lifetime.

Streamlit's sign-in cookie lasts 30 days, ``st.logout`` ends only the session that calls
it, and the ID token's ``exp`` is not checked. So the console keeps, server side, when
each person last signed out (``artifacts/sessions/signed_out.json``: person -> UTC epoch
seconds) and judges every sign-in by its ``iat`` (the time the provider issued it):

- issued before that person's last sign-out: ended (every tab, every browser, a cookie
  replayed from elsewhere);
- older than ``access.session_hours`` (8 by default): ended.

The app checks this on every page run (``access_frame``), and every action the console
takes as a signed-in person checks it again (``console.access.acting``), so a tab left
open loses its rights at its next action. ``iat`` is whole seconds while the sign-out
time has fractions: a sign-in issued in the second of a sign-out is compared with that
second rounded down, so signing in again at once works (the recipe's pitfall 1).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from taskclf_core.access.identity import Identity
from taskclf_core.access.policy import AccessPolicy
from taskclf_core.errors import SessionEnded
from taskclf_core.fs.atomic import write_text_atomic
from taskclf_core.fs.jsonfile import read_record
from taskclf_core.fs.locks import lock_file, wait_lock
from taskclf_core.paths import Home

SIGNED_OUT_FILE: Final = "signed_out.json"
MAX_BYTES: Final = 1 << 20
#: Records older than the longest allowed session cannot end anything: dropped on write.
_KEEP_S: Final = 31 * 24 * 3600


class SignOuts(BaseModel):
    """``artifacts/sessions/signed_out.json``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    #: Person (``Identity.key``) -> when they last signed out (UTC epoch seconds).
    people: dict[str, float] = Field(default_factory=dict)


def signed_out_path(home: Home) -> Path:
    """``artifacts/sessions/signed_out.json``."""
    return home.artifacts_dir / "sessions" / SIGNED_OUT_FILE


def _read(home: Home) -> tuple[SignOuts, str | None]:
    path = signed_out_path(home)
    record, problem = read_record(path, SignOuts, shown=str(path), max_bytes=MAX_BYTES)
    return record or SignOuts(), problem


@contextmanager
def _locked(home: Home) -> Iterator[None]:
    with lock_file(signed_out_path(home).parent / ".signed_out.lock") as fd:
        wait_lock(fd)
        yield


def record_sign_out(home: Home, identity: Identity, *, now: float | None = None) -> None:
    """Record that ``identity``'s person signed out now: every sign-in issued before ends.

    Written atomically under a file lock (several server processes may share a home).
    """
    at = time.time() if now is None else now
    with _locked(home):
        data, _ = _read(home)
        people = {k: v for k, v in data.people.items() if at - v < _KEEP_S}
        people[identity.key] = at
        write_text_atomic(signed_out_path(home), SignOuts(people=people).model_dump_json(indent=2) + "\n")


def _utc(epoch: float) -> str:
    return f"{datetime.fromtimestamp(epoch, UTC):%Y-%m-%d %H:%M:%S} UTC"


def session_problem(home: Home, identity: Identity, policy: AccessPolicy, *, now: float | None = None) -> str | None:
    """Why ``identity``'s session has ended, or None while it may go on (signed-in people only).

    Fails closed: a sign-in without an issue time, or a sign-out record that cannot be
    read, ends the session (the message names the file and the fix).
    """
    if not identity.verified:
        return None
    issued = identity.signed_in_at
    if issued is None:
        return "your sign-in carries no issue time (iat claim), so its age cannot be checked: sign in again"
    data, problem = _read(home)
    if problem is not None:
        return (
            f"the sign-out record {problem}, so whether you signed out cannot be checked: sign in again "
            "once it is fixed (delete the file to reset every sign-out)"
        )
    signed_out = data.people.get(identity.key)
    if signed_out is not None and issued < math.floor(signed_out):
        return f"you signed out at {_utc(signed_out)} (in another tab or browser): sign in again"
    at = time.time() if now is None else now
    if at - issued > policy.session_hours * 3600:
        return (
            f"your sign-in from {_utc(issued)} is older than access.session_hours "
            f"({policy.session_hours:g} h): sign in again"
        )
    return None


def require_live_session(home: Home, identity: Identity, policy: AccessPolicy) -> None:
    """Refuse an action by a signed-in person whose session has ended.

    Raises:
        SessionEnded: names why (signed out elsewhere, too old) and what to do.
    """
    problem = session_problem(home, identity, policy)
    if problem is not None:
        raise SessionEnded(f"{identity.name}: your session has ended: {problem}")


__all__ = [
    "SIGNED_OUT_FILE",
    "SignOuts",
    "record_sign_out",
    "require_live_session",
    "session_problem",
    "signed_out_path",
]
