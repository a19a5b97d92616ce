"""The real server in headless Chromium: retrain → review → sign-off → Status; share by URL."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SCREENSHOTS, E2EServer

pytestmark = pytest.mark.e2e


def expect(target: Any) -> Any:
    """Playwright's ``expect`` with a 20 s timeout (a page's script run can take seconds on a busy machine)."""
    from playwright.sync_api import expect as pw_expect

    pw_expect.set_options(timeout=20_000)
    return pw_expect(target)


def wait_idle(page: Any) -> None:
    """Wait until Streamlit has finished the current script run."""
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for()


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


def screenshot(page: Any, name: str) -> None:
    """Save the whole page: Streamlit scrolls inside its main block, so grow the viewport first."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    wait_idle(page)
    size = page.viewport_size
    height = page.evaluate(
        "() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
        " return m ? m.scrollHeight : document.body.scrollHeight; }"
    )
    page.set_viewport_size({"width": size["width"], "height": min(max(int(height) + 40, size["height"]), 9000)})
    page.wait_for_timeout(800)  # let the charts finish drawing at the new size
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)
    page.set_viewport_size(size)


def fill(page: Any, label: str, value: str) -> None:
    field = page.get_by_label(label, exact=True)
    field.fill(value)
    field.press("Tab")
    wait_idle(page)


def test_retrain_review_signoff_and_new_champion_on_status(e2e_server: E2EServer, page: Any) -> None:
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
    expect(page.get_by_text("Retrain finished: awaiting_signoff.")).to_be_visible()
    screenshot(page, "retrain.png")
    match = re.search(r"run (\S+)$", link.inner_text().strip())
    assert match, link.inner_text()
    run_id = match.group(1)

    wait_idle(page)
    link.click()
    expect(page).to_have_url(re.compile(rf"/Review\?run={run_id}$"))
    expect(page.get_by_role("heading", name=f"Run {run_id}")).to_be_visible()
    charts = page.get_by_test_id("stVegaLiteChart")
    expect(charts).to_have_count(4)  # no champion yet: no bootstrap interval
    for i in range(4):
        charts.nth(i).scroll_into_view_if_needed()
        expect(charts.nth(i).locator("canvas, svg").first).to_be_visible()
    expect(page.get_by_test_id("stTable")).to_contain_text("baseline_improvement")
    expect(page.get_by_test_id("stTable")).to_contain_text("skipped: no champion")
    screenshot(page, "review.png")

    fill(page, "Approver (required)", "e2e-erin")
    fill(page, "Note (required): why this model should serve", "first champion, every gate passed")
    page.get_by_role("button", name="Promote…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Promote this run?")
    dialog.get_by_role("button", name="Yes, promote").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_text("is now the champion")).to_be_visible()
    wait_idle(page)

    page.get_by_role("link", name="See the new champion on Status").click()
    expect(page.get_by_role("heading", name="Status")).to_be_visible()
    champion = page.get_by_test_id("stMarkdownContainer").filter(has_text="Champion run")
    expect(champion).to_contain_text(run_id)
    expect(champion).to_contain_text("promoted (signed off) by e2e-erin")
    expect(page.get_by_text(re.compile("^Retrain not due until"))).to_be_visible()
    screenshot(page, "status.png")

    page.goto(f"{e2e_server.base}/History")
    expect(page.get_by_role("heading", name="Champion history")).to_be_visible()
    screenshot(page, "history.png")
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


def test_unknown_run_in_the_url_shows_a_message(e2e_server: E2EServer, page: Any) -> None:
    page.goto(f"{e2e_server.base}/Review?run=..%2F..%2Fetc%2Fpasswd")
    expect(page.get_by_text(re.compile("^Cannot show this review: invalid run id"))).to_be_visible()
