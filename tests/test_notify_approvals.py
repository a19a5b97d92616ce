"""The approvals inbox ("Waiting for you"), approvals that expire, and the events of approvals."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from taskclf_core.access.policy import AccessPolicy
from taskclf_core.console.access import Access
from taskclf_core.console.read.inbox import waiting_for
from taskclf_core.notify import flush
from taskclf_core.paths import Home
from taskclf_core.registry.approve import PendingApproval, approve
from taskclf_core.registry.expiry import expire_pending, read_expired
from taskclf_core.registry.pending import pending_state
from tests.helpers_notify import deliveries, set_up
from tests.helpers_registry import champion_of, make_run
from tests.test_access_twoperson import ALICE, BOB, person

APPROVERS = ["alice@example.com", "bob@example.com"]
TWO = AccessPolicy(approvers=APPROVERS, required_approvals=2)
ACCESS_YAML = "access:\n  approvers: [alice@example.com, bob@example.com]\n  required_approvals: 2\n"
VIC = person("vic@elsewhere.net")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    """A home with the two-person rule and a target that records (and fails) every approval event."""
    set_up(tmp_path, monkeypatch, [{"name": "chat", "kind": "apprise", "events": ["approval_recorded", "approval_expired"]}],
           '[notify.chat]\nurls = ["json://127.0.0.1:9/x"]\n', extra=ACCESS_YAML, attempts=1)
    return Home(tmp_path)


def as_(who: object) -> Access:
    return Access(team=True, identity=who, policy=TWO)  # type: ignore[arg-type]


def test_an_approval_is_announced_with_one_of_two_and_who_is_still_needed(home: Home) -> None:
    run = make_run(home, champion=champion_of(home))
    first = approve(home, run, actor=ALICE, note="fine by me", auto_promote=False, policy=TWO)
    assert isinstance(first, PendingApproval)
    assert flush(30)
    (record,) = deliveries(home.root)
    assert (record["event"], record["run_id"]) == ("approval_recorded", run)
    assert record["title"] == f"Approval 1 of 2 for run {run}"


def test_the_inbox_shows_each_approver_what_waits_for_them(home: Home) -> None:
    run = make_run(home, champion=champion_of(home))
    (item,) = waiting_for(home, as_(BOB)).items
    assert (item.subject, item.page, item.query) == (run, "Review", {"run": run})
    assert item.text == f"Run {run} awaits your sign-off." and item.expires_at is None
    approve(home, run, actor=ALICE, note="fine by me", auto_promote=False, policy=TWO)
    now = datetime.now(UTC) + timedelta(hours=5)
    (item,) = waiting_for(home, as_(BOB), now=now).items
    assert item.text == (f"Run {run}: 1 of 2 approvals given (alice@example.com); it needs a different approver: "
                         "your sign-off completes it.")
    assert timedelta(hours=4, minutes=59) < item.age < timedelta(hours=5, minutes=1)  # type: ignore[operator]
    assert item.line().endswith(f"The approvals given expire at {(item.expires_at or now):%Y-%m-%d %H:%M} UTC.")
    alice = waiting_for(home, as_(ALICE))
    assert alice.items == [] and alice.note is not None and alice.note.startswith("Nothing waits for you")
    viewer = waiting_for(home, as_(VIC))
    assert viewer.items == [] and viewer.note == (
        "Nothing waits for you: only approvers sign off (you are signed in as viewer).")
    assert waiting_for(home, Access(team=True, identity=None, policy=TWO)).note == "Sign in to see what waits for you."


def test_an_expired_approval_leaves_the_inbox_is_noted_and_announced(home: Home) -> None:
    run = make_run(home, champion=champion_of(home))
    approve(home, run, actor=ALICE, note="fine by me", auto_promote=False, policy=TWO)
    later = datetime.now(UTC) + timedelta(days=7, minutes=1)
    (item,) = waiting_for(home, as_(BOB), now=later).items  # reading the inbox voids it
    assert item.text == f"Run {run} awaits your sign-off."
    assert pending_state(home, run, required=2).valid == ()
    (note,) = read_expired(home)
    assert (note.kind, note.subject, note.approval.actor.name, note.expiry_days) == ("promote", run, "alice@example.com", 7)
    assert note.describe().endswith("expired after 7 day(s) without a next approver; it no longer counts")
    assert expire_pending(home, 7, now=later) == []  # once
    assert flush(30)
    assert [r["event"] for r in deliveries(home.root)] == ["approval_recorded", "approval_expired"]
    # Alice may approve again: her expired approval is gone, so hers is again the first of two.
    again = approve(home, run, actor=ALICE, note="still fine", auto_promote=False, policy=TWO)
    assert isinstance(again, PendingApproval) and len(again.state.valid) == 1


def test_an_expired_approval_never_counts_toward_the_rule(home: Home) -> None:
    run = make_run(home, champion=champion_of(home))
    quick = AccessPolicy(approvers=APPROVERS, required_approvals=2, approval_expiry_days=1 / 86400)  # one second
    approve(home, run, actor=ALICE, note="fine by me", auto_promote=False, policy=quick)
    time.sleep(1.1)
    second = approve(home, run, actor=BOB, note="me too", auto_promote=False, policy=quick)
    assert isinstance(second, PendingApproval)  # not promoted: alice's approval had expired
    assert [a.actor.name for a in second.state.valid] == ["bob@example.com"]
    assert [n.approval.actor.name for n in read_expired(home)] == ["alice@example.com"]
    pending = json.loads((home.models_dir / "pending_approvals.json").read_text())
    assert [a["actor"]["email"] for a in pending["runs"][run]] == ["bob@example.com"]
