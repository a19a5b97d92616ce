"""The pages of issue 24 under AppTest: Status opens with "Waiting for you", the reason on Retrain and
Review, notifications and expired approvals on History."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from taskclf_core.console.service import promote_run, run_retrain
from taskclf_core.notify import flush
from taskclf_core.paths import Home
from taskclf_core.registry.expiry import expire_pending
from tests.conftest import SeededHome, synthetic_request
from tests.helpers_app import HISTORY, RETRAIN, REVIEW, open_app, texts
from tests.helpers_notify import set_up

TWO = "access:\n  approvers: ['@example.com']\n  required_approvals: 2\n"


def test_status_opens_with_what_waits_for_the_local_approver(home_copy: Path, seeded_home: SeededHome) -> None:
    at = open_app()
    assert at.subheader[0].value == "Waiting for you"
    (item,) = [w for w in texts(at.warning) if "awaits your sign-off" in w]
    assert item.startswith(f"Run {seeded_home.awaiting} awaits your sign-off. Waiting ")
    link = next(p for p in at.get("page_link") if p.proto.label == f"Review {seeded_home.awaiting}")
    assert link.proto.query_string == f"run={seeded_home.awaiting}"


@pytest.mark.slow
def test_the_reason_field_is_on_retrain_and_the_reason_on_review(home_copy: Path, seeded_home: SeededHome) -> None:
    at = open_app(RETRAIN)
    assert any(t.label == "Reason (optional): why start it now" for t in at.text_input)
    result = run_retrain(Home(home_copy), synthetic_request(seeded_home.seed, reason="drift seen on Friday",
                                                            started_by="alice@example.com", started_how="signed_in"))
    at = open_app(REVIEW, run=str(result.run_id))
    assert "Started by alice@example.com (signed in): drift seen on Friday" in texts(at.info)


def test_history_shows_deliveries_and_expired_approvals(
    home_copy: Path, seeded_home: SeededHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_up(home_copy, monkeypatch, [{"name": "chat", "kind": "apprise", "events": ["approval_recorded"]}],
           '[notify.chat]\nurls = ["json://user:hunter2pw@127.0.0.1:9/x"]\n', extra=TWO, attempts=1)
    home = Home(home_copy)
    promote_run(home, seeded_home.awaiting, approver="alice", note="ok", origin="cli")  # 1 of 2
    assert flush(30)
    expire_pending(home, 7, now=datetime.now(UTC) + timedelta(days=8))
    at = open_app(HISTORY)
    assert "Notifications" in [s.value for s in at.subheader]
    table = next(d.value for d in at.dataframe if "attempts" in d.value.columns)
    row = table.iloc[0]
    assert (row["event"], row["run"], row["target"], row["status"]) == (
        "approval_recorded", seeded_home.awaiting, "chat (apprise)", "failed")
    assert "hunter2pw" not in table.to_string()
    (expired,) = [c for c in texts(at.caption) if c.startswith("Expired approval")]
    assert f"of run {seeded_home.awaiting} expired after 7 day(s)" in expired


@pytest.mark.slow
def test_a_retrain_started_from_the_page_records_who_started_it_and_why(home_copy: Path) -> None:
    import time

    from taskclf_core.access.identity import os_user
    from taskclf_core.console import access, jobs

    home = Home(home_copy)
    job = access.start_retrain(home, {"synthetic": True, "reason": "  the labels of November  "}, actor=None)
    deadline = time.monotonic() + 120
    while jobs.read_job(home, job.job_id).active and time.monotonic() < deadline:
        time.sleep(0.1)
    done = jobs.read_job(home, job.job_id)
    assert done.state == "succeeded" and done.result is not None and done.result.outcome == "not_due"
    assert (done.request["reason"], done.request["started_by"], done.request["started_how"]) == (
        "the labels of November", f"OS user {os_user()}", "local")
