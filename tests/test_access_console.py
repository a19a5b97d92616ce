"""Issue 14 through the console: the pages under AppTest (local and team mode), start and
cancel as someone, the CLI's audit record, the report, and local mode unchanged.

Team mode under AppTest: ``at.secrets["auth"]`` is what makes the console a team console
and ``at.user`` is the signed-in person (the real sign-in is in ``test_e2e_team.py``).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from taskclf_core.access.identity import oidc_identity, os_user
from taskclf_core.console import access, jobs
from taskclf_core.console.cli import app as cli_app
from taskclf_core.console.formatting import format_time
from taskclf_core.console.read import review
from taskclf_core.console.reports import report
from taskclf_core.errors import AccessDenied
from taskclf_core.paths import Home
from taskclf_core.registry.approve import PendingApproval
from tests.conftest import TEST_CONFIG, SeededHome, synthetic_request, wait_job, write_config
from tests.helpers_app import ISSUER, open_app, texts, user

REVIEW, RETRAIN, HISTORY = "pages/2_Review.py", "pages/1_Retrain.py", "pages/3_History.py"
ROLES = "access:\n  approvers: [alice@example.com, bob@example.com]\n  operators: ['@example.com']\n"


def open_page(page: str | None, *, signed_in: dict[str, Any] | None = None, team: bool = True, **query: str) -> AppTest:
    """A page in team mode by default (a signed-out visitor unless ``signed_in``)."""
    return open_app(page, signed_in=signed_in, team=team, **query)


def history_lines(root: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (root / "models" / "active_history.jsonl").read_text().splitlines() if x]


@pytest.fixture
def team_home(home_copy: Path) -> Path:
    write_config(home_copy, TEST_CONFIG + ROLES)
    return home_copy


# ----------------------------------------------------------------------------- pages, team mode


def test_signed_out_sees_only_the_sign_in_screen(team_home: Path, seeded_home: SeededHome) -> None:
    at = open_page(REVIEW, run=seeded_home.awaiting)
    assert at.title[0].value == "Review"
    assert at.button(key="access_sign_in").label == "Sign in"
    assert "sign in to continue" in at.info[0].value
    assert not at.subheader  # nothing of the review is shown


def test_a_viewer_reads_the_review_but_promote_and_start_are_disabled(team_home: Path, seeded_home: SeededHome) -> None:
    viewer = user("vic@elsewhere.net")
    at = open_page(REVIEW, signed_in=viewer, run=seeded_home.awaiting)
    assert at.subheader[0].value == f"Run {seeded_home.awaiting}"
    assert "Promote is disabled: approvers only: you are signed in as viewer." in texts(at.warning)
    assert at.button(key="review_promote").disabled
    assert at.text_input(key="review_approver_user").value == "vic@elsewhere.net"  # never typed
    assert any(c.startswith("Signed in as **vic@elsewhere.net** (viewer)") for c in (e.value for e in at.sidebar.caption))
    at = open_page(RETRAIN, signed_in=viewer)
    assert "Start is disabled: operators only: you are signed in as viewer." in texts(at.warning)
    assert at.button(key="retrain_start").disabled


def test_an_approver_promotes_from_the_page_as_the_signed_in_person(team_home: Path, seeded_home: SeededHome) -> None:
    at = open_page(REVIEW, signed_in=user("alice@example.com"), run=seeded_home.awaiting)
    assert at.info[0].value.startswith("Promote is available")
    at.text_area(key="review_note").input("ship it").run()
    at.button(key="review_promote").click().run()
    at.button(key="review_confirm_promote").click().run()
    assert not at.exception, at.exception
    assert "Promoted by alice@example.com" in texts(at.success)[0]
    last = history_lines(team_home)[-1]
    signed_in = last["actor"]["signed_in_at"]
    assert abs(signed_in - time.time()) < 600
    assert last["actor"] == {
        "name": "alice@example.com", "method": "oidc", "email": "alice@example.com", "issuer": ISSUER,
        "subject": "sub-alice@example.com", "os_user": None, "signed_in_at": signed_in, "authenticated_at": signed_in,
    }
    who = (
        f"promote by: alice@example.com (signed in with OpenID Connect at {format_time(datetime.fromtimestamp(signed_in, UTC))}: "
        f"issuer {ISSUER}, subject sub-alice@example.com)"
    )
    assert who in texts(at.caption)


@pytest.mark.slow
def test_two_person_rule_on_the_pages(team_home: Path, seeded_home: SeededHome) -> None:
    write_config(team_home, TEST_CONFIG + ROLES + "  required_approvals: 2\n")
    at = open_page(REVIEW, signed_in=user("alice@example.com"), run=seeded_home.awaiting)
    at.text_area(key="review_note").input("looks right").run()
    at.button(key="review_promote").click().run()
    at.button(key="review_confirm_promote").click().run()
    assert not at.exception, at.exception
    assert texts(at.info)[0].startswith(f"Approval 1 of 2 recorded for run {seeded_home.awaiting} by alice@example.com (")
    pending = f"Run {seeded_home.awaiting}: 1 of 2 approvals given (alice@example.com ("
    assert any(c.startswith(f"Pending approval: {pending}") for c in texts(at.caption))
    for page in (None, HISTORY):  # Status and History show it too
        at = open_page(page, signed_in=user("bob@example.com"))
        assert any(w.startswith(f"Pending approval: {pending}") for w in texts(at.warning)), page
    assert history_lines(team_home)[-1]["new_champion"] == seeded_home.champion  # not yet promoted


# ----------------------------------------------------------------------------- local mode unchanged


@pytest.mark.slow
def test_local_mode_types_the_approver_and_marks_it_not_authenticated(home_copy: Path, seeded_home: SeededHome) -> None:
    at = open_page(REVIEW, team=False, run=seeded_home.awaiting)
    assert any("Local mode: no sign-in" in c.value for c in at.sidebar.caption)
    at.text_input(key="review_approver").input("dana")
    at.text_area(key="review_note").input("ship it").run()
    at.button(key="review_promote").click().run()
    at.button(key="review_confirm_promote").click().run()
    assert not at.exception, at.exception
    last = history_lines(home_copy)[-1]
    assert (last["approver"], last["actor"]["method"], last["actor"]["os_user"]) == ("dana", "local", os_user())
    assert f"promote by: dana (local, not authenticated, console served by OS user {os_user()})" in texts(at.caption)
    html = report.render_report(review.run_review(Home.resolve(home_copy), seeded_home.awaiting))
    assert "<h2>Sign-off</h2>" in html and "dana (local, not authenticated, console served by OS user" in html


# ----------------------------------------------------------------------------- start and cancel


def test_start_and_cancel_need_the_operator_role(team_home: Path, seeded_home: SeededHome) -> None:
    home = Home.resolve(team_home)
    fields = synthetic_request(seeded_home.seed).model_dump()
    viewer = oidc_identity(user("vic@elsewhere.net"))
    operator = oidc_identity(user("olga@example.com"))
    assert viewer is not None and operator is not None
    with pytest.raises(AccessDenied) as err:
        access.start_retrain(home, fields, actor=viewer)
    assert str(err.value) == (
        "vic@elsewhere.net may not start a retrain: operators only (operators may start and cancel retrains; "
        "signed in as viewer). Ask to be listed under access.operators in configs/retrain.yaml"
    )
    assert jobs.latest_job(home) is None  # nothing started, nothing written
    job = access.start_retrain(home, fields, actor=operator)
    try:
        with pytest.raises(AccessDenied, match=f"^vic@elsewhere.net may not cancel retrain job {job.job_id}: operators only"):
            access.cancel_retrain(home, job.job_id, actor=viewer)
        access.cancel_retrain(home, job.job_id, actor=operator)
    finally:
        final = wait_job(home, job.job_id, timeout=120)
    assert final.state in ("cancelled", "succeeded"), final


# ----------------------------------------------------------------------------- CLI


def test_cli_promote_records_the_os_user_and_counts_once_per_os_user(team_home: Path, seeded_home: SeededHome) -> None:
    write_config(team_home, TEST_CONFIG + ROLES + "  required_approvals: 2\n")
    runner = CliRunner()
    args = ["train", "promote", seeded_home.awaiting, "--note", "ok"]
    first = runner.invoke(cli_app, [*args, "--approver", "erin"], catch_exceptions=False)
    assert first.exit_code == 0, first.stderr
    me = os_user()
    assert first.stdout.startswith(
        f"Approval 1 of 2 recorded for run {seeded_home.awaiting} by erin (cli, OS user {me}, approver as typed) at "
    )
    assert first.stdout.endswith(
        f"; 1 more from a different approver completes the promotion (an unauthenticated sign-off counts once per "
        f"OS user whatever approver name is given: this one counts as OS user {me}; another OS user, or an approver "
        "signed in on the console, must give the next one).\n"
    )
    # Whatever --approver says (another name, a look-alike of the first), the same OS user cannot complete it.
    for name in ("frank", "Erin", "ｅｒｉｎ"):
        again = runner.invoke(cli_app, [*args, "--approver", name])
        assert again.exit_code == 2, again.stdout
        assert again.stderr.startswith(f"error: {name} already approved run {seeded_home.awaiting} (as erin at ")
        assert f"(as OS user {me}: an unauthenticated sign-off counts once per OS user, whatever approver name is given)" in again.stderr
    assert history_lines(team_home)[-1]["new_champion"] == seeded_home.champion  # still pending
    # A second, different approver (signed in on the console) completes it.
    bob = oidc_identity(user("bob@example.com"))
    entry = review.sign_off(Home.resolve(team_home), seeded_home.awaiting, approver="", note="agreed", actor=bob)
    assert not isinstance(entry, PendingApproval)
    last = history_lines(team_home)[-1]
    assert last["new_champion"] == seeded_home.awaiting
    assert [(a["actor"]["name"], a["actor"]["method"], a["actor"]["os_user"]) for a in last["approvals"]] == [
        ("erin", "cli", me), ("bob@example.com", "oidc", None)
    ]
