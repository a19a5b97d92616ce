"""``make bench-review``: ten readers open one run's Review at once, against a real server.

Not part of the test suite (it times things). The home is seeded as ``bench/pages.py``
seeds it (real retrains, the default 100 rounds: a real model's size), with a champion and
copies of a run evaluated against it. The console is served as ``make run`` serves it
(uvicorn, ``page_frame:secure_app``) in its own process; Chromium (Playwright) opens the
pages. Measured:

* the server process's CPU time (``/proc/<pid>/stat``, every thread) per Review render:
  the server's first render (imports, first derivation), a run's first reader on a warm
  server (cold: its evidence, tables and chart specs derived once), later readers one at
  a time (warm), and ``--sessions`` readers at once (each a browser tab with its own
  Streamlit session; the static files come from the browser's cache);
* one browser's time from navigation to the headline (``Run <id>``) and to the last chart
  drawn (every chart of the page: the comparison's five and the "as served" one), alone
  and among the concurrent readers.

The browsers share the machine with the server (2 cores here), so the browser times
under load are the machine's, not the server's; the server's CPU per render is what
grows with the number of readers on their own machines.

Usage: ``python -m bench.review_load [--sessions 10] [--warm 5] [--project DIR]``
(``--project`` serves another checkout's app, e.g. main's, on the same seeded home).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "artifacts" / "bench"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TICKS = os.sysconf("SC_CLK_TCK")
#: The page's last section has arrived and every chart on it is drawn (canvas or SVG with a
#: width; no chart placeholder still waiting for its code): at least ``n`` charts.
CHARTS_DRAWN = """(n) => { const c = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')];
  const last = [...document.querySelectorAll('[data-testid="stDownloadButton"]')].some(e => e.innerText.includes('whole review'));
  return last && c.length >= n && !document.querySelector('[data-testid="stSkeleton"]')
    && c.every(e => { const d = e.querySelector('canvas, svg'); return d && d.getBoundingClientRect().width > 0; }); }"""
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(project: Path, home: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "TASKCLF_HOME": str(home), "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
           "STREAMLIT_SERVER_HEADLESS": "true", "OMP_NUM_THREADS": "1"}
    env.pop("TASKCLF_CALIBRATOR_STORE", None)
    cmd = [sys.executable, "-m", "uvicorn", "--app-dir", str(project), "--factory", "page_frame:secure_app",
           "--host", "127.0.0.1", "--port", str(port)]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, cwd=project, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=1) as r:
                if r.read().strip() == b"ok":
                    return proc, base
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the server did not answer within 60 s:\n{log.read_text()}")


async def _open(context: Any, url: str, run_id: str, charts: int) -> dict[str, float]:
    """Open one Review in a new tab (a new session); seconds to the headline and to the last chart."""
    page = await context.new_page()
    page.set_default_timeout(180_000)
    t0 = time.perf_counter()
    await page.goto(url)
    await page.get_by_role("heading", name=f"Run {run_id}").wait_for()
    headline = time.perf_counter() - t0
    await page.wait_for_function(CHARTS_DRAWN, arg=charts)
    last_chart = time.perf_counter() - t0
    await page.locator(IDLE).wait_for()
    return {"headline_s": headline, "last_chart_s": last_chart, "page": page}  # type: ignore[dict-item]


async def _renders(pid: int, context: Any, url: str, run_id: str, charts: int, n: int) -> dict[str, Any]:
    """``n`` tabs opening the review at once: server CPU per render, each tab's times."""
    c0 = cpu_seconds(pid)
    t0 = time.perf_counter()
    opened = await asyncio.gather(*[_open(context, url, run_id, charts) for _ in range(n)])
    await asyncio.sleep(0.3)  # the last websocket messages
    cpu = cpu_seconds(pid) - c0
    wall = time.perf_counter() - t0
    for o in opened:
        await o["page"].close()  # type: ignore[attr-defined]
    await asyncio.sleep(0.3)
    return {
        "sessions": n, "server_cpu_s": round(cpu, 3), "server_cpu_per_render_s": round(cpu / n, 3), "wall_s": round(wall, 2),
        "headline_s": [round(o["headline_s"], 2) for o in opened],
        "last_chart_s": [round(o["last_chart_s"], 2) for o in opened],
    }


async def _measure(pid: int, base: str, runs: list[str], sessions: int, warm: int) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    review = f"{base}/Review?run="
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        idle0 = cpu_seconds(pid)
        await asyncio.sleep(2.0)
        idle = (cpu_seconds(pid) - idle0) / 2.0
        first = await _renders(pid, context, review + runs[0], runs[0], 5, 1)  # imports, static files, derive
        cold = [await _renders(pid, context, review + r, r, 5, 1) for r in runs[1:3]]  # a run's first reader
        warm_runs = [await _renders(pid, context, review + runs[0], runs[0], 5, 1) for _ in range(warm)]
        together = await _renders(pid, context, review + runs[0], runs[0], 5, sessions)
        await browser.close()
    return {
        "server_idle_cpu_per_s": round(idle, 4),
        "server_first_render": first,
        "cold_run": cold,
        "warm": warm_runs,
        "concurrent": together,
    }


def _summary(result: dict[str, Any]) -> str:
    m = result["measured"]
    cold = [r["server_cpu_per_render_s"] for r in m["cold_run"]]
    warm = [r["server_cpu_per_render_s"] for r in m["warm"]]
    c = m["concurrent"]
    lines = [
        f"Review load test: {result['cpu_count']} cores, run {result['run']} ({result['project']})",
        "server CPU per Review render (s):",
        f"  server's first render (imports, static files, derive) {m['server_first_render']['server_cpu_s']:.3f}",
        f"  cold (a run's first reader, server warm)             {statistics.median(cold):.3f}  {cold}",
        f"  warm (later readers, one at a time)                  {statistics.median(warm):.3f}  {warm}",
        f"  {c['sessions']} readers at once                                  {c['server_cpu_per_render_s']:.3f}"
        f"  ({c['server_cpu_s']:.2f} s in all, {c['wall_s']:.1f} s wall)",
        "one browser, seconds to the headline / to the last chart:",
        f"  cold run  {statistics.median(r['headline_s'][0] for r in m['cold_run']):.2f} / "
        f"{statistics.median(r['last_chart_s'][0] for r in m['cold_run']):.2f}",
        f"  warm      {statistics.median(r['headline_s'][0] for r in m['warm']):.2f} / "
        f"{statistics.median(r['last_chart_s'][0] for r in m['warm']):.2f}",
        f"  {c['sessions']} at once median {statistics.median(c['headline_s']):.2f} / {statistics.median(c['last_chart_s']):.2f}, "
        f"slowest {max(c['headline_s']):.2f} / {max(c['last_chart_s']):.2f} (ten browsers share the machine)",
        f"server idle CPU {m['server_idle_cpu_per_s']:.4f} s/s; load average {result['load_1m']}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.review_load", description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10, help="readers opening the review at once (default 10)")
    parser.add_argument("--warm", type=int, default=8, help="warm renders one at a time (default 8)")
    parser.add_argument("--project", type=Path, default=ROOT, help="the checkout whose app is served (default this one)")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="folder for the JSON result")
    args = parser.parse_args(argv)
    from bench.pages import seed_home

    root = Path(tempfile.mkdtemp(prefix="taskclf-bench-review-"))
    proc = None
    try:
        print("seeding the home (real retrains, 100 rounds) ...", file=sys.stderr, flush=True)
        seeded = seed_home(root, n_runs=6, n_models=1)
        runs = sorted(p.name for p in (root / "artifacts" / "runs").iterdir()
                      if (p / "decision.json").is_file()
                      and json.loads((p / "decision.json").read_text()).get("champion_compared"))
        runs = [seeded["review_run"], *[r for r in reversed(runs) if r != seeded["review_run"]][:2]]
        proc, base = _serve(args.project.resolve(), root, root / "server.log")
        measured = asyncio.run(_measure(proc.pid, base, runs, args.sessions, args.warm))
        result = {
            "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "cpu_count": os.cpu_count(),
            "load_1m": round(os.getloadavg()[0], 2), "project": str(args.project.resolve()), "run": runs[0],
            "seeded": seeded, "measured": measured,
        }
        text = _summary(result)
        print(text)
        args.out.mkdir(parents=True, exist_ok=True)
        stamp = result["created_at"].replace(":", "").replace("-", "")
        (args.out / f"review-load-{stamp}.json").write_text(json.dumps({**result, "table": text.splitlines()}, indent=2))
        return 0
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
