"""Builders for pipeline tests: a temporary home with a config, real synthetic runs."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from taskclf_core.console.service import RetrainRequest, run_retrain
from taskclf_core.paths import Home
from taskclf_core.train.retrain import RetrainResult
from tests.conftest import write_config


def make_home(root: Path, **config: Any) -> Home:
    """A home with ``configs/retrain.yaml`` (reference defaults, overridden by ``config``)."""
    write_config(root, config)
    return Home(root)


#: The promotion checklist's gates opened up, for tests about something else on samples too
#: small for them (taskclf's 2-person, 3-day fixtures; a few boosting rounds).
CHECKLIST_OPEN: dict[str, Any] = {
    "per_user": {"tolerance": 1.0},
    "recent_week": {"tolerance": 1.0, "macro_f1_relative_drop": 1.0, "reject_rate_increase": 1.0, "psi": 100.0,
                    "class_shift": 1.0},
    "safety": {"flap_rate_raw": 1.0, "flap_rate_smoothed": 1.0, "long_blocks_min": 0.0, "short_blocks_max": 1.0,
               "reject_rate_underfit": 1.0, "breakidle_as_build": 1.0},
    "spot_check_users": 0,
    "calibration_brier_improvement": -1.0,
}


def retrain(home: Home, **request: Any) -> RetrainResult:
    """A synthetic retrain (3 users, 30 days, schema v1 unless given) through the service layer."""
    fields = {"synthetic": True, "force": True, "users": 3, "days": 30, "schema_version": "v1", **request}
    return run_retrain(home, RetrainRequest(**fields))


def tree_digest(folder: Path) -> dict[str, str]:
    """Path → SHA-256 of every file below ``folder`` (to prove nothing changed)."""
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def spot_check_home(root: Path, seed: int) -> str:
    """A home at ``root`` with a champion and a run awaiting sign-off whose config keeps the
    default spot check (3 people); the run's id."""
    from taskclf_core.console.service import run_retrain
    from taskclf_core.registry.promotion import promote
    from tests.conftest import SEED_ROUNDS, synthetic_request

    (root / "configs").mkdir(parents=True)
    (root / "configs" / "retrain.yaml").write_text(f"train_params:\n  num_boost_round: {SEED_ROUNDS}\n")
    home = Home.resolve(root)
    first = run_retrain(home, synthetic_request(seed))
    promote(home, first.run_id, approver="fixture", note="champion", auto_promote=False)
    awaiting = run_retrain(home, synthetic_request(seed))
    assert awaiting.outcome == "awaiting_signoff", awaiting.reason
    return str(awaiting.run_id)
