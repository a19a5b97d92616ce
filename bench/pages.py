"""Render time of the Status and Review pages with a registry of many runs and models.

The home is seeded with real retrains (service layer, 5 users x 14 days, the default 100
rounds, so ``model.txt`` has a real model's size): a champion
promoted by sign-off and one run awaiting sign-off evaluated against it. That run folder
is copied under fresh run ids (``decision.json`` gets the new ``run_id``; the manifest
covers every other file, which is unchanged) until there are ``n_runs`` runs, and
``n_models`` of the copies are promoted by sign-off through the registry API, so the
listings, history and pointer are all valid. The pages then run under
``streamlit.testing.v1.AppTest``; the first render of each page is reported as cold
(imports), then the median of the following renders.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import OtherCpu, load_average, machine

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
REVIEW = "pages/2_Review.py"
SEED_CONFIG = "train_params:\n  num_boost_round: {rounds}\n"


def _copy_run(home: Any, source: str, run_id: str, finished: datetime) -> None:
    src = home.runs_dir / source
    dst = home.runs_dir / run_id
    shutil.copytree(src, dst)
    decision = json.loads((dst / "decision.json").read_text(encoding="utf-8"))
    decision["run_id"] = run_id
    decision["started_at"] = (finished - timedelta(seconds=30)).isoformat()
    decision["finished_at"] = finished.isoformat()
    (dst / "decision.json").write_text(json.dumps(decision, indent=2, sort_keys=True), encoding="utf-8")


def seed_home(root: Path, *, n_runs: int, n_models: int, rounds: int = 100) -> dict[str, Any]:
    """Build the registry; returns what was made (and how long it took)."""
    from taskclf_core.console.service import RetrainRequest, run_retrain
    from taskclf_core.paths import Home
    from taskclf_core.registry import listing as registry
    from taskclf_core.registry.runids import new_run_id
    from taskclf_core.registry.runs import list_runs

    t0 = time.perf_counter()
    (root / "configs").mkdir(parents=True, exist_ok=True)
    (root / "configs" / "retrain.yaml").write_text(SEED_CONFIG.format(rounds=rounds), encoding="utf-8")
    home = Home.resolve(root)

    def retrain(seed: int) -> Any:
        request = RetrainRequest.model_validate(
            {"synthetic": True, "force": True, "users": 5, "days": 14, "seed": seed}
        )
        return run_retrain(home, request)

    first = None
    for seed in range(8):
        first = retrain(seed)
        if first.outcome == "awaiting_signoff":
            break
    assert first is not None and first.run_id is not None
    if first.outcome == "awaiting_signoff":
        registry.promote(home, first.run_id, approver="bench", note="seed champion", auto_promote=False)
    else:  # no seed passed every gate: install the model by rollback instead
        from bench.pipeline import _install_champion

        _install_champion(home, first.run_id)
    source = retrain(seed)
    assert source.run_id is not None
    made = {"source_run": source.run_id, "source_outcome": source.outcome, "seed": seed}

    now = datetime.now(UTC)
    existing = len(list_runs(home))
    copies = []
    for i in range(max(0, n_runs - existing)):
        finished = now + timedelta(seconds=i + 1)
        run_id = new_run_id(finished)
        _copy_run(home, source.run_id, run_id, finished)
        copies.append(run_id)
    promoted = 0
    if source.outcome == "awaiting_signoff":
        champion = registry.inspect_active(home).pointer
        current = champion.model_id if champion else None
        for run_id in copies[: max(0, n_models - 1)]:
            registry.promote(
                home, run_id, approver="bench", note="benchmark sign-off", auto_promote=False,
                expected_champion=current,
            )
            current = run_id
            promoted += 1
    runs = registry.list_runs(home)
    models = registry.list_models(home)
    made.update(
        runs=len(runs),
        broken_runs=sum(1 for r in runs if r.broken),
        models=len(models),
        broken_models=sum(1 for m in models if m.broken),
        promoted_copies=promoted,
        review_run=copies[-1] if copies else source.run_id,
        seed_s=round(time.perf_counter() - t0, 2),
    )
    return made


def _quiet_streamlit() -> None:
    """AppTest runs the scripts without a server: drop its "missing ScriptRunContext" noise."""
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(
        lambda record: "missing ScriptRunContext" not in record.getMessage()
    )


def _render(page: str | None, query: dict[str, str]) -> tuple[float, list[str]]:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=300)
    if page is None:
        t0 = time.perf_counter()
        at.run()
        return time.perf_counter() - t0, [str(e.value) for e in at.exception]
    at.run()
    at.query_params.clear()
    at.query_params.update(query)
    at.switch_page(page)
    t0 = time.perf_counter()
    at.run()
    return time.perf_counter() - t0, [str(e.value) for e in at.exception]


def measure_pages(n_runs: int, n_models: int, repeats: int) -> dict[str, Any]:
    """Seed a temporary home and time the Status and Review pages (and their core calls)."""
    from taskclf_core.console.read import review, status
    from taskclf_core.console.reports import charts
    from taskclf_core.paths import Home

    root = Path(tempfile.mkdtemp(prefix="taskclf-bench-home-"))
    try:
        seeded = seed_home(root, n_runs=n_runs, n_models=n_models)
        _quiet_streamlit()
        os.environ["TASKCLF_HOME"] = str(root)
        os.environ.pop("TASKCLF_CALIBRATOR_STORE", None)
        home = Home.resolve(root)
        review_query = {"run": seeded["review_run"]}
        out: dict[str, Any] = {"seeded": seeded, "machine": machine()}
        renders = OtherCpu()
        for name, page, query in (("status", None, {}), ("review", REVIEW, review_query)):
            times, errors = [], []
            loads = []
            for _ in range(repeats + 1):
                loads.append(load_average())
                seconds, exc = _render(page, query)
                times.append(seconds)
                errors.extend(exc)
            out[name] = {
                "cold_s": round(times[0], 3),
                "warm_s": round(statistics.median(times[1:]), 3) if repeats else None,
                "all_s": [round(t, 3) for t in times],
                "load": max(loads),
                "errors": sorted(set(errors))[:3],
            }
        out["other_cpu"] = renders.cores()
        def timed(fn: Any) -> float:
            samples = []
            for _ in range(max(1, repeats)):
                t0 = time.perf_counter()
                fn()
                samples.append(time.perf_counter() - t0)
            return round(statistics.median(samples), 4)

        review_view = review.run_review(home, seeded["review_run"])
        out["core"] = {
            "status_summary": timed(lambda: status.status_summary(home)),
            "run_review": timed(lambda: review.run_review(home, seeded["review_run"])),
            "review_charts": timed(
                lambda: charts.review_charts(
                    review_view.reports, tolerance=review_view.tolerance, bootstrap=review_view.evidence.bootstrap
                )
            ),
        }
        return out
    finally:
        shutil.rmtree(root, ignore_errors=True)
