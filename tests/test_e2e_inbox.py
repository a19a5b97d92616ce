"""Team mode in a real browser: "Waiting for you" on Status after the first of two approvals, and after it expires.

A real ``streamlit run`` with sign-in against a real OpenID Connect provider on 127.0.0.1
(the fixtures of ``test_e2e_team``), ``required_approvals: 2``, Alice and Bob approvers.
"""

# The team-mode fixtures (provider, server, browser contexts) are imported from test_e2e_team:
# pytest finds them by parameter name, which ruff reads as a redefinition.
# ruff: noqa: F811

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SeededHome
from tests.test_e2e import expect, fill, wait_idle
from tests.test_e2e_team import (  # noqa: F401 (fixtures)
    NOTE,
    PEOPLE,
    TeamServer,
    oidc,
    open_review_signed_in,
    people,
    sign_in_at_provider,
    team_server,
)

pytestmark = pytest.mark.e2e


def status_signed_in(page: Any, server: TeamServer, oidc: str, who: str, *, signed_in: bool = False) -> None:
    """Open Status as ``who`` (signing in at the provider first unless this browser already is)."""
    page.goto(server.base)
    if not signed_in:
        sign_in_at_provider(page, oidc, who)
    expect(page.get_by_test_id("stSidebar").get_by_text("Signed in as")).to_contain_text(PEOPLE[who][1])
    expect(page.get_by_role("heading", name="Waiting for you")).to_be_visible()
    wait_idle(page)


def backdate_pending(server: TeamServer, days: int) -> None:
    """Let ``days`` pass for the approvals on file (their time moves back; nothing else changes)."""
    path = server.home / "models" / "pending_approvals.json"
    data = json.loads(path.read_text())
    for approvals in data["runs"].values():
        for approval in approvals:
            approval["at"] = (datetime.now(UTC) - timedelta(days=days)).isoformat()
    path.write_text(json.dumps(data))


def test_the_second_approver_is_waited_for_until_the_approval_expires(
    team_server: Callable[..., TeamServer], oidc: str, people: Callable[[], Any], seeded_home: SeededHome,
    tmp_path: Path,
) -> None:
    server = team_server(2)
    run_id = seeded_home.awaiting
    alice = people()
    open_review_signed_in(alice, server, oidc, run_id, "alice")
    fill(alice, NOTE, "looks good")
    alice.get_by_role("button", name="Promote…").click()
    alice.get_by_role("dialog").get_by_role("button", name="Yes, promote").click()
    expect(alice.get_by_text(f"Approval 1 of 2 recorded for run {run_id} by alice@example.com")).to_be_visible()

    bob = people()
    status_signed_in(bob, server, oidc, "bob")
    waiting = bob.get_by_text(f"Run {run_id}: 1 of 2 approvals given (alice@example.com); it needs a different "
                              "approver: your sign-off completes it.")
    expect(waiting).to_be_visible()
    expect(waiting).to_contain_text(re.compile(r"Waiting \d+ s\. The approvals given expire at \d{4}-\d\d-\d\d "))
    expect(bob.get_by_role("link", name=f"Review {run_id}").first).to_have_attribute("href", re.compile(rf"Review\?run={run_id}$"))
    bob.screenshot(path=str(tmp_path / "bob-waiting.png"), full_page=True)

    status_signed_in(alice, server, oidc, "alice", signed_in=True)  # she approved: nothing waits for her
    expect(alice.get_by_text("Nothing waits for you: no run awaits your sign-off")).to_be_visible()

    backdate_pending(server, 8)  # a week and a day later (access.approval_expiry_days: 7)
    bob.reload()
    expect(bob.get_by_text(f"Run {run_id} awaits your sign-off.")).to_be_visible()
    expect(bob.get_by_text("approvals given (alice@example.com)")).to_have_count(0)
    bob.screenshot(path=str(tmp_path / "bob-after-expiry.png"), full_page=True)
    bob.goto(f"{server.base}/History")
    expired = bob.get_by_text(re.compile(rf"^Expired approval \(.*\): The approval by alice@example.com .* of run "
                                         rf"{run_id} expired after 7 day\(s\) without a next approver"))
    expect(expired).to_be_visible()
    assert json.loads((server.home / "models" / "pending_approvals.json").read_text())["runs"] == {}
    assert server.history()[-1]["new_champion"] == seeded_home.champion  # nothing was promoted
