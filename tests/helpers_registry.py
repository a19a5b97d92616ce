"""Builders for bundle and registry tests: a tiny real LightGBM model, real runs on disk.

Nothing here mocks the library: bundles are written with ``bundle_file_bytes`` and runs
with ``write_run``, exactly as the pipeline does. LightGBM is imported only inside
:func:`tiny_model_text`, so worker processes that only promote start quickly.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from taskclf_core.data.schema import CORE_FEATURES, LABELS, SCHEMA_HASHES
from taskclf_core.paths import Home
from taskclf_core.registry.bundle import (
    BundleMetadata,
    BundleMetrics,
    bundle_file_bytes,
    git_commit,
    library_versions,
    utc_now_iso,
)
from taskclf_core.registry.listing import ChampionRef, promote, write_run
from taskclf_core.registry.runids import new_run_id

FEATURES = list(CORE_FEATURES)
ENCODERS: dict[str, list[str]] = {
    "app_category": ["__unknown__", "browser", "editor", "terminal"],
    "domain_category": ["__unknown__", "docs", "non_browser"],
}


@functools.cache
def tiny_model_text(seed: int = 0) -> str:
    """A real 8-class LightGBM model (200 random rows, 3 rounds) in text format."""
    import lightgbm
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(200, len(FEATURES)))
    y = rng.integers(0, len(LABELS), size=200)
    x[:, 0] += y  # a little signal so trees actually split
    params = {
        "objective": "multiclass",
        "num_class": len(LABELS),
        "num_leaves": 4,
        "min_data_in_leaf": 5,
        "seed": seed,
        "deterministic": True,
        "num_threads": 1,
        "verbosity": -1,
    }
    data = lightgbm.Dataset(x, label=y, feature_name=FEATURES, free_raw_data=False)
    booster = lightgbm.train(params, data, num_boost_round=3)
    return str(booster.model_to_string())


def make_metadata(**overrides: Any) -> BundleMetadata:
    """Valid metadata for the tiny model; ``overrides`` replace fields."""
    fields: dict[str, Any] = {
        "schema_version": "v1",
        "schema_hash": SCHEMA_HASHES["v1"],
        "label_set": list(LABELS),
        "train_date_from": "2026-10-01",
        "train_date_to": "2026-10-30",
        "params": {"seed": 0, "num_boost_round": 3, "class_weight": "balanced"},
        "git_commit": git_commit(),
        "dataset_hash": "d5a7a5e7c0ffee00",
        "reject_threshold": 0.55,
        "data_provenance": "synthetic",
        "created_at": utc_now_iso(),
        "library_versions": library_versions(),
        "feature_names": FEATURES,
    }
    fields.update(overrides)
    return BundleMetadata(**fields)


def make_metrics(macro_f1: float = 0.8) -> BundleMetrics:
    """Metrics with a diagonal-heavy 8x8 confusion matrix."""
    n = len(LABELS)
    matrix = [
        [10 if i == j else (1 if j == (i + 1) % n else 0) for j in range(n)] for i in range(n)
    ]
    return BundleMetrics(
        macro_f1=macro_f1, weighted_f1=macro_f1, confusion_matrix=matrix, label_names=list(LABELS)
    )


def bundle_files(*, macro_f1: float = 0.8, **metadata_overrides: Any) -> dict[str, bytes]:
    """The five bundle files of the tiny model."""
    return bundle_file_bytes(
        model_text=tiny_model_text(),
        encoders=ENCODERS,
        metadata=make_metadata(**metadata_overrides),
        metrics=make_metrics(macro_f1),
    )


GATE_NAMES = (
    "breakidle_precision",
    "no_class_below_50_precision",
    "acceptance_checks",
    "baseline_improvement",
    "macro_f1_no_regression",
)


def gates_json(failed: tuple[str, ...] = ()) -> bytes:
    """A ``gates.json`` in the pipeline's layout whose gates fail exactly as ``failed`` says."""
    names = list(dict.fromkeys([*GATE_NAMES, *failed]))
    gates = [{"name": n, "passed": n not in failed, "skipped": False} for n in names]
    return json.dumps({"candidate": {"all_passed": not failed, "gates": gates}}).encode()


def make_run(
    home: Home,
    *,
    outcome: str = "awaiting_signoff",
    champion: ChampionRef | None = None,
    auto_promote: bool = False,
    failed_gates: tuple[str, ...] = (),
    macro_f1: float = 0.8,
    extra_files: Mapping[str, bytes] | None = None,
) -> str:
    """Write a complete run (bundle + evidence + decision) and return its id."""
    run_id = new_run_id()
    files = bundle_files(macro_f1=macro_f1)
    files["gates.json"] = gates_json(failed_gates)
    files["evaluation.json"] = b'{"challenger": {"macro_f1": %.2f}}\n' % macro_f1
    files.update(extra_files or {})
    passed = 7 - len(failed_gates)
    decision = {
        "outcome": outcome,
        "reason": f"test run with outcome {outcome}",
        "champion_compared": champion.model_dump() if champion else None,
        "started_at": utc_now_iso(),
        "finished_at": utc_now_iso(),
        "auto_promote": auto_promote,
        "dataset_hash": "d5a7a5e7c0ffee00",
        "macro_f1": macro_f1,
        "gates_summary": f"{passed} passed, {len(failed_gates)} failed, 0 skipped",
        "failed_gates": list(failed_gates),
    }
    write_run(home.runs_dir, run_id, files=files, decision=decision)
    return run_id


def champion_of(home: Home) -> ChampionRef | None:
    """The current champion as a run records it (reads ``active.json`` directly)."""
    path = home.models_dir / "active.json"
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    sha = raw.get("model_sha256") or hashlib.sha256(
        (home.models_dir / raw["model_id"] / "model.txt").read_bytes()
    ).hexdigest()
    return ChampionRef(run_id=raw["model_id"], model_sha256=sha)


def promoted_run(home: Home, *, note: str = "first champion") -> str:
    """A run compared against the current champion, promoted by hand; returns its id."""
    run_id = make_run(home, champion=champion_of(home))
    promote(home, run_id, approver="alice", note=note, auto_promote=False)
    return run_id


def race_worker(root: str, run_id: str, barrier: Any, results: Any) -> None:
    """Process body for the promotion race: wait for all, promote, report the outcome."""
    from taskclf_core.errors import ChampionChanged

    home = Home(Path(root))
    barrier.wait(timeout=60)
    try:
        promote(home, run_id, approver=f"worker-{run_id[-6:]}", note="race", auto_promote=False)
    except ChampionChanged as exc:
        results.put((run_id, "changed", str(exc)))
    except Exception as exc:  # reported to the test, which fails on it
        results.put((run_id, "error", f"{type(exc).__name__}: {exc}"))
    else:
        results.put((run_id, "won", ""))
