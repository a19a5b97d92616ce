"""Shared fixtures: a registry seeded by real retrains, and the real server + browser for e2e.

The seeded home is built once per session with :func:`taskclf_core.console.service.run_retrain`
on synthetic data (5 users, 14 days, 30 boosting rounds: the smallest setting whose
``default`` team passes every gate), then copied for each test that may change it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

# LightGBM uses every core by default; on a busy 2-core machine one thread is 2-3x faster.
# Set before anything imports lightgbm (its OpenMP runtime reads this once).
os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"

#: Synthetic team used by every seeded run (and by the e2e retrain).
SEED_USERS = 5
SEED_DAYS = 14
SEED_ROUNDS = 30
#: Few rounds so the suite stays fast; no spot check, so the flows that sign off stay short
#: (tests/test_e2e_spotcheck.py and test_spotcheck_app.py turn it on).
TEST_CONFIG = (
    f"# test config: few rounds so the suite stays fast\ntrain_params:\n  num_boost_round: {SEED_ROUNDS}\n"
    "gates:\n  spot_check_users: 0\n"
)


@dataclass
class SeededHome:
    """A home holding real runs of every kind; ``root`` must not be modified by tests."""

    root: Path
    seed: int  # synthetic seed whose default team passes every gate
    champion: str  # promoted by sign-off
    stale: str  # awaiting sign-off, evaluated against no champion: the champion changed since
    awaiting: str  # awaiting sign-off against the current champion: promotable
    rejected: str
    dry_run: str
    outcomes: dict[str, str] = field(default_factory=dict)


def write_config(root: Path, config: str | Mapping[str, Any] = TEST_CONFIG) -> Path:
    """Write ``<root>/configs/retrain.yaml``: the text as given, or a mapping as YAML (the one
    config writer of the suite). Returns the file."""
    path = root / "configs" / "retrain.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(config if isinstance(config, str) else yaml.safe_dump(dict(config)), encoding="utf-8")
    return path


def synthetic_request(seed: int, **extra: Any) -> Any:
    """A forced synthetic retrain request of the seeded size."""
    from taskclf_core.console.service import RetrainRequest

    # v1: the narrow layout keeps the session's seeded registry quick (v3 has its own tests).
    fields: dict[str, Any] = {"synthetic": True, "force": True, "users": SEED_USERS, "days": SEED_DAYS, "seed": seed,
                              "schema_version": "v1"}
    return RetrainRequest(**{**fields, **extra})


@pytest.fixture(scope="session")
def seeded_home(tmp_path_factory: pytest.TempPathFactory) -> SeededHome:
    """Real runs: rejected, stale awaiting, champion (signed off), awaiting, dry run."""
    from taskclf_core.console.service import run_retrain
    from taskclf_core.paths import Home
    from taskclf_core.registry import listing as registry

    root = tmp_path_factory.mktemp("seeded-home")
    write_config(root)
    home = Home.resolve(root)
    outcomes: dict[str, str] = {}

    def retrain(seed: int, **extra: Any) -> Any:
        result = run_retrain(home, synthetic_request(seed, **extra))
        outcomes[result.run_id] = result.outcome
        return result

    rejected: str | None = None
    first = None
    for seed in range(8):
        first = retrain(seed)
        if first.outcome == "awaiting_signoff":
            break
        rejected = rejected or first.run_id
    assert first is not None and first.outcome == "awaiting_signoff", (
        "no synthetic seed in 0..7 passes every gate with the seeded size; outcomes: " f"{outcomes}"
    )
    champion = retrain(seed)
    assert champion.outcome == "awaiting_signoff", champion.reason
    registry.promote(home, champion.run_id, approver="fixture-alice", note="seeded champion", auto_promote=False)
    awaiting = retrain(seed)  # same data, same model: passes the regression gate
    assert awaiting.outcome == "awaiting_signoff", awaiting.reason
    if rejected is None:
        noisy = retrain(seed, scenario="noisy")
        assert noisy.outcome == "rejected", noisy.reason
        rejected = noisy.run_id
    dry = retrain(seed, dry_run=True)
    assert dry.outcome == "dry_run", dry.reason
    return SeededHome(
        root=root, seed=seed, champion=champion.run_id, stale=first.run_id, awaiting=awaiting.run_id,
        rejected=rejected, dry_run=dry.run_id, outcomes=outcomes,
    )


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An empty home (no config: the reference defaults), set as ``TASKCLF_HOME``."""
    from taskclf_core.paths import Home

    root = tmp_path / "home"
    root.mkdir()
    monkeypatch.setenv("TASKCLF_HOME", str(root))
    monkeypatch.delenv("TASKCLF_CALIBRATOR_STORE", raising=False)
    return Home.resolve(root)


@pytest.fixture
def home_copy(seeded_home: SeededHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the seeded home, set as ``TASKCLF_HOME``."""
    root = tmp_path / "home"
    shutil.copytree(seeded_home.root, root)
    monkeypatch.setenv("TASKCLF_HOME", str(root))
    monkeypatch.delenv("TASKCLF_CALIBRATOR_STORE", raising=False)
    return root


def wait_job(home: Any, job_id: str, *, timeout: float = 120.0, poll: float = 0.2) -> Any:
    """Poll a background retrain job until it is no longer active; its final status.

    Raises:
        TimeoutError: still active after ``timeout`` seconds.
    """
    from taskclf_core.console.jobs import read_job

    deadline = time.monotonic() + timeout
    while True:
        job = read_job(home, job_id)
        if not job.active:
            return job
        if time.monotonic() >= deadline:
            raise TimeoutError(f"retrain job {job_id} still {job.state} ({job.stage}) after {timeout:g} s")
        time.sleep(poll)


def tree_state(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and modification time (to prove nothing changed)."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# ----------------------------------------------------------------------------- e2e

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200 and r.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not healthy after {timeout}s:\n{log.read_text()}")


@contextmanager
def served(cmd: list[str], *, cwd: Path, env: dict[str, str], port: int, log: Path) -> Iterator[str]:
    """Run a server process until the block ends; yields its base URL once healthy."""
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(f"{base}/_stcore/health", proc, log)
        yield base
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@dataclass
class E2EServer:
    """The running app: its base URL and its home."""

    base: str
    home: Path
    seeded: SeededHome


@pytest.fixture(scope="session")
def e2e_server(tmp_path_factory: pytest.TempPathFactory, seeded_home: SeededHome) -> Iterator[E2EServer]:
    """``streamlit run app.py`` on 127.0.0.1 with a home that has runs but no champion.

    The home gets copies of two seeded run folders (rejected, awaiting) and no models,
    so Status says a retrain is due and a review can be opened by URL.
    """
    home = tmp_path_factory.mktemp("e2e-home")
    write_config(home)
    for run_id in (seeded_home.rejected, seeded_home.awaiting):
        shutil.copytree(seeded_home.root / "artifacts" / "runs" / run_id, home / "artifacts" / "runs" / run_id)
    port = _free_port()
    log = tmp_path_factory.mktemp("streamlit-log") / "server.log"
    env = {
        **os.environ, "TASKCLF_HOME": str(home), "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
        "OMP_NUM_THREADS": "1",
    }
    env.pop("TASKCLF_CALIBRATOR_STORE", None)
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true",
        "--server.port", str(port), "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]
    with served(cmd, cwd=ROOT, env=env, port=port, log=log) as base:
        yield E2EServer(base=base, home=home, seeded=seeded_home)


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the browser tests save their screenshots: a temporary folder, never the repository
    (``TASKCLF_KEEP_SCREENSHOTS=<folder>`` also copies each one there to look at)."""
    return tmp_path_factory.mktemp("screenshots")


def wait_idle(page: Any) -> None:
    """Wait until Streamlit has finished the current script run."""
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for()


def screenshot(page: Any, path: Path, *, target: Any = None) -> Path:
    """Save the whole page (or one element, ``target``) at ``path`` once the script run is over.

    Streamlit scrolls inside its main block: for a whole page the viewport grows first.
    """
    wait_idle(page)
    if target is not None:
        target.screenshot(path=str(path))
    else:
        size = page.viewport_size
        height = page.evaluate(
            "() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
            " return m ? m.scrollHeight : document.body.scrollHeight; }"
        )
        page.set_viewport_size({"width": size["width"], "height": min(max(int(height) + 40, size["height"]), 9000)})
        page.wait_for_timeout(800)  # let the charts finish drawing at the new size
        page.screenshot(path=str(path), full_page=True)
        page.set_viewport_size(size)
    if os.environ.get("TASKCLF_KEEP_SCREENSHOTS"):
        shutil.copy(path, Path(os.environ["TASKCLF_KEEP_SCREENSHOTS"]) / path.name)
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make test` (it installs Debian chromium) or apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context and page (1280x900, 20 s default timeout)."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    pg = ctx.new_page()
    pg.set_default_timeout(20_000)
    yield pg
    ctx.close()


# ----------------------------------------------------------------------------- faults


@pytest.fixture(scope="module")
def zygote() -> Any:
    """The fault suite's pre-forked child server (see ``tests/helpers_faults.py``)."""
    from tests.helpers_faults import shared_zygote

    return shared_zygote()


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """Trial homes: in memory when the machine has /dev/shm (see ``scratch_dir``)."""
    from tests.helpers_faults import scratch_dir

    with scratch_dir(tmp_path) as folder:
        yield folder
