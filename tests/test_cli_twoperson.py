"""Issues 20 item 2 and 21 items 1 and 3 through the CLI, on real homes (tiny real bundles).

In a team home (a config with ``access:``) the CLI records the OS user and counts as one
approval per OS user whatever ``--approver`` says: it can never complete a change needing
two approvals alone, and says so. The second approval comes from the app (a signed-in
person, through the same service call the pages make). Exact output and exit codes.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from helpers_registry import champion_of, make_run, promoted_run
from typer.testing import CliRunner

from taskclf_core.access.identity import Identity, oidc_identity, os_user
from taskclf_core.console.cli import app
from taskclf_core.console.service import promote_run, rollback_model
from taskclf_core.paths import Home
from tests.conftest import write_config

runner = CliRunner()
TEAM = "access:\n  approvers: [alice@example.com, bob@example.com]\n  required_approvals: 2\n"
ME = os_user()


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


def signed_in(email: str) -> Identity:
    identity = oidc_identity({"is_logged_in": True, "iss": "http://idp", "sub": f"sub-{email}", "email": email,
                              "email_verified": True, "iat": int(time.time())})
    assert identity is not None
    return identity


def history(home: Home) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (home.models_dir / "active_history.jsonl").read_text().splitlines() if x]


@pytest.fixture
def home(home: Home) -> Home:
    """The suite's empty home with the two-person rule configured."""
    write_config(home.root, TEAM)
    return home


def test_cli_rollback_needs_two_approvers_and_one_os_user_is_one(home: Home) -> None:
    old = promoted_run(home)
    current = promoted_run(home, note="second")
    first = cli("train", "rollback", old, "--approver", "x", "--note", "worse on Meet", "--expect-champion", current)
    assert first.exit_code == 0, first.stderr
    assert first.stdout.startswith(
        f"Approval 1 of 2 recorded for the rollback to {old} by x (cli, OS user {ME}, approver as typed) at "
    )
    assert first.stdout.endswith(
        "; 1 more from a different approver completes the rollback (an unauthenticated sign-off counts once per OS "
        f"user whatever approver name is given: this one counts as OS user {ME}; another OS user, or an approver "
        "signed in on the console, must give the next one).\n"
    )
    assert history(home)[-1]["new_champion"] == current  # pending, nothing rolled back
    for name in ("ｘ", "X", "y"):  # a look-alike, another case, another name: the same OS user
        again = cli("train", "rollback", old, "--approver", name, "--note", "again")
        assert again.exit_code == 2 and again.stdout == ""
        assert again.stderr.startswith(f"error: {name} already approved the rollback to {old} (as x at ")
        assert again.stderr.rstrip().endswith("the same person cannot approve twice: 2 different approvers must sign off")
    assert history(home)[-1]["new_champion"] == current
    as_json = cli("train", "rollback", old, "--approver", "z", "--note", "n", "--json")
    assert (as_json.exit_code, as_json.stdout, len(as_json.stderr.splitlines())) == (2, "", 1)

    # The second approver signs in on the console (the History page's call): the rollback happens.
    entry = rollback_model(home, old, approver="", note="agreed", actor=signed_in("bob@example.com"))
    assert getattr(entry, "new_champion", None) == old
    last = history(home)[-1]
    assert [(a["actor"]["name"], a["actor"]["method"]) for a in last["approvals"]] == [("x", "cli"), ("bob@example.com", "oidc")]
    # `train history` and `train runs` name both approvers, when and how each was authenticated.
    rows = json.loads(cli("train", "history", "--json").stdout)
    signed = rows[0]["signed_off_by"]
    assert signed.startswith("x and bob@example.com on ") and "(x: approved at " in signed
    assert f", cli, OS user {ME}, approver as typed; bob@example.com: approved at " in signed
    assert signed.endswith(", signed in with OpenID Connect at " + signed.rsplit("OpenID Connect at ", 1)[1])
    table = cli("train", "history").stdout
    assert "signed_off_by" in table and "bob@example.com: approved at" in table
    runs = {r["run_id"]: r for r in json.loads(cli("train", "runs", "--json").stdout)}
    assert runs[old]["history"].startswith("Signed off by alice on ")
    assert "Made champion again by a rollback signed off by x and bob@example.com on " in runs[old]["history"]
    assert f"Rolled back (champion again: {old}), signed off by x and bob@example.com on " in runs[current]["history"]


def test_cli_promote_x_then_fullwidth_x_stays_pending(home: Home) -> None:
    promoted_run(home)
    champion = champion_of(home)
    run_id = make_run(home, champion=champion)
    assert cli("train", "promote", run_id, "--approver", "x", "--note", "ok").exit_code == 0
    again = cli("train", "promote", run_id, "--approver", "ｘ", "--note", "ok")
    assert again.exit_code == 2
    assert again.stderr.startswith(f"error: ｘ already approved run {run_id} (as x at ")
    assert champion is not None and history(home)[-1]["new_champion"] == champion.run_id
    pending = json.loads((home.models_dir / "pending_approvals.json").read_text())
    assert [a["actor"]["name"] for a in pending["runs"][run_id]] == ["x"]


def test_browser_and_cli_by_the_same_person_stay_pending(home: Home) -> None:
    write_config(home.root, TEAM + f"  cli_users: {{{ME}: Alice@Example.com}}\n")
    promoted_run(home)
    run_id = make_run(home, champion=champion_of(home))
    alice = signed_in("alice@example.com")
    first = promote_run(home, run_id, approver="", note="from the browser", actor=alice)
    assert getattr(first, "subject", None) == run_id  # pending
    cli_try = cli("train", "promote", run_id, "--approver", "whoever", "--note", "from the terminal")
    assert cli_try.exit_code == 2
    assert cli_try.stderr.startswith(f"error: whoever already approved run {run_id} (as alice@example.com at ")
    # The other way round: the CLI first (as Alice, by the mapping), then Alice in the browser.
    second = make_run(home, champion=champion_of(home))
    ok = cli("train", "promote", second, "--approver", "al", "--note", "terminal")
    assert ok.exit_code == 0 and "this one counts as the person alice@example.com" in ok.stdout
    with pytest.raises(Exception, match=rf"^alice@example.com already approved run {second} \(as al at "):
        promote_run(home, second, approver="", note="browser", actor=alice)
    pending = json.loads((home.models_dir / "pending_approvals.json").read_text())
    assert {k: len(v) for k, v in pending["runs"].items()} == {run_id: 1, second: 1}


def test_a_config_needing_more_approvers_than_listed_is_refused_in_one_line(home: Home) -> None:
    write_config(home.root, "access:\n  approvers: [alice@example.com]\n  required_approvals: 2\n")
    promoted_run(home)
    run_id = make_run(home, champion=champion_of(home))
    result = cli("train", "promote", run_id, "--approver", "x", "--note", "ok")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (
        f"error: {home.config_path}: access.required_approvals: 2 is more than the 1 approver(s) listed in "
        "access.approvers (alice@example.com), so no promotion could ever complete; allowed: at most 1 (or list more "
        "approvers; a @domain pattern counts as many)\n"
    )
