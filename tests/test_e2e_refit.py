"""In the browser: a calibrator refit started on the Retrain page, reviewed (reliability chart) and signed off.

The home is a copy of taskclf's ``policy-temperature`` deployment (model A served through
``inference_policy.json`` with a temperature store) with taskclf's real data in
``data/processed``. The team's gate thresholds are set for that small sample (2 people,
3 days); the refit's own gates are the product's (served macro-F1, ECE, Brier vs raw).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import APP, ROOT, _free_port, screenshot, served, wait_idle
from tests.helpers_upstream import A, sample_config, upstream_home
from tests.test_e2e import console_errors, expect, real_errors

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def refit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    home = upstream_home(tmp_path_factory.mktemp("refit") / "home", config=sample_config(num_boost_round=None),
                         with_data=True)
    port = _free_port()
    env = {**os.environ, "TASKCLF_HOME": str(home), "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", "OMP_NUM_THREADS": "1"}
    env.pop("TASKCLF_CALIBRATOR_STORE", None)
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    with served(cmd, cwd=ROOT, env=env, port=port, log=home.parent / "server.log") as base:
        yield base, home


def test_a_calibrator_refit_is_started_reviewed_and_signed_off(
    refit_server: tuple[str, Path], page: Any, tmp_path: Path, screenshots: Path,
) -> None:
    base, home = refit_server
    errors = console_errors(page)
    page.goto(f"{base}/Retrain")
    expect(page.get_by_role("heading", name="Retrain", exact=True)).to_be_visible()
    wait_idle(page)
    page.get_by_text("Refit the champion's calibrator").click()
    wait_idle(page)
    expect(page.get_by_text(re.compile(r"^The calibrator refit is not due"))).to_be_visible()
    for end, day in (("start", "09"), ("end", "11")):  # the date field's segments (spin buttons)
        for part, value in (("year", "2025"), ("month", "09"), ("day", day)):
            segment = page.get_by_role("spinbutton", name=f"{part}, Date range (UTC) {end} date")
            segment.click()
            page.keyboard.type(value)
    page.keyboard.press("Tab")
    wait_idle(page)
    page.get_by_text("Force (skip the cadence check)").click()
    wait_idle(page)
    page.get_by_role("button", name="Start calibrator refit").click()
    link = page.get_by_role("link", name=re.compile("Open the review of run"))
    expect(link).to_be_visible(timeout=120_000)
    expect(page.get_by_text(re.compile(r"^Calibrator refit job \S+ finished producing run \S+: awaiting_signoff\."))).to_be_visible()
    screenshot(page, screenshots / "refit-job.png")
    run_id = re.search(r"run (\S+)$", link.inner_text().strip()).group(1)  # type: ignore[union-attr]

    link.click()
    expect(page.get_by_role("heading", name=f"Calibrator refit {run_id}")).to_be_visible()
    expect(page.get_by_role("heading", name="As taskclf will serve it")).to_be_visible()
    reliability = page.get_by_test_id("stVegaLiteChart").first  # the section's one chart, before the others
    reliability.scroll_into_view_if_needed()
    expect(reliability.locator("canvas, svg").first).to_be_visible()
    expect(page.get_by_test_id("stTable")).to_contain_text("brier_improvement")
    screenshot(page, screenshots / "refit-review.png")

    page.get_by_label("Approver (required)", exact=True).fill("e2e-rita")
    page.get_by_label("Approver (required)", exact=True).press("Tab")
    note = page.get_by_label(re.compile(r"^Note \(required\)"))
    note.fill("refit on the latest labelled days")
    note.press("Tab")
    wait_idle(page)
    page.get_by_role("button", name="Promote…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Refit {run_id} is applied")
    dialog.get_by_role("button", name="Yes, promote").click()
    expect(dialog).to_be_hidden()
    wait_idle(page)
    expect(page.get_by_text("refit applied", exact=False).first).to_be_visible()
    screenshot(page, screenshots / "refit-signed-off.png")

    policy = json.loads((home / "models" / "inference_policy.json").read_text())
    assert policy["model_dir"] == f"models/{A}"
    assert policy["calibrator_store_dir"] == f"artifacts/calibrator_stores/{run_id}"
    store = json.loads((home / policy["calibrator_store_dir"] / "store.json").read_text())
    assert store["model_bundle_id"] == A
    last = json.loads((home / "models" / "active_history.jsonl").read_text().splitlines()[-1])
    assert (last["action"], last["run_id"], last["approver"]) == ("recalibrate", run_id, "e2e-rita")
    assert real_errors(errors) == [], "\n".join(errors)
