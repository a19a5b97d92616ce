"""Issue 20 item 3 in the core: sign-out ends every session of that person, sessions expire,
and every action taken as a signed-in person checks it (not only the page).

The browser side (another tab, a replayed cookie, a real provider) is in ``test_e2e_team.py``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pytest
from helpers_registry import champion_of, make_run, promoted_run

from taskclf_core.access.identity import Identity, oidc_identity
from taskclf_core.access.policy import AccessPolicy
from taskclf_core.console import access
from taskclf_core.console.history import roll_back
from taskclf_core.console.service import promote_run, rollback_model
from taskclf_core.console.sessions import (
    record_sign_out,
    session_problem,
    signed_out_path,
)
from taskclf_core.errors import SessionEnded
from taskclf_core.paths import Home
from tests.conftest import write_config

POLICY = AccessPolicy(approvers=["alice@example.com"], operators=["@example.com"])


def signed_in(email: str, iat: float, sub: str = "s1") -> Identity:
    info: dict[str, Any] = {"is_logged_in": True, "iss": "http://idp", "sub": sub, "email": email,
                            "email_verified": True, "iat": int(iat)}
    identity = oidc_identity(info)
    assert identity is not None
    return identity


def test_sign_out_ends_every_session_of_that_person(tmp_path: Path) -> None:
    home = Home(tmp_path)
    t0 = 1_790_000_000.0
    tab = signed_in("alice@example.com", t0)
    other_browser = signed_in("ALICE@example.com", t0 + 5, sub="s2")  # same person, another subject
    bob = signed_in("bob@example.com", t0)
    assert session_problem(home, tab, POLICY, now=t0 + 60) is None
    record_sign_out(home, tab, now=t0 + 10.5)
    for ended in (tab, other_browser):
        assert session_problem(home, ended, POLICY, now=t0 + 60) == (
            "you signed out at 2026-09-21 14:13:30 UTC (in another tab or browser): sign in again"
        )
    assert session_problem(home, bob, POLICY, now=t0 + 60) is None  # another person is untouched
    # Signing in again works at once: iat is whole seconds, compared with the sign-out's second.
    same_second = signed_in("alice@example.com", math.floor(t0 + 10.5))
    assert session_problem(home, same_second, POLICY, now=t0 + 11) is None
    assert signed_out_path(home) == tmp_path / "artifacts" / "sessions" / "signed_out.json"


def test_a_session_lasts_session_hours_and_fails_closed(tmp_path: Path) -> None:
    home = Home(tmp_path)
    t0 = 1_790_000_000.0
    alice = signed_in("alice@example.com", t0)
    assert session_problem(home, alice, POLICY, now=t0 + 8 * 3600) is None
    assert session_problem(home, alice, POLICY, now=t0 + 8 * 3600 + 1) == (
        "your sign-in from 2026-09-21 14:13:20 UTC is older than access.session_hours (8 h): sign in again"
    )
    longer = AccessPolicy(session_hours=24)
    assert session_problem(home, alice, longer, now=t0 + 9 * 3600) is None
    no_iat = alice.model_copy(update={"signed_in_at": None})
    assert session_problem(home, no_iat, POLICY, now=t0) == (
        "your sign-in carries no issue time (iat claim), so its age cannot be checked: sign in again"
    )
    signed_out_path(home).parent.mkdir(parents=True)
    signed_out_path(home).write_text("{not json")
    problem = session_problem(home, alice, POLICY, now=t0)
    assert problem is not None and problem.startswith(f"the sign-out record {signed_out_path(home)} is not valid (")
    assert problem.endswith("so whether you signed out cannot be checked: sign in again once it is fixed "
                            "(delete the file to reset every sign-out)")


def test_every_action_as_a_signed_out_person_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    home = Home(tmp_path)
    write_config(tmp_path, "access:\n  approvers: [alice@example.com]\n  operators: ['@example.com']\n")
    first = promoted_run(home)
    promoted_run(home, note="second")
    run_id = make_run(home, champion=champion_of(home))
    alice = signed_in("alice@example.com", time.time() - 5)
    record_sign_out(home, alice)
    history = (home.models_dir / "active_history.jsonl").read_bytes()
    calls = {
        "promote": lambda: promote_run(home, run_id, approver="", note="ok", actor=alice),
        "rollback": lambda: rollback_model(home, first, approver="", note="ok", actor=alice),
        "roll back from History": lambda: roll_back(
            home, first, approver="", note="ok", expected_champion=None, actor=alice
        ),
        "start": lambda: access.start_retrain(home, {}, actor=alice),
        "cancel": lambda: access.cancel_retrain(home, "x", actor=alice),
    }
    for name, call in calls.items():
        with pytest.raises(SessionEnded) as err:
            call()
        assert str(err.value).startswith("alice@example.com: your session has ended: you signed out at "), name
    assert (home.models_dir / "active_history.jsonl").read_bytes() == history
    assert not (home.models_dir / "pending_approvals.json").exists() and not home.jobs_dir.exists()
    # Signed in again (a later iat): the same call goes through.
    time.sleep(1.05)
    again = signed_in("alice@example.com", time.time())
    entry = promote_run(home, run_id, approver="", note="ok", actor=again)
    assert getattr(entry, "new_champion", None) == run_id
