"""The real server in headless Chromium: retrain → review → sign-off → Status; share by URL."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import E2EServer, screenshot, wait_idle

pytestmark = pytest.mark.e2e


def expect(target: Any) -> Any:
    """Playwright's ``expect`` with a 20 s timeout (a page's script run can take seconds on a busy machine)."""
    from playwright.sync_api import expect as pw_expect

    pw_expect.set_options(timeout=20_000)
    return pw_expect(target)


#: On a direct load of a page URL (``/Review?run=…``) Streamlit's frontend first probes
#: ``/<page>/_stcore/health`` and ``host-config`` to find its base path, then uses ``/``.
BASE_PATH_PROBE = re.compile(r"/[^/?]+/_stcore/(health|host-config)$")
NOT_FOUND_CONSOLE = "Failed to load resource: the server responded with a status of 404 (Not Found)"


def console_errors(page: Any) -> list[str]:
    """Collect console errors, uncaught page errors and failed requests from now on."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"page: {e}"))
    page.on("response", lambda r: errors.append(f"http {r.status}: {r.url}") if r.status >= 400 else None)
    return errors


def real_errors(errors: list[str]) -> list[str]:
    """The errors minus Streamlit's base-path probes (each a 404 plus its console line)."""
    probes = [e for e in errors if e.startswith("http 404: ") and BASE_PATH_PROBE.search(e)]
    rest = [e for e in errors if e not in probes]
    for _ in probes:
        if f"console: {NOT_FOUND_CONSOLE}" in rest:
            rest.remove(f"console: {NOT_FOUND_CONSOLE}")
    return rest


def fill(page: Any, label: str, value: str) -> None:
    field = page.get_by_label(label, exact=True)
    field.fill(value)
    field.press("Tab")
    wait_idle(page)


def test_retrain_review_signoff_and_new_champion_on_status(e2e_server: E2EServer, page: Any, screenshots: Path) -> None:
    errors = console_errors(page)
    page.goto(e2e_server.base)
    expect(page.get_by_role("heading", name="Status")).to_be_visible()
    expect(page.get_by_text("Retrain due: no promoted model exists yet.")).to_be_visible()

    page.get_by_test_id("stSidebar").get_by_role("link", name="Retrain").click()
    expect(page.get_by_role("heading", name="Retrain", exact=True)).to_be_visible()
    wait_idle(page)
    fill(page, "Days", "14")
    fill(page, "Seed", str(e2e_server.seeded.seed))
    page.get_by_text("Force (skip the cadence check)").click()
    wait_idle(page)
    page.get_by_role("button", name="Start retrain").click()
    expect(page.get_by_text(re.compile(r"Stage: \w+"))).to_be_visible()
    link = page.get_by_role("link", name=re.compile("Open the review of run"))
    expect(link).to_be_visible(timeout=120_000)
    expect(page.get_by_text(re.compile(r"^Retrain job \S+ finished producing run \S+: awaiting_signoff\."))).to_be_visible()
    expect(page.get_by_text("Ran on the local engine.")).to_be_visible()
    screenshot(page, screenshots / "retrain.png")
    match = re.search(r"run (\S+)$", link.inner_text().strip())
    assert match, link.inner_text()
    run_id = match.group(1)

    wait_idle(page)
    link.click()
    expect(page).to_have_url(re.compile(rf"/Review\?run={run_id}$"))
    expect(page.get_by_role("heading", name=f"Run {run_id}")).to_be_visible()
    charts = page.get_by_test_id("stVegaLiteChart")
    expect(charts).to_have_count(5)  # no champion yet: no bootstrap interval; the "as served" reliability chart
    for i in range(5):
        charts.nth(i).scroll_into_view_if_needed()
        expect(charts.nth(i).locator("canvas, svg").first).to_be_visible()
    expect(page.get_by_test_id("stTable")).to_contain_text("baseline_improvement")
    expect(page.get_by_test_id("stTable")).to_contain_text("skipped: no champion")
    screenshot(page, screenshots / "review.png")

    fill(page, "Approver (required)", "e2e-erin")
    fill(page, "Note (required): why this model should serve", "first champion, every gate passed")
    page.get_by_role("button", name="Promote…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Promote this run?")
    dialog.get_by_role("button", name="Yes, promote").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_text("is now the champion")).to_be_visible()
    wait_idle(page)
    # Issue 12 item 2: the badge and the reason line now tell the effective state.
    expect(page.get_by_text("signed off · champion", exact=True)).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Signed off by e2e-erin on "))).to_be_visible()
    expect(page.get_by_label("Approver (required)", exact=True)).to_have_value("")  # item 4
    screenshot(page, screenshots / "review-after-signoff.png")

    page.get_by_role("link", name="See the new champion on Status").click()
    expect(page.get_by_role("heading", name="Status")).to_be_visible()
    champion = page.get_by_test_id("stMarkdownContainer").filter(has_text="Champion run")
    expect(champion).to_contain_text(run_id)
    expect(champion).to_contain_text("promoted (signed off) by e2e-erin")
    expect(page.get_by_text(re.compile("^Retrain not due until"))).to_be_visible()
    screenshot(page, screenshots / "status.png")

    page.goto(f"{e2e_server.base}/History")
    expect(page.get_by_role("heading", name="Champion history")).to_be_visible()
    screenshot(page, screenshots / "history.png")
    assert real_errors(errors) == [], "\n".join(errors)


def test_review_opened_by_url_downloads_the_report_and_a_png(e2e_server: E2EServer, page: Any) -> None:
    errors = console_errors(page)
    run_id = e2e_server.seeded.rejected
    page.goto(f"{e2e_server.base}/Review?run={run_id}")
    expect(page.get_by_role("heading", name=f"Run {run_id}")).to_be_visible()
    expect(page.get_by_text(re.compile("^Promote is disabled: run .* was rejected by gate"))).to_be_visible()
    expect(page.get_by_role("button", name="Promote…")).to_be_disabled()

    with page.expect_download() as report_download:
        page.get_by_test_id("stDownloadButton").filter(has_text="Download the whole review").click()
    assert report_download.value.suggested_filename == f"taskclf-review-{run_id}.html"
    html = Path(report_download.value.path()).read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and run_id in html and html.count("<svg") >= 4

    with page.expect_download() as png_download:
        page.get_by_test_id("stDownloadButton").filter(has_text="PNG").first.click()
    assert png_download.value.suggested_filename == f"{run_id}-metrics.png"
    assert Path(png_download.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert real_errors(errors) == [], "\n".join(errors)


#: Every chart element present is drawn, and no chart placeholder is still waiting for its code.
ALL_CHARTS_DRAWN = """() => { const c = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')];
  const waiting = document.querySelectorAll('[data-testid="stSkeleton"]').length;
  return c.length >= 5 && !waiting && c.every(e => { const d = e.querySelector('canvas, svg');
    return d && d.getBoundingClientRect().width > 0; }); }"""

#: Each chart on Review as drawn, beside the column it sits in (widths and right edges in px).
CHART_FIT_JS = """() => [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')].map(chart => {
    const column = chart.closest('[data-testid="stVerticalBlock"]').getBoundingClientRect();
    const drawn = [chart, ...chart.querySelectorAll('canvas, svg')].map(e => e.getBoundingClientRect());
    return {title: chart.getAttribute('aria-label') || '', column: column.width, columnRight: column.right,
            width: Math.max(chart.scrollWidth, ...drawn.map(r => r.width)), right: Math.max(...drawn.map(r => r.right))};
})"""


def test_every_review_chart_fits_its_column_at_1280_and_share_gives_the_full_link(
    e2e_server: E2EServer, page: Any, tmp_path: Path
) -> None:
    """Issue 21 items 7 and 13: the three-panel confusion matrix overflowed the column at 1280 px;
    Share gave a relative link without a copy button."""
    run_id = e2e_server.seeded.awaiting  # evaluated against a champion: all five charts, three confusion panels
    assert page.viewport_size == {"width": 1280, "height": 900}
    page.goto(f"{e2e_server.base}/Review?run={run_id}")
    expect(page.get_by_role("heading", name=f"Run {run_id}")).to_be_visible()
    charts = page.get_by_test_id("stVegaLiteChart")
    last = page.get_by_test_id("stDownloadButton").filter(has_text="Download the whole review")
    last.scroll_into_view_if_needed()  # the page's last element: every element has arrived
    wait_idle(page)
    page.wait_for_function(ALL_CHARTS_DRAWN)  # the Vega charts mount once their code has loaded
    count = charts.count()
    assert count >= 5, count  # the five of the comparison, and any other section's (as served)
    for i in range(count):
        charts.nth(i).scroll_into_view_if_needed()
        expect(charts.nth(i).locator("canvas, svg").first).to_be_visible()
    page.wait_for_timeout(500)  # the last chart finishes its layout
    fits = page.evaluate(CHART_FIT_JS)
    assert len(fits) == count
    for i, fit in enumerate(fits):
        assert fit["width"] <= fit["column"] + 1 and fit["right"] <= fit["columnRight"] + 1, (i, fit)
    confusion = charts.filter(has=page.get_by_text("Confusion matrices", exact=False))
    target = confusion.first if confusion.count() else charts.nth(count - 3)
    target.scroll_into_view_if_needed()  # the confusion matrices, baseline's last column and legend in view
    target.screenshot(path=str(tmp_path / "confusion-1280.png"))

    share = page.get_by_test_id("stCode").filter(has_text="Review?run=")
    expect(share).to_have_text(f"{e2e_server.base}/Review?run={run_id}")
    share.hover()
    expect(share.get_by_role("button", name="Copy to clipboard")).to_have_count(1)


def test_unknown_run_in_the_url_shows_a_message(e2e_server: E2EServer, page: Any) -> None:
    page.goto(f"{e2e_server.base}/Review?run=..%2F..%2Fetc%2Fpasswd")
    expect(page.get_by_text(re.compile("^Cannot show this review: invalid run id"))).to_be_visible()


# ----------------------------------------------------------------------------- issue 12 / 11 on a real server


def _second_champion(server: E2EServer) -> tuple[str, str]:
    """Retrain on the same data and sign it off (in this process): ``(former champion, new champion)``."""
    from taskclf_core.console.service import run_retrain
    from taskclf_core.paths import Home
    from taskclf_core.registry import listing as registry
    from tests.conftest import synthetic_request

    home = Home.resolve(server.home)
    before = registry.inspect_active(home).pointer
    assert before is not None, "runs after the sign-off test, which makes the first champion"
    # The same data as the Retrain page's default (schema included), so the regression gate passes.
    from taskclf_core.console.request import DEFAULT_SYNTHETIC_SCHEMA

    result = run_retrain(home, synthetic_request(server.seeded.seed, schema_version=DEFAULT_SYNTHETIC_SCHEMA))
    assert result.outcome == "awaiting_signoff", result.reason
    registry.promote(home, result.run_id, approver="e2e-frank", note="second champion", auto_promote=False)
    return before.model_id, result.run_id


def test_signed_off_review_bootstrap_chart_and_rollback_form(e2e_server: E2EServer, page: Any, screenshots: Path) -> None:
    """Issue 12 items 1, 2, 4 and 11 in Chromium."""
    errors = console_errors(page)
    first, second = _second_champion(e2e_server)

    # Item 2: the signed-off run reads as signed off, by whom, when, with the note.
    page.goto(f"{e2e_server.base}/Review?run={first}")
    expect(page.get_by_role("heading", name=f"Run {first}")).to_be_visible()
    expect(page.get_by_text("signed off · superseded", exact=True)).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Signed off by e2e-erin on .*; note: first champion, every gate passed\.$"))).to_be_visible()
    expect(page.get_by_text(re.compile(rf"^Superseded on .* by {second} \(signed off by e2e-frank\)\.$"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Recorded outcome when the run finished \(evidence\): awaiting_signoff\."))).to_be_visible()
    screenshot(page, screenshots / "review-signed-off.png")
    with page.expect_download() as report_download:
        page.get_by_test_id("stDownloadButton").filter(has_text="Download the whole review").click()
    html = Path(report_download.value.path()).read_text(encoding="utf-8")
    assert '<span class="outcome promoted">signed off · superseded</span>' in html and "Signed off by e2e-erin" in html

    # Item 1: the bootstrap chart has a real height in the page, and the interval in words.
    page.goto(f"{e2e_server.base}/Review?run={second}")
    expect(page.get_by_role("heading", name=f"Run {second}")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Macro-F1 difference \(challenger - champion\) .* bootstrap interval \["))).to_be_visible()
    charts = page.get_by_test_id("stVegaLiteChart")
    expect(charts).to_have_count(7)  # "as served" reliability, each person, then metrics, per class, confusion, bootstrap, per user
    boot = charts.nth(5)
    boot.scroll_into_view_if_needed()
    expect(boot.locator("canvas, svg").first).to_be_visible()
    box = boot.locator("canvas, svg").first.bounding_box()  # plot, axes and title as drawn
    assert box is not None and box["height"] >= 180, box
    boot.hover()  # item 16: no second (Streamlit's own) PNG button on the chart
    expect(page.get_by_role("button", name="Download as PNG")).to_have_count(0)
    screenshot(page, screenshots / "review-bootstrap.png", target=boot)

    # Items 11 and 4: the rollback form validates before the dialog and is empty afterwards.
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{e2e_server.base}/History")
    expect(page.get_by_role("heading", name="Roll back")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile(r"^Runs \(.*2 promoted"))).to_be_visible()
    rollback = page.get_by_role("button", name="Roll back…")
    expect(rollback).to_be_disabled()
    expect(page.get_by_text(re.compile("Fill in an approver and a note first"))).to_be_visible()
    fill(page, "Approver (required)", "e2e-gina")
    fill(page, "Note (required): why roll back", "the second one misbehaves")
    expect(rollback).to_be_enabled()
    rollback.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Roll back the champion?")
    expect(dialog).to_contain_text("e2e-gina")
    expect(dialog.get_by_role("button", name="Yes, roll back")).to_be_enabled()
    dialog.get_by_role("button", name="Yes, roll back").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_text(re.compile(f"Rolled back by e2e-gina: {first} is the champion again"))).to_be_visible()
    wait_idle(page)
    expect(page.get_by_label("Approver (required)", exact=True)).to_have_value("")
    expect(page.get_by_label("Note (required): why roll back", exact=True)).to_have_value("")
    expect(page.get_by_role("button", name="Roll back…")).to_be_disabled()
    # Issue 21 item 5: a model just rolled back from is never the default target.
    expect(page.get_by_role("combobox", name="Make this promoted model the champion again")).to_have_value("")
    expect(page.get_by_text("none is suggested: the only candidates were rolled back from")).to_be_visible()
    # Item 16: the champion-history table fits the page at 1400 px.
    table = page.get_by_test_id("stDataFrame").first
    main = page.get_by_test_id("stMainBlockContainer")
    table_box, main_box = table.bounding_box(), main.bounding_box()
    assert table_box and main_box and table_box["x"] + table_box["width"] <= main_box["x"] + main_box["width"] + 1
    screenshot(page, screenshots / "history-rollback.png")
    assert real_errors(errors) == [], "\n".join(errors)


@pytest.fixture(scope="module")
def fresh_secure_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The app served as ``uvicorn --factory page_frame:secure_app`` on an empty home."""
    import os
    import sys

    from tests.conftest import APP, _free_port, served

    home = tmp_path_factory.mktemp("fresh-home")
    log = tmp_path_factory.mktemp("uvicorn-log") / "server.log"
    port = _free_port()
    env = {**os.environ, "TASKCLF_HOME": str(home), "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    env.pop("TASKCLF_CALIBRATOR_STORE", None)
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "page_frame:secure_app", "--host", "127.0.0.1", "--port", str(port)]
    with served(cmd, cwd=APP.parent, env=env, port=port, log=log) as base:
        yield base, home


def test_fresh_home_status_and_no_framing(fresh_secure_server: Any, page: Any, screenshots: Path) -> None:
    """Issue 12 item 7 (Status caption) and issue 11 item 12 (framing refused) on the secure server."""
    import urllib.request

    base, home = fresh_secure_server
    for path in ("/", "/Review", "/_stcore/health"):
        with urllib.request.urlopen(base + path) as response:
            assert response.headers["X-Frame-Options"] == "DENY"
            assert response.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    errors = console_errors(page)
    page.goto(base)
    expect(page.get_by_role("heading", name="Status")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^No configuration file at .*: the reference defaults are in use"))).to_be_visible()
    expect(page.get_by_text("Retrain due: no promoted model exists yet.")).to_be_visible()
    link = page.get_by_role("link", name="Start a retrain on the Retrain page")
    expect(link).to_be_visible()
    screenshot(page, screenshots / "status-fresh-home.png")
    link.click()
    expect(page.get_by_role("heading", name="Retrain", exact=True)).to_be_visible()
    assert not any(home.iterdir())  # reading a fresh home writes nothing
    assert real_errors(errors) == [], "\n".join(errors)
    # A page of another origin that frames the app gets nothing rendered inside the frame.
    framed = page.context.new_page()
    framed.set_content(f'<iframe id="f" src="{base}/" width="800" height="600"></iframe>')
    framed.wait_for_timeout(2000)
    frame = framed.frame_locator("#f")
    expect(frame.get_by_role("heading", name="Status")).to_have_count(0)
