"""Issues 20 and 21 on the pages, under AppTest (team mode: ``at.secrets["auth"]`` and a
signed-in ``at.user``; the real sign-in is in ``test_e2e_team.py``).

The first of two approvals reads as one (the dialog, the section, the first approver's
disabled form), every approver is named on Review, Status and History, a rollback needs two
approvers, an unverified email gets no role, an ended session lands on sign-in, a stale
sign-in must sign in again to sign off, deep links keep only known parameters.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from taskclf_core.console.read import review
from taskclf_core.console.reports import report
from taskclf_core.paths import Home
from tests.conftest import TEST_CONFIG, SeededHome, write_config
from tests.helpers_app import texts as shown_texts
from tests.test_access_console import (
    HISTORY,
    REVIEW,
    ROLES,
    history_lines,
    open_page,
    team_home,
    user,
)

__all__ = ["team_home"]  # the fixture, shared with test_access_console

TWO = TEST_CONFIG + ROLES + "  required_approvals: 2\n"


def texts(at: Any, kind: str) -> list[str]:
    return shown_texts(getattr(at, kind))


def sign_off(at: Any, prefix: str, verb: str, note: str) -> Any:
    """Fill the note, open the confirmation, return the page with the dialog open."""
    at.text_area(key=f"{prefix}_note").input(note).run()
    at.button(key=f"{prefix}_{verb}").click().run()
    assert not at.exception, at.exception
    return at


@pytest.mark.slow
def test_first_of_two_approvals_reads_as_one_and_both_approvers_are_named(team_home: Path, seeded_home: SeededHome) -> None:
    write_config(team_home, TWO)
    run_id, champion = seeded_home.awaiting, seeded_home.champion
    at = sign_off(open_page(REVIEW, signed_in=user("alice@example.com"), run=run_id), "review", "promote", "looks right")
    assert (
        f"Approval 1 of 2: run {run_id} becomes the champion, replacing {champion} when a second approver signs off."
        in texts(at, "markdown")
    )
    assert any(c.startswith("Rule: access.required_approvals = 2 in configs/retrain.yaml: 2 different approvers")
               for c in texts(at, "caption"))
    at.button(key="review_confirm_promote").click().run()
    assert not at.exception, at.exception
    info = texts(at, "info")
    assert any(i.startswith("Approved by alice@example.com (signed in with OpenID Connect at ") and
               i.endswith("; waiting for a second approver (1 of 2 approvals given).") for i in info), info
    # The first approver's form is disabled with the reason, before anything is confirmed:
    # as alice, and as the same email in another case under another subject.
    for who in (user("alice@example.com"), user("ALICE@EXAMPLE.COM", sub="alice-second-subject")):
        at = open_page(REVIEW, signed_in=who, run=run_id)
        warnings = texts(at, "warning")
        assert any(w.startswith("Promote is disabled: you approved this at ") and
                   w.endswith("(1 of 2 approvals given); a second, different approver must sign off.") for w in warnings), warnings
        assert at.button(key="review_promote").disabled and at.text_area(key="review_note").disabled
    assert history_lines(team_home)[-1]["new_champion"] == champion

    at = sign_off(open_page(REVIEW, signed_in=user("bob@example.com"), run=run_id), "review", "promote", "agreed")
    assert (f"Run {run_id} becomes the champion, replacing {champion} (with the approval of alice@example.com)."
            in texts(at, "markdown"))
    at.button(key="review_confirm_promote").click().run()
    assert not at.exception, at.exception
    assert texts(at, "success")[0].startswith("Promoted by alice@example.com and bob@example.com: ")
    # Review's headline, Status and History name both, with when and how each was authenticated.
    headline = next(m for m in texts(at, "markdown") if m.startswith("Signed off by "))
    assert headline.startswith("Signed off by alice@example.com and bob@example.com on ")
    assert "(alice@example.com: approved at " in headline and "; bob@example.com: approved at " in headline
    assert headline.count("signed in with OpenID Connect at ") == 2 and headline.endswith("; note: agreed.")
    status = open_page(None, signed_in=user("carol@example.com"))
    assert any(c.startswith("Signed off by alice@example.com and bob@example.com on ") for c in texts(status, "caption"))
    assert "by **alice@example.com and bob@example.com**" in " ".join(m.value for m in status.markdown).replace("\\", "")
    html = report.render_report(review.run_review(Home.resolve(team_home), run_id))
    assert "alice@example.com and bob@example.com on " in html and html.count("signed in with OpenID Connect at ") >= 4
    history = open_page(HISTORY, signed_in=user("carol@example.com"))
    changes = history.dataframe[0].value
    assert changes["approver"].iloc[0] == "alice@example.com and bob@example.com"
    assert "(alice@example.com: approved at " in changes["signed off by"].iloc[0]


@pytest.mark.slow
def test_a_rollback_needs_two_approvers_on_the_history_page(team_home: Path, seeded_home: SeededHome) -> None:
    write_config(team_home, TWO)
    from taskclf_core.registry import listing as registry

    registry.promote(Home.resolve(team_home), seeded_home.awaiting, approver="carol", note="newer", auto_promote=False)
    at = open_page(HISTORY, signed_in=user("alice@example.com"))
    assert at.selectbox(key="history_target").value == seeded_home.champion  # the champion just replaced
    at = sign_off(at, "history", "rollback", "the new one misbehaves")
    assert (f"Approval 1 of 2: {seeded_home.champion} becomes the champion again, replacing {seeded_home.awaiting} "
            "when a second approver signs off.") in texts(at, "markdown")
    at.button(key="history_confirm_rollback").click().run()
    assert not at.exception, at.exception
    assert texts(at, "info")[0].startswith(f"Approval 1 of 2 recorded for the rollback to {seeded_home.champion} by alice")
    assert any(w.startswith(f"Pending approval: Rollback to {seeded_home.champion}: 1 of 2 approvals given (alice")
               for w in texts(at, "warning"))
    assert history_lines(team_home)[-1]["new_champion"] == seeded_home.awaiting  # not rolled back yet
    at = open_page(HISTORY, signed_in=user("alice@example.com"))
    assert any(w.startswith("Roll back is disabled: you approved this at ") for w in texts(at, "warning"))
    assert at.button(key="history_rollback").disabled
    at = sign_off(open_page(HISTORY, signed_in=user("bob@example.com")), "history", "rollback", "agreed")
    at.button(key="history_confirm_rollback").click().run()
    assert texts(at, "success")[0].startswith("Rolled back by alice@example.com and bob@example.com: ")
    last = history_lines(team_home)[-1]
    assert (last["action"], last["new_champion"]) == ("rollback", seeded_home.champion)
    assert [a["actor"]["email"] for a in last["approvals"]] == ["alice@example.com", "bob@example.com"]


def test_an_unverified_email_gets_no_role(team_home: Path, seeded_home: SeededHome) -> None:
    at = open_page(REVIEW, signed_in=user("alice@example.com", email_verified=False), run=seeded_home.awaiting)
    errors = texts(at, "error")
    assert errors == [
        "Signed in, but this sign-in cannot be used, so it holds no role: the email 'alice@example.com' is not verified "
        "by the provider (email_verified is False; it must be true): verify it with the provider, then sign in again"
    ]
    assert not at.subheader and not [b for b in at.button if b.key == "review_promote"]
    assert at.button(key="access_sign_out_refused").label == "Sign out"


def test_an_ended_session_lands_on_sign_in(team_home: Path, seeded_home: SeededHome) -> None:
    old = int(time.time()) - 9 * 3600
    at = open_page(REVIEW, signed_in=user("alice@example.com", iat=old, auth_time=old), run=seeded_home.awaiting)
    assert texts(at, "warning")[0].startswith("Your session has ended: your sign-in from ")
    assert texts(at, "warning")[0].endswith("is older than access.session_hours (8 h): sign in again.")
    assert at.button(key="access_sign_in").label == "Sign in" and not at.subheader
    # Sign out: every session of that person ends at its next run (the record is server side).
    at = open_page(REVIEW, signed_in=user("alice@example.com", iat=int(time.time()) - 5), run=seeded_home.awaiting)
    at.sidebar.button(key="access_sign_out").click().run()
    other_tab = open_page(REVIEW, signed_in=user("alice@example.com", iat=int(time.time()) - 5), run=seeded_home.awaiting)
    assert texts(other_tab, "warning")[0].startswith("Your session has ended: you signed out at ")
    assert (team_home / "artifacts" / "sessions" / "signed_out.json").exists()


@pytest.mark.slow
def test_a_stale_sign_in_is_asked_to_sign_in_again_to_sign_off(team_home: Path, seeded_home: SeededHome) -> None:
    write_config(team_home, TEST_CONFIG + ROLES + "  signoff_reauth_minutes: 5\n")
    old = int(time.time()) - 600
    at = open_page(REVIEW, signed_in=user("alice@example.com", iat=old, auth_time=old), run=seeded_home.awaiting)
    at = sign_off(at, "review", "promote", "ship it")
    assert any(w.startswith("sign in again to sign off: a sign-off needs a sign-in at most 5 minute(s) old")
               for w in texts(at, "warning"))
    assert at.button(key="review_reauth").label == "Sign in again"
    assert not [b for b in at.button if b.key == "review_confirm_promote"]


@pytest.mark.slow
def test_lowering_required_approvals_rejudges_a_pending_approval(team_home: Path, seeded_home: SeededHome) -> None:
    write_config(team_home, TWO)
    at = sign_off(open_page(REVIEW, signed_in=user("alice@example.com"), run=seeded_home.awaiting), "review", "promote", "ok")
    at.button(key="review_confirm_promote").click().run()
    write_config(team_home, TEST_CONFIG + ROLES + "  required_approvals: 1\n")
    at = open_page(REVIEW, signed_in=user("alice@example.com"), run=seeded_home.awaiting)
    assert any(c.startswith("Rule: access.required_approvals = 1 in configs/retrain.yaml: one approver") for c in texts(at, "caption"))
    assert any("that meets access.required_approvals = 1 in force now" in i for i in texts(at, "info"))
    assert not at.text_area(key="review_note").disabled
    assert not [w for w in texts(at, "warning") if w.startswith("Promote is disabled")]
    at = sign_off(at, "review", "promote", "completing")
    at.button(key="review_confirm_promote").click().run()
    last = history_lines(team_home)[-1]
    assert last["new_champion"] == seeded_home.awaiting and [a["note"] for a in last["approvals"]] == ["ok"]


def test_deep_links_keep_only_the_known_parameters() -> None:
    from access_frame import deep_link_target

    crafted = "Review%3Frun%3Dabc%26embed%3Dtrue%26embed_options%3Dhide_loading_screen%26run%3Dother%26x%3D1"
    assert deep_link_target(crafted) == ("pages/2_Review.py", {"run": "abc"})
    assert deep_link_target("History%3Foutcome%3Dpromoted%26page%3D2%26tab%3Dgates") == (
        "pages/3_History.py", {"outcome": "promoted", "page": "2", "tab": "gates"}
    )
    assert deep_link_target("Status%3Fembed%3Dtrue") is None  # not a deep-link page
    assert deep_link_target("https%3A%2F%2Fevil.example%2F") is None
    assert deep_link_target("Review%3Frun%3D" + "x" * 300) == ("pages/2_Review.py", {})
