"""Team mode in a real browser: a real ``streamlit run`` with sign-in, a real OIDC provider.

The provider is ``oidc-provider-mock`` (a real OpenID Connect provider, in a thread on
127.0.0.1); the app reads only the secrets file the test writes (``--secrets.files``).
Two servers on copies of the seeded home: ``streamlit run`` with ``required_approvals: 1``,
and ``make serve`` (uvicorn, ``page_frame:secure_app``, as a team deploys it) with 2.
People: Alice and Bob are approvers, Vic (another domain) is a viewer; Alice also signs in
as ``ALICE@EXAMPLE.COM`` and under a second subject (one person, issue 20); Eve's email is
not verified by the provider (no role). Tests of one server run in file order (they share
its registry).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import APP, ROOT, TEST_CONFIG, SeededHome, _free_port, _wait_healthy, wait_idle
from tests.test_e2e import expect, fill

pytestmark = pytest.mark.e2e

PEOPLE = {  # name -> (the provider's subject, email)
    "alice": ("alice-sub", "alice@example.com"),
    "bob": ("bob-sub", "bob@example.com"),
    "vic": ("vic-sub", "vic@elsewhere.net"),
    "alice-upper": ("alice-upper-sub", "ALICE@EXAMPLE.COM"),  # the same person: another case, another subject
    "alice-again": ("alice-second-sub", "alice@example.com"),  # the same email under a second subject
    "eve": ("eve-sub", "eve@example.com"),  # email_verified false
}
UNVERIFIED = {"eve"}
NOTE = "Note (required): why this model should serve"


def access_yaml(required: int) -> str:
    return (
        "access:\n  approvers: [alice@example.com, bob@example.com]\n  operators: ['@example.com']\n"
        f"  required_approvals: {required}\n"
    )


@pytest.fixture(scope="module")
def oidc() -> Iterator[str]:
    """A real OpenID Connect provider on 127.0.0.1 with our three people."""
    import oidc_provider_mock

    users = [
        oidc_provider_mock.User(
            sub=sub, claims={"email": email, "email_verified": name not in UNVERIFIED, "name": name.title()}
        )
        for name, (sub, email) in PEOPLE.items()
    ]
    with oidc_provider_mock.run_server_in_thread(user_claims=users) as server:
        yield f"http://127.0.0.1:{server.server_port}"


@dataclass
class TeamServer:
    base: str
    home: Path
    log: Path

    def history(self) -> list[dict[str, Any]]:
        text = (self.home / "models" / "active_history.jsonl").read_text()
        return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def team_server(
    oidc: str, seeded_home: SeededHome, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., TeamServer]]:
    """Start ``streamlit run app.py`` in team mode on a copy of the seeded home (one per setting)."""
    started: dict[int, TeamServer] = {}
    procs: list[subprocess.Popen[bytes]] = []

    def start(required: int, *, make_serve: bool = False) -> TeamServer:
        if required in started:
            return started[required]
        folder = tmp_path_factory.mktemp(f"team-{required}")
        home = folder / "home"
        shutil.copytree(seeded_home.root, home)
        (home / "configs" / "retrain.yaml").write_text(TEST_CONFIG + access_yaml(required))
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        (folder / ".streamlit").mkdir()
        shutil.copyfile(ROOT / ".streamlit" / "config.toml", folder / ".streamlit" / "config.toml")
        secrets_file = folder / ".streamlit" / "secrets.toml"
        secrets_file.write_text(
            f'[auth]\nredirect_uri = "{base}/oauth2callback"\ncookie_secret = "{secrets.token_hex(32)}"\n'
            f'client_id = "taskclf-test"\nclient_secret = "not-a-secret"\n'
            f'server_metadata_url = "{oidc}/.well-known/openid-configuration"\n'
        )
        log = folder / "server.log"
        env = {**os.environ, "TASKCLF_HOME": str(home), "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
        env.pop("TASKCLF_CALIBRATOR_STORE", None)
        cmd = [
            sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true",
            "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", "--secrets.files", str(secrets_file),
        ]
        if make_serve:  # the install step counted as done
            cmd = ["make", "-s", "-o", ".venv/.installed", "serve", "ADDRESS=127.0.0.1", f"PORT={port}",
                   f"SECRETS={secrets_file}", f"HOME_DIR={home}"]
        with open(log, "wb") as fh:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(proc)
        _wait_healthy(f"{base}/_stcore/health", proc, log)
        started[required] = TeamServer(base, home, log)
        return started[required]

    try:
        yield start
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)  # make serve: make and the server it started
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


@pytest.fixture
def people(browser: Any) -> Iterator[Callable[[], Any]]:
    """New browser contexts (each its own cookies: its own person); closed after the test."""
    contexts: list[Any] = []

    def new_page() -> Any:
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(20_000)
        return page

    yield new_page
    for ctx in contexts:
        ctx.close()


def sign_in_at_provider(page: Any, oidc: str, who: str) -> None:
    """Press "Sign in" on the console and authorize as ``who`` at the provider."""
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{oidc}/oauth2/authorize?*")
    page.get_by_placeholder("sub").fill(PEOPLE[who][0])
    page.get_by_role("button", name="Authorize").click()


def open_review_signed_in(page: Any, server: TeamServer, oidc: str, run_id: str, who: str) -> None:
    """Open ``Review?run=…`` signed out, sign in at the provider, land on that same review."""
    page.goto(f"{server.base}/Review?run={run_id}")
    sign_in_at_provider(page, oidc, who)
    expect(page.get_by_role("heading", name=f"Run {run_id}")).to_be_visible()
    expect(page).to_have_url(re.compile(rf"/Review\?run={run_id}$"))
    page.wait_for_function("() => !document.cookie.includes('taskclf_next=')")  # deep link used up
    expect(page.get_by_test_id("stSidebar").get_by_text("Signed in as")).to_contain_text(PEOPLE[who][1].lower())
    wait_idle(page)


def promote(page: Any, note: str) -> Any:
    """Fill the note, press Promote…, confirm; return the dialog (still open on a refusal)."""
    fill(page, NOTE, note)
    page.get_by_role("button", name="Promote…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Yes, promote").click()
    return dialog


def test_deep_link_survives_sign_in_and_a_viewer_cannot_promote(
    team_server: Callable[..., TeamServer], oidc: str, people: Callable[[], Any], seeded_home: SeededHome
) -> None:
    server = team_server(1)
    page = people()
    page.goto(f"{server.base}/Review?run={seeded_home.awaiting}")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.get_by_text("sign in to continue")).to_be_visible()
    expect(page.get_by_role("heading", name=f"Run {seeded_home.awaiting}")).to_have_count(0)  # nothing shown
    open_review_signed_in(page, server, oidc, seeded_home.awaiting, "vic")
    expect(page.get_by_test_id("stSidebar").get_by_text("Signed in as")).to_contain_text("viewer")
    expect(page.get_by_text("Promote is disabled: approvers only")).to_be_visible()
    expect(page.get_by_role("button", name="Promote…")).to_be_disabled()


def test_an_unverified_email_gets_no_role_and_a_crafted_deep_link_is_harmless(
    team_server: Callable[..., TeamServer], oidc: str, people: Callable[[], Any], seeded_home: SeededHome
) -> None:
    server = team_server(1)
    eve = people()
    eve.goto(server.base)
    sign_in_at_provider(eve, oidc, "eve")
    expect(eve.get_by_text("this sign-in cannot be used, so it holds no role: the email 'eve@example.com' is "
                           "not verified by the provider")).to_be_visible()
    expect(eve.get_by_text("Signed in as")).to_have_count(0)
    expect(eve.get_by_role("heading", name="Champion")).to_have_count(0)  # nothing of Status either
    refusals = [x for x in server.log.read_text().splitlines() if "sign-in refused" in x]
    assert refusals == [
        "sign-in refused: the email 'eve@example.com' is not verified by the provider (email_verified is False; it "
        "must be true): verify it with the provider, then sign in again"
    ]
    # A deep-link cookie carrying Streamlit's embed parameters: only the run survives, Status is intact.
    vic = people()
    crafted = quote(f"Review?run={seeded_home.awaiting}&embed=true&embed_options=hide_loading_screen&x=1", safe="")
    vic.context.add_cookies([{"name": "taskclf_next", "value": crafted, "url": server.base}])
    vic.goto(server.base)
    sign_in_at_provider(vic, oidc, "vic")
    expect(vic.get_by_role("heading", name=f"Run {seeded_home.awaiting}")).to_be_visible()
    expect(vic).to_have_url(re.compile(rf"/Review\?run={seeded_home.awaiting}$"))
    vic.goto(server.base)
    expect(vic.get_by_role("heading", name="Champion")).to_be_visible()
    expect(vic.get_by_test_id("stSidebar").get_by_text("Signed in as")).to_contain_text("vic@elsewhere.net")


def test_sign_out_ends_the_other_tab_and_a_replayed_cookie(
    team_server: Callable[..., TeamServer], oidc: str, people: Callable[[], Any], seeded_home: SeededHome
) -> None:
    server = team_server(1)
    run_id = seeded_home.awaiting
    tab1 = people()
    open_review_signed_in(tab1, server, oidc, run_id, "alice")
    saved = tab1.context.cookies()
    tab2 = tab1.context.new_page()  # the same browser, the same session cookie
    tab2.set_default_timeout(20_000)
    tab2.goto(f"{server.base}/Review?run={run_id}")
    expect(tab2.get_by_role("heading", name=f"Run {run_id}")).to_be_visible()
    wait_idle(tab2)
    fill(tab2, NOTE, "from the second tab")
    tab2.get_by_role("button", name="Promote…").click()
    dialog = tab2.get_by_role("dialog")
    expect(dialog.get_by_role("button", name="Yes, promote")).to_be_visible()

    tab1.get_by_test_id("stSidebar").get_by_role("button", name="Sign out").click()
    tab1.wait_for_url(f"{oidc}/oauth2/end_session?*")
    tab1.get_by_role("button", name="End session").click()
    expect(tab1.get_by_role("button", name="Sign in")).to_be_visible()

    before = server.history()
    dialog.get_by_role("button", name="Yes, promote").click()  # the other tab's next action
    expect(tab2.get_by_text(re.compile("your session has ended: you signed out at ")).first).to_be_visible()
    assert server.history() == before  # nothing promoted

    replay = people()  # another browser with the cookies saved before the sign-out
    replay.context.add_cookies(saved)
    replay.goto(f"{server.base}/Review?run={run_id}")
    expect(replay.get_by_text(re.compile("Your session has ended: you signed out at "))).to_be_visible()
    expect(replay.get_by_role("button", name="Sign in")).to_be_visible()
    expect(replay.get_by_role("heading", name=f"Run {run_id}")).to_have_count(0)


def test_an_approver_signs_off_with_the_providers_identity(
    team_server: Callable[..., TeamServer], oidc: str, people: Callable[[], Any], seeded_home: SeededHome
) -> None:
    server = team_server(1)
    page = people()
    open_review_signed_in(page, server, oidc, seeded_home.awaiting, "alice")
    expect(page.get_by_label("Approver (signed in)")).to_have_value("alice@example.com")  # never typed
    dialog = promote(page, "all gates passed")
    expect(dialog).to_be_hidden()
    expect(page.get_by_text("Promoted by alice@example.com")).to_be_visible()
    last = server.history()[-1]
    assert (last["action"], last["new_champion"], last["approver"]) == ("promote", seeded_home.awaiting, "alice@example.com")
    assert last["actor"]["method"] == "oidc" and last["actor"]["subject"] == "alice-sub"
    assert last["actor"]["issuer"].rstrip("/") == oidc and last["actor"]["email"] == "alice@example.com"
    assert [a["actor"]["subject"] for a in last["approvals"]] == ["alice-sub"]
    how = rf"signed in with OpenID Connect at \d{{4}}-\d\d-\d\d \d\d:\d\d UTC: issuer {re.escape(last['actor']['issuer'])}, subject alice-sub"
    expect(page.get_by_text(re.compile(how)).first).to_be_visible()


def test_two_person_rule_in_the_browser(
    team_server: Callable[..., TeamServer], oidc: str, people: Callable[[], Any], seeded_home: SeededHome,
    tmp_path: Path,
) -> None:
    server = team_server(2, make_serve=True)
    run_id, champion = seeded_home.awaiting, seeded_home.champion
    alice = people()
    open_review_signed_in(alice, server, oidc, run_id, "alice")
    fill(alice, NOTE, "looks good")
    alice.get_by_role("button", name="Promote…").click()
    dialog = alice.get_by_role("dialog")
    expect(dialog).to_contain_text(
        f"Approval 1 of 2: run {run_id} becomes the champion, replacing {champion} when a second approver signs off."
    )
    dialog.get_by_role("button", name="Yes, promote").click()
    expect(dialog).to_be_hidden()
    expect(alice.get_by_text(f"Approval 1 of 2 recorded for run {run_id} by alice@example.com")).to_be_visible()
    expect(alice.get_by_text(re.compile(r"^Approved by alice@example.com .*; waiting for a second approver"))).to_be_visible()
    expect(alice.get_by_text(re.compile(r"^Promote is disabled: you approved this at "))).to_be_visible()
    expect(alice.get_by_role("button", name="Promote…")).to_be_disabled()
    alice.get_by_role("heading", name="Sign-off").scroll_into_view_if_needed()
    alice.screenshot(path=str(tmp_path / "first-approval.png"))
    assert server.history()[-1]["new_champion"] == champion  # not promoted yet

    # The same person under another spelling and subject, or the same email under a second subject: disabled.
    for who in ("alice-upper", "alice-again"):
        same = people()
        open_review_signed_in(same, server, oidc, run_id, who)
        expect(same.get_by_text(re.compile(r"^Promote is disabled: you approved this at "))).to_be_visible()
        expect(same.get_by_role("button", name="Promote…")).to_be_disabled()

    bob = people()
    open_review_signed_in(bob, server, oidc, run_id, "bob")
    expect(bob.get_by_text(f"Run {run_id}: 1 of 2 approvals given (alice@example.com").first).to_be_visible()
    dialog = promote(bob, "agreed")
    expect(dialog).to_be_hidden()
    expect(bob.get_by_text("Promoted by alice@example.com and bob@example.com")).to_be_visible()
    last = server.history()[-1]
    assert (last["new_champion"], last["actor"]["subject"]) == (run_id, "bob-sub")
    assert [(a["actor"]["subject"], a["note"]) for a in last["approvals"]] == [("alice-sub", "looks good"), ("bob-sub", "agreed")]
    expect(bob.get_by_text(re.compile(r"^Signed off by alice@example.com and bob@example.com on .*approved at")).first).to_be_visible()

    # A rollback needs two approvers too: Bob first on History (the default is the champion just replaced).
    bob.goto(f"{server.base}/History")
    picker = bob.get_by_role("combobox", name="Make this promoted model the champion again")
    expect(picker).to_have_value(re.compile(rf"^{champion} · champion .* · macro-F1 0\.\d{{4}} · left: replaced by the promotion of {run_id}$"))
    fill(bob, "Note (required): why roll back", "worse on Meet")
    bob.get_by_role("button", name="Roll back…").click()
    dialog = bob.get_by_role("dialog")
    expect(dialog).to_contain_text(
        f"Approval 1 of 2: {champion} becomes the champion again, replacing {run_id} when a second approver signs off."
    )
    dialog.get_by_role("button", name="Yes, roll back").click()
    expect(dialog).to_be_hidden()
    expect(bob.get_by_text(re.compile(r"^Roll back is disabled: you approved this at "))).to_be_visible()
    expect(bob.get_by_role("button", name="Roll back…")).to_be_disabled()
    assert server.history()[-1]["new_champion"] == run_id  # pending
    alice.goto(f"{server.base}/History")
    expect(alice.get_by_text(re.compile(rf"^Pending approval: Rollback to {champion}: 1 of 2 approvals given \(bob")).first).to_be_visible()
    fill(alice, "Note (required): why roll back", "confirmed")
    alice.get_by_role("button", name="Roll back…").click()
    alice.get_by_role("dialog").get_by_role("button", name="Yes, roll back").click()
    expect(alice.get_by_text("Rolled back by bob@example.com and alice@example.com")).to_be_visible()
    last = server.history()[-1]
    assert (last["action"], last["new_champion"]) == ("rollback", champion)
    assert [a["actor"]["subject"] for a in last["approvals"]] == ["bob-sub", "alice-sub"]
    # Both names on History, Status and Review.
    both = "bob@example.com and alice@example.com"
    expect(alice.get_by_test_id("stDataFrame").first).to_contain_text(both)
    alice.screenshot(path=str(tmp_path / "history.png"), full_page=True)
    alice.goto(server.base)
    expect(alice.get_by_text(re.compile(rf"^Signed off by {both} on .*approved at"))).to_be_visible()
    alice.goto(f"{server.base}/Review?run={champion}")
    expect(alice.get_by_text(re.compile(rf"^Made champion again by a rollback signed off by {both} on "))).to_be_visible()
    alice.screenshot(path=str(tmp_path / "review.png"), full_page=True)
