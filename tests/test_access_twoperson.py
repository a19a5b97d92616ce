"""Issues 20 and 21 in the core: one identity per person, the two-person rule for promotions
*and* rollbacks, the rule re-judged when ``required_approvals`` changes, fresh sign-ins.

Real registries in ``tmp_path`` (tiny real LightGBM bundles, runs written with
``write_run``); identities are what the app builds from ``st.user`` (``oidc_identity``) and
what the CLI builds from ``--approver`` and the OS user. Messages are pinned.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers_registry import champion_of, make_run, promoted_run

from taskclf_core.access.identity import (
    Identity,
    cli_identity,
    normalize_person,
    oidc_identity,
)
from taskclf_core.access.policy import AccessPolicy, roles_of
from taskclf_core.errors import IdentityError, PromotionRefused, SignInAgain
from taskclf_core.paths import Home
from taskclf_core.registry.approve import PendingApproval, approve, rollback_as
from taskclf_core.registry.history import read_history
from taskclf_core.registry.pending import pending_path, pending_state, signoff_plan
from taskclf_core.train.config import ConfigError, parse_retrain_yaml

ISSUER = "http://127.0.0.1:5555"
APPROVERS = ["alice@example.com", "bob@example.com", "carol@example.com"]
ONE = AccessPolicy(approvers=APPROVERS)
TWO = AccessPolicy(approvers=APPROVERS, required_approvals=2)


def claims(email: str, sub: str, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"is_logged_in": True, "iss": ISSUER, "sub": sub, "email": email, "email_verified": True, "iat": now,
            "auth_time": now, **extra}


def person(email: str, sub: str | None = None, **extra: Any) -> Identity:
    identity = oidc_identity(claims(email, sub or f"sub-{email}", **extra))
    assert identity is not None
    return identity


ALICE, BOB = person("alice@example.com"), person("bob@example.com")


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path)


def awaiting(home: Home) -> str:
    return make_run(home, champion=champion_of(home))


def champion_id(home: Home) -> str | None:
    champion = champion_of(home)
    return champion.run_id if champion else None


# ----------------------------------------------------------------------------- one identity per person


def test_a_person_is_their_verified_email_normalized() -> None:
    assert normalize_person(" ＡＬＩＣＥ@Example.COM ") == "alice@example.com"  # NFKC, case-folded, stripped
    assert person("  ALICE@Example.COM").name == "alice@example.com"
    for value in (False, "true", None):  # None: the claim is missing
        info = claims("eve@example.com", "eve-sub", email_verified=value)
        if value is None:
            info.pop("email_verified")
        with pytest.raises(IdentityError) as err:
            oidc_identity(info)
        assert str(err.value) == (
            f"the email 'eve@example.com' is not verified by the provider (email_verified is {value!r}; it must be "
            "true): verify it with the provider, then sign in again"
        ), value
    no_email = claims("x@example.com", "s")
    no_email.pop("email")
    with pytest.raises(IdentityError, match=r"^the sign-in returned no email claim \(subject 's'\); a person is"):
        oidc_identity(no_email)
    # Roles: the config's patterns are normalized the same way.
    config = parse_retrain_yaml("access:\n  approvers: [' Ａlice@EXAMPLE.com', '@Team.Example.ORG']\n")
    assert config.access.approvers == ["alice@example.com", "@team.example.org"]
    assert roles_of(person("ALICE@example.com"), config.access) == {"approver"}
    assert roles_of(person("zed@TEAM.example.org"), config.access) == {"approver"}


def test_two_spellings_or_two_subjects_of_one_email_are_one_approver(home: Home) -> None:
    before = promoted_run(home)
    run_id = awaiting(home)
    assert isinstance(approve(home, run_id, actor=ALICE, note="ok", auto_promote=False, policy=TWO), PendingApproval)
    for other in (
        person("ALICE@EXAMPLE.COM", "alice-second-subject"),
        person("alice@example.com", "alice-third-subject"),
        person("ａｌｉｃｅ@example.com", "alice-fullwidth"),
    ):
        with pytest.raises(PromotionRefused) as err:
            approve(home, run_id, actor=other, note="me again", auto_promote=False, policy=TWO)
        assert str(err.value).startswith(f"alice@example.com already approved run {run_id} (as alice@example.com at ")
        assert str(err.value).endswith("the same person cannot approve twice: 2 different approvers must sign off")
        assert champion_id(home) == before
    assert len(pending_state(home, run_id, required=2).valid) == 1
    entry = approve(home, run_id, actor=BOB, note="agreed", auto_promote=False, policy=TWO)
    assert not isinstance(entry, PendingApproval) and [a.actor.name for a in entry.approvals] == [
        "alice@example.com", "bob@example.com"
    ]


def test_cli_approvals_count_once_per_os_user_and_link_to_the_person(home: Home) -> None:
    promoted_run(home)
    run_id = awaiting(home)
    # x then its fullwidth look-alike from the same OS user: one approver.
    approve(home, run_id, actor=cli_identity("x", user="ops"), note="n", auto_promote=False, policy=TWO)
    with pytest.raises(PromotionRefused, match=r"^ｘ already approved run .* \(as x at .*\) \(as OS user ops: an "):
        approve(home, run_id, actor=cli_identity("ｘ", user="ops"), note="n", auto_promote=False, policy=TWO)
    # Any name from the same OS user, and a look-alike of the name from another OS user: refused too.
    for actor in (cli_identity("Someone Else", user="ops"), cli_identity("X", user="other"),
                  cli_identity("ｘ", user="other")):
        with pytest.raises(PromotionRefused, match="the same person cannot approve twice"):
            approve(home, run_id, actor=actor, note="n", auto_promote=False, policy=TWO)
    assert len(pending_state(home, run_id, required=2).valid) == 1

    # access.cli_users links an OS user to the person: Alice in the browser, then as her OS user.
    linked = AccessPolicy(approvers=APPROVERS, required_approvals=2, cli_users={"alice-os": "ALICE@example.com"})
    assert linked.cli_users == {"alice-os": "alice@example.com"}
    second = awaiting(home)
    approve(home, second, actor=ALICE, note="browser", auto_promote=False, policy=linked)
    as_cli = cli_identity("al", user="alice-os", cli_users=linked.cli_users)
    assert as_cli.describe() == "al (cli, OS user alice-os, mapped to alice@example.com by access.cli_users, approver as typed)"
    with pytest.raises(PromotionRefused, match=rf"^al already approved run {second} \(as alice@example.com at "):
        approve(home, second, actor=as_cli, note="cli", auto_promote=False, policy=linked)
    # And the other way round: the CLI first, then the browser.
    third = awaiting(home)
    approve(home, third, actor=as_cli, note="cli", auto_promote=False, policy=linked)
    with pytest.raises(PromotionRefused, match=rf"^alice@example.com already approved run {third} \(as al at "):
        approve(home, third, actor=ALICE, note="browser", auto_promote=False, policy=linked)
    # An OS user mapped to nobody is its own approver: with Bob's sign-off it completes.
    entry = approve(home, third, actor=BOB, note="ok", auto_promote=False, policy=linked)
    assert not isinstance(entry, PendingApproval) and [a.actor.key for a in entry.approvals] == [
        "person:alice@example.com", "person:bob@example.com"
    ]


# ----------------------------------------------------------------------------- rollback


def test_a_rollback_needs_the_same_approvals_as_a_promotion(home: Home) -> None:
    old = promoted_run(home)
    current = promoted_run(home, note="second")
    first = rollback_as(home, old, actor=ALICE, note="bad model", policy=TWO, expected_champion=current)
    assert isinstance(first, PendingApproval) and first.kind == "rollback"
    assert first.describe().startswith(f"Approval 1 of 2 recorded for the rollback to {old} by alice@example.com (")
    assert first.describe().endswith("; 1 more from a different approver completes the rollback")
    assert champion_id(home) == current and read_history(home)[0].new_champion == current  # nothing changed
    state = pending_state(home, old, required=2, kind="rollback")
    assert [a.actor for a in state.valid] == [ALICE]
    assert state.sentences()[0].startswith(f"Rollback to {old}: 1 of 2 approvals given (alice@example.com (")
    assert json.loads(pending_path(home).read_text())["rollbacks"][old][0]["actor"]["email"] == "alice@example.com"

    with pytest.raises(PromotionRefused) as err:  # the same person, another spelling and subject
        rollback_as(home, old, actor=person("Alice@Example.com", "alice-2"), note="again", policy=TWO)
    assert str(err.value).startswith(f"alice@example.com already approved the rollback to {old} (as alice@example.com at ")
    with pytest.raises(PromotionRefused, match=f"model {current} is already the champion"):  # no pending approval
        rollback_as(home, current, actor=BOB, note="x", policy=TWO)

    entry = rollback_as(home, old, actor=BOB, note="agreed", policy=TWO, expected_champion=current)
    assert not isinstance(entry, PendingApproval)
    assert (entry.action, entry.new_champion, entry.actor) == ("rollback", old, BOB)
    assert [(a.actor, a.note) for a in entry.approvals] == [(ALICE, "bad model"), (BOB, "agreed")]
    assert read_history(home)[0].approvals == entry.approvals
    assert json.loads(pending_path(home).read_text())["rollbacks"] == {}


def test_a_pending_rollback_is_void_once_the_champion_moves(home: Home) -> None:
    old = promoted_run(home)
    promoted_run(home, note="second")
    rollback_as(home, old, actor=ALICE, note="bad", policy=TWO)
    newer = promoted_run(home, note="third")  # the champion moves
    state = pending_state(home, old, required=2, kind="rollback")
    assert not state.valid and [a.actor for a in state.void] == [ALICE]
    assert state.sentences()[0].startswith(f"Rollback to {old}: the approval by alice@example.com (")
    assert state.sentences()[0].endswith("is void: the champion changed since (it was " + str(read_history(home)[1].new_champion) + ")")
    again = rollback_as(home, old, actor=BOB, note="still bad", policy=TWO)  # Bob's is the first that counts
    assert isinstance(again, PendingApproval) and [a.actor for a in again.state.valid] == [BOB]
    assert champion_id(home) == newer


# ----------------------------------------------------------------------------- the rule in force


def test_pending_approvals_are_rejudged_when_required_approvals_changes(home: Home) -> None:
    before = promoted_run(home)
    run_id = awaiting(home)
    approve(home, run_id, actor=ALICE, note="ok", auto_promote=False, policy=TWO)
    # Lowered to 1: Alice's approval is enough; the page says so and her sign-off completes it.
    state = pending_state(home, run_id, required=1)
    assert state.complete and state.sentences()[0].endswith(
        "enough under access.required_approvals = 1: the next sign-off completes the promotion"
    )
    plan = signoff_plan(home, run_id, actor=ALICE, required=1)
    assert plan.blocked() is None and plan.completes
    assert plan.confirmation(f"run {run_id} becomes the champion, replacing {before}") == (
        f"Run {run_id} becomes the champion, replacing {before} (with the approval of alice@example.com)."
    )
    entry = approve(home, run_id, actor=ALICE, note="completing", auto_promote=False, policy=ONE)
    assert not isinstance(entry, PendingApproval)
    assert (entry.new_champion, [a.note for a in entry.approvals]) == (run_id, ["ok"])
    # Raised to 3: two approvals are kept, and wait for a third person.
    three = AccessPolicy(approvers=APPROVERS, required_approvals=3)
    second = awaiting(home)
    approve(home, second, actor=ALICE, note="ok", auto_promote=False, policy=TWO)
    kept = approve(home, second, actor=BOB, note="ok", auto_promote=False, policy=three)
    assert isinstance(kept, PendingApproval) and kept.state.remaining == 1
    assert pending_state(home, second, required=3).sentences()[0].startswith(f"Run {second}: 2 of 3 approvals given (")


def test_required_approvals_above_the_approvers_is_refused_when_the_config_is_read() -> None:
    cases = {
        "access: {approvers: [alice@example.com], required_approvals: 2}": (
            "config: access.required_approvals: 2 is more than the 1 approver(s) listed in access.approvers "
            "(alice@example.com), so no promotion could ever complete; allowed: at most 1 (or list more approvers; "
            "a @domain pattern counts as many)"
        ),
        # Two spellings of one person are one approver.
        "access: {approvers: [alice@example.com, ALICE@example.com], required_approvals: 2}": (
            "config: access.required_approvals: 2 is more than the 1 approver(s) listed in access.approvers "
            "(alice@example.com), so no promotion could ever complete; allowed: at most 1 (or list more approvers; "
            "a @domain pattern counts as many)"
        ),
        "access: {required_approvals: 2}": (
            "config: access.required_approvals: 2 is more than the 0 approver(s) listed in access.approvers, so no "
            "promotion could ever complete; allowed: at most 1 (or list more approvers; a @domain pattern counts as many)"
        ),
        "access: {cli_users: {ops: not-an-email}}": (
            "config: access.cli_users: OS user 'ops' must map to an email (alice@example.com); got 'not-an-email'"
        ),
        "access: {session_hours: 0}": "config: access.session_hours must be a number in [0.001, 720]; got 0",
    }
    for text, message in cases.items():
        with pytest.raises(ConfigError) as err:
            parse_retrain_yaml(text)
        assert str(err.value) == message, text
    assert parse_retrain_yaml("access: {approvers: ['@example.com'], required_approvals: 3}").access.required_approvals == 3
    assert parse_retrain_yaml("access: {approvers: [a@x.org, b@x.org], required_approvals: 2}").access.session_hours == 8


def test_a_sign_off_can_require_a_fresh_sign_in(home: Home) -> None:
    promoted_run(home)
    run_id = awaiting(home)
    strict = AccessPolicy(approvers=APPROVERS, signoff_reauth_minutes=5)
    now = datetime.now(UTC)
    stale_at = int((now - timedelta(minutes=10)).timestamp())
    stale = person("alice@example.com", auth_time=stale_at)
    before = pending_path(home).exists(), champion_id(home)
    with pytest.raises(SignInAgain) as err:
        approve(home, run_id, actor=stale, note="ok", auto_promote=False, policy=strict, now=now)
    shown = datetime.fromtimestamp(stale_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert str(err.value) == (
        "sign in again to sign off: a sign-off needs a sign-in at most 5 minute(s) old (access.signoff_reauth_minutes); "
        f"alice@example.com last signed in at {shown} UTC"
    )
    assert (pending_path(home).exists(), champion_id(home)) == before  # nothing written
    with pytest.raises(SignInAgain):  # a rollback too
        rollback_as(home, champion_id(home) or "", actor=stale, note="x", policy=strict, now=now)
    entry = approve(home, run_id, actor=ALICE, note="ok", auto_promote=False, policy=strict, now=now)
    assert not isinstance(entry, PendingApproval) and entry.actor == ALICE
    # Typed identities (local, CLI) are outside the rule, as they are outside the roles.
    third = awaiting(home)
    assert approve(home, third, actor=cli_identity("ops", user="ops"), note="n", auto_promote=False, policy=strict)


def test_the_plan_says_what_a_sign_off_does_before_it_is_confirmed(home: Home) -> None:
    before = promoted_run(home)
    run_id = awaiting(home)
    change = f"run {run_id} becomes the champion, replacing {before}"
    plan = signoff_plan(home, run_id, actor=ALICE, required=2)
    assert plan.confirmation(change) == f"Approval 1 of 2: {change} when a second approver signs off."
    approve(home, run_id, actor=ALICE, note="ok", auto_promote=False, policy=TWO)
    mine = signoff_plan(home, run_id, actor=person("ALICE@example.com", "another-subject"), required=2)
    blocked = mine.blocked()
    assert blocked is not None and blocked.startswith("you approved this at ")
    assert blocked.endswith("(1 of 2 approvals given); a second, different approver must sign off")
    waiting = mine.state.waiting()
    assert waiting is not None and waiting.startswith("Approved by alice@example.com (signed in with OpenID Connect at ")
    assert waiting.endswith("; waiting for a second approver (1 of 2 approvals given)")
    bobs = signoff_plan(home, run_id, actor=BOB, required=2)
    assert bobs.blocked() is None
    assert bobs.confirmation(change) == f"{change[0].upper()}{change[1:]} (with the approval of alice@example.com)."
