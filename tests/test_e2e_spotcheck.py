"""In the browser: Promote stays disabled until the three people of the spot check are ticked;
the history entry and the report name the three.

The home's config keeps the product's default (``gates.spot_check_users: 3``): a champion
signed off in the core and a run awaiting sign-off against it, both from real retrains.
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

from tests.conftest import APP, ROOT, SeededHome, _free_port, served
from tests.helpers_retrain import spot_check_home
from tests.test_e2e import console_errors, expect, real_errors, wait_idle

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def spot_server(tmp_path_factory: pytest.TempPathFactory, seeded_home: SeededHome) -> Iterator[tuple[str, Path, str]]:
    root = tmp_path_factory.mktemp("spot") / "home"
    run_id = spot_check_home(root, seeded_home.seed)
    port = _free_port()
    env = {**os.environ, "TASKCLF_HOME": str(root), "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    with served(cmd, cwd=ROOT, env=env, port=port, log=root.parent / "server.log") as base:
        yield base, root, run_id


def test_promote_waits_for_the_three_spot_checks_and_records_them(
    spot_server: tuple[str, Path, str], page: Any, tmp_path: Path
) -> None:
    base, root, run_id = spot_server
    errors = console_errors(page)
    page.goto(f"{base}/Review?run={run_id}")
    expect(page.get_by_role("heading", name="Spot check: look at the people before you sign off")).to_be_visible()
    promote = page.get_by_role("button", name="Promote…")
    expect(promote).to_be_disabled()
    expect(page.get_by_text(re.compile(r"^Promote is disabled: the spot check is not done"))).to_be_visible()
    boxes = page.get_by_test_id("stCheckbox").filter(has_text="I looked at")
    expect(boxes).to_have_count(2)  # the worst-off and the median person; the reviewer picks the third
    proposed = [re.search(r"I looked at (\S+)", boxes.nth(i).inner_text()).group(1)  # type: ignore[union-attr]
                for i in range(2)]
    for i in range(2):
        boxes.nth(i).locator("label").click()
        wait_idle(page)
    expect(promote).to_be_disabled()  # two of three
    page.get_by_label("A person of your choice").click()
    page.get_by_role("option").first.click()
    wait_idle(page)
    third = page.get_by_test_id("stCheckbox").filter(has_text="your pick")
    picked = re.search(r"I looked at (\S+)", third.inner_text()).group(1)  # type: ignore[union-attr]
    charts = page.get_by_test_id("stVegaLiteChart")
    expect(charts.nth(0)).to_be_visible()
    third.locator("label").click()
    wait_idle(page)
    page.get_by_label("Approver (required)", exact=True).fill("e2e-sam")
    page.get_by_label("Approver (required)", exact=True).press("Tab")
    note = page.get_by_label(re.compile(r"^Note \(required\)"))
    note.fill("looked at three people's days first")
    note.press("Tab")
    wait_idle(page)
    page.screenshot(path=str(tmp_path / "spot-check.png"), full_page=True)
    expect(promote).to_be_enabled()
    promote.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Yes, promote").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_text("is now the champion")).to_be_visible()

    looked = {*proposed, picked}
    assert len(looked) == 3
    last = json.loads((root / "models" / "active_history.jsonl").read_text().splitlines()[-1])
    assert last["run_id"] == run_id and set(last["approvals"][0]["looked_at"]) == looked
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the whole review (self-contained HTML)").click()
    html = Path(download.value.path()).read_text()
    assert "looked at " + ", ".join(sorted(looked)) in html
    assert real_errors(errors) == [], "\n".join(errors)
