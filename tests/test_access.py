"""Issue 14 in the core: identities, roles, the two-person rule and the audit trail.

Real registries in ``tmp_path`` (tiny real LightGBM bundles, runs written with
``write_run``); the identities are what the app builds from ``st.user`` and what the CLI
builds from ``--approver`` and the OS user. Messages are pinned, not just types.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from helpers_registry import champion_of, make_run, promoted_run

from taskclf_core.access.identity import (
    LOCAL_MARK,
    Identity,
    cli_identity,
    local_identity,
    oidc_identity,
)
from taskclf_core.access.policy import AccessPolicy, has_role, matches, roles_of
from taskclf_core.errors import AccessDenied, ChampionChanged, IdentityError, PromotionRefused
from taskclf_core.paths import Home
from taskclf_core.registry.approve import PendingApproval, approve, rollback_as
from taskclf_core.registry.history import read_history
from taskclf_core.registry.pending import all_pending, pending_path, pending_state
from taskclf_core.train.config import ConfigError, parse_retrain_yaml

ISSUER = "http://127.0.0.1:5555"
POLICY = AccessPolicy(approvers=["alice@example.com", "@approvers.example.org"], operators=["@example.com"])
TWO = AccessPolicy(approvers=["@example.com"], required_approvals=2)


def person(email: str, sub: str | None = None) -> Identity:
    """A signed-in person, as ``oidc_identity`` builds it from ``st.user`` (a verified email)."""
    identity = oidc_identity({
        "is_logged_in": True, "iss": ISSUER, "sub": sub or f"sub-{email}", "email": email, "email_verified": True,
        "iat": int(time.time()),
    })
    assert identity is not None
    return identity


ALICE, BOB, CAROL = person("alice@example.com"), person("bob@example.com"), person("carol@elsewhere.net")


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path)


def awaiting(home: Home) -> str:
    """A promotable run compared against the current champion."""
    return make_run(home, champion=champion_of(home))


# ----------------------------------------------------------------------------- identities and roles


def test_identity_from_signed_in_claims() -> None:
    assert oidc_identity({}) is None
    assert oidc_identity({"is_logged_in": False, "email": "x@y.z"}) is None
    who = oidc_identity({
        "is_logged_in": True, "iss": ISSUER, "sub": "248289761001", "email": " Alice@Example.com",
        "email_verified": True, "iat": 1_780_000_000, "auth_time": 1_779_999_940,
    })
    assert who is not None
    # The person is the verified email, normalized; issuer and subject are recorded beside it.
    assert (who.name, who.email, who.method, who.issuer, who.subject) == (
        "alice@example.com", "alice@example.com", "oidc", ISSUER, "248289761001"
    )
    assert (who.signed_in_at, who.authenticated_at) == (1_780_000_000, 1_779_999_940)
    assert who.describe() == (
        f"alice@example.com (signed in with OpenID Connect at 2026-05-28 20:25 UTC: issuer {ISSUER}, subject 248289761001)"
    )
    with pytest.raises(IdentityError, match=r"no issuer \(iss\) or subject \(sub\) claim; got iss=None"):
        oidc_identity({"is_logged_in": True, "email": "a@b.c", "sub": "1"})
    with pytest.raises(IdentityError, match=r"^the sign-in's iss claim is too long to record; got 'xxx"):
        oidc_identity({"is_logged_in": True, "iss": "x" * 3000, "sub": "1", "email": "a@b.c", "email_verified": True})
    assert local_identity(" bob ").describe() == f"bob ({LOCAL_MARK})"
    assert cli_identity("carol", user="ci-runner").describe() == "carol (cli, OS user ci-runner, approver as typed)"
    # Same person: the normalized email, or the same issuer + subject; typed names: the name or the OS user.
    assert person("a@x.org", sub="1").same_person(person("A@X.ORG", sub="2"))
    assert person("a@x.org", sub="1").same_person(person("renamed@x.org", sub="1"))
    assert not person("a@x.org", sub="1").same_person(person("b@x.org", sub="2"))
    assert local_identity("Bob").same_person(cli_identity("bob", user="u"))
    assert cli_identity("x", user="u").same_person(cli_identity("y", user="u"))


def test_roles_by_email_and_domain() -> None:
    assert matches("ALICE@example.com", "alice@example.com") and matches("x@approvers.example.org", "@approvers.example.org")
    assert not matches("x@evil-approvers.example.org.attacker.net", "@approvers.example.org")
    assert not matches("alice@example.com@evil.net", "alice@example.com")
    assert roles_of(ALICE, POLICY) == {"approver", "operator"}
    assert roles_of(BOB, POLICY) == {"operator"}
    assert roles_of(person("zed@approvers.example.org"), POLICY) == {"approver"}
    assert roles_of(CAROL, POLICY) == frozenset()  # a viewer
    assert roles_of(person("nomail@example.com").model_copy(update={"email": None}), POLICY) == frozenset()
    # No roles listed: every signed-in person is a viewer; local and CLI are outside the roles.
    assert roles_of(ALICE, AccessPolicy()) == frozenset()
    assert has_role(local_identity("anyone"), AccessPolicy(), "approver")
    assert has_role(cli_identity("anyone", user="u"), POLICY, "operator")


def test_access_section_of_the_config() -> None:
    config = parse_retrain_yaml(
        "access:\n  approvers: [Alice@Example.com, '@team.example.org', ' ALICE@example.com']\n  operators: []\n"
        "  required_approvals: 2\n"
    )
    assert config.access.approvers == ["alice@example.com", "@team.example.org"]  # normalized, once each
    assert config.access.required_approvals == 2
    assert parse_retrain_yaml("").access == AccessPolicy()  # default: no roles, one sign-off
    bad = {
        "access: {approvers: [bob]}": "config: access.approvers: 'bob' is neither an email (alice@example.com) nor a domain pattern (@example.com)",
        "access: {approver: []}": (
            "config: unknown key 'access.approver' (did you mean 'approvers'?); allowed keys: approvers, operators, "
            "required_approvals, cli_users, session_hours, signoff_reauth_minutes, approval_expiry_days"
        ),
        "access: {required_approvals: 0}": "config: access.required_approvals must be a whole number in [1, 5]; got 0",
    }
    for text, message in bad.items():
        with pytest.raises(ConfigError) as err:
            parse_retrain_yaml(text)
        assert str(err.value) == message


# ----------------------------------------------------------------------------- promote and rollback


def test_promote_refuses_a_viewer_and_an_operator_and_writes_nothing(home: Home) -> None:
    run_id = awaiting(home)
    for who, held in ((CAROL, "viewer"), (BOB, "operator")):
        with pytest.raises(AccessDenied) as err:
            approve(home, run_id, actor=who, note="ship it", auto_promote=False, policy=POLICY)
        assert str(err.value) == (
            f"{who.name} may not promote run {run_id}: approvers only (approvers may promote and roll back; "
            f"signed in as {held}). Ask to be listed under access.approvers in configs/retrain.yaml"
        )
    assert not home.models_dir.exists()  # refused before the lock: no models/, no lock file


def test_promote_by_an_approver_records_the_identity_and_the_approval(home: Home) -> None:
    run_id = awaiting(home)
    entry = approve(home, run_id, actor=ALICE, note="ship it", auto_promote=False, policy=POLICY)
    assert not isinstance(entry, PendingApproval)
    assert (entry.new_champion, entry.approver, entry.actor) == (run_id, "alice@example.com", ALICE)
    assert [a.actor for a in entry.approvals] == [ALICE]
    line = json.loads((home.models_dir / "active_history.jsonl").read_text().splitlines()[-1])
    assert line["actor"]["issuer"] == ISSUER and line["actor"]["subject"] == "sub-alice@example.com"
    assert line["approvals"][0]["champion"] is None  # there was no champion when Alice approved
    assert read_history(home)[0] == entry  # the line reads back as written


def test_rollback_refuses_without_the_role_and_records_the_approver(home: Home) -> None:
    first = promoted_run(home)
    promoted_run(home, note="second")
    with pytest.raises(AccessDenied, match=rf"^bob@example.com may not roll back to {first}: approvers only "):
        rollback_as(home, first, actor=BOB, note="bad model", policy=POLICY)
    entry = rollback_as(home, first, actor=ALICE, note="bad model", policy=POLICY)
    assert (entry.action, entry.new_champion, entry.actor) == ("rollback", first, ALICE)
    assert read_history(home)[0].actor == ALICE


def test_local_and_cli_identities_are_recorded_as_such(home: Home) -> None:
    run_id = awaiting(home)
    entry = approve(home, run_id, actor=local_identity("dana"), note="n", auto_promote=False, policy=POLICY)
    assert not isinstance(entry, PendingApproval)
    assert entry.actor is not None and entry.actor.describe() == "dana (local, not authenticated)"
    second = awaiting(home)
    entry = approve(home, second, actor=cli_identity("erin", user="erin-os"), note="n", auto_promote=False, policy=POLICY)
    assert not isinstance(entry, PendingApproval) and entry.actor is not None
    assert (entry.approver, entry.actor.method, entry.actor.os_user) == ("erin", "cli", "erin-os")


# ----------------------------------------------------------------------------- the two-person rule


def test_two_person_rule(home: Home) -> None:
    promoted_run(home)
    champion = champion_of(home)
    assert champion is not None
    run_id = awaiting(home)
    first = approve(home, run_id, actor=ALICE, note="looks good", auto_promote=False, policy=TWO)
    assert isinstance(first, PendingApproval)
    assert first.describe().startswith(f"Approval 1 of 2 recorded for run {run_id} by alice@example.com (")
    assert champion_of(home) == champion  # nothing promoted yet
    state = pending_state(home, run_id, required=2)
    assert [a.actor for a in state.valid] == [ALICE] and state.remaining == 1 and not state.void
    assert state.sentences()[0].startswith(f"Run {run_id}: 1 of 2 approvals given (alice@example.com (")
    assert [s.run_id for s in all_pending(home, required=2)] == [run_id]

    # The same person (same issuer and subject, even under another email) cannot approve twice.
    again = person("alice.renamed@example.com", sub="sub-alice@example.com")
    with pytest.raises(PromotionRefused) as err:
        approve(home, run_id, actor=again, note="again", auto_promote=False, policy=TWO)
    assert str(err.value).startswith(f"alice.renamed@example.com already approved run {run_id} (as alice@example.com at ")
    assert str(err.value).endswith("the same person cannot approve twice: 2 different approvers must sign off")
    assert pending_state(home, run_id, required=2).valid == state.valid

    entry = approve(home, run_id, actor=BOB, note="agreed", auto_promote=False, policy=TWO)
    assert not isinstance(entry, PendingApproval)
    assert entry.new_champion == run_id and entry.actor == BOB
    assert [(a.actor, a.note) for a in entry.approvals] == [(ALICE, "looks good"), (BOB, "agreed")]
    assert read_history(home)[0].approvals == entry.approvals
    assert json.loads(pending_path(home).read_text())["runs"] == {}  # cleared with the promotion


def test_a_pending_approval_is_void_once_the_champion_changes(home: Home) -> None:
    old = promoted_run(home)
    current = promoted_run(home, note="second")
    run_id = awaiting(home)
    assert isinstance(approve(home, run_id, actor=ALICE, note="ok", auto_promote=False, policy=TWO), PendingApproval)
    # The champion changes and comes back: the same model, but not the champion Alice saw.
    rollback_as(home, old, actor=ALICE, note="check", policy=POLICY)  # (one approver: not under test here)
    state = pending_state(home, run_id, required=2)
    assert not state.valid and [a.actor for a in state.void] == [ALICE]
    assert state.sentences() == [
        f"Run {run_id}: the approval by {state.void[0].describe()} is void: the champion changed since (it was {current})"
    ]
    with pytest.raises(ChampionChanged):  # while the champion differs, the run is stale anyway
        approve(home, run_id, actor=BOB, note="ok", auto_promote=False, policy=TWO)
    rollback_as(home, current, actor=ALICE, note="back", policy=POLICY)
    # Bob's sign-off is the first that counts: still pending, Alice must approve again.
    second = approve(home, run_id, actor=BOB, note="ok", auto_promote=False, policy=TWO)
    assert isinstance(second, PendingApproval) and [a.actor for a in second.state.valid] == [BOB]
    assert [a.actor for a in pending_state(home, run_id, required=2).valid] == [BOB]  # void one pruned
    entry = approve(home, run_id, actor=ALICE, note="again", auto_promote=False, policy=TWO)
    assert not isinstance(entry, PendingApproval) and [a.actor for a in entry.approvals] == [BOB, ALICE]


def test_an_unpromotable_run_gets_no_pending_approval(home: Home) -> None:
    rejected = make_run(home, outcome="rejected", failed_gates=("baseline_improvement",))
    with pytest.raises(PromotionRefused, match="was rejected by gate"):
        approve(home, rejected, actor=ALICE, note="n", auto_promote=False, policy=TWO)
    assert not pending_path(home).exists()


def test_a_damaged_pending_file_is_reported_and_ignored(home: Home) -> None:
    run_id = awaiting(home)
    home.models_dir.mkdir(parents=True)
    pending_path(home).write_text("{not json")
    state = pending_state(home, run_id, required=2)
    assert not state.valid and state.problem is not None
    assert state.problem.startswith("models/pending_approvals.json is not valid (")
    first = approve(home, run_id, actor=ALICE, note="n", auto_promote=False, policy=TWO)
    assert isinstance(first, PendingApproval)  # the file is rewritten valid
    assert pending_state(home, run_id, required=2).problem is None
