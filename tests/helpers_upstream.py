"""taskclf's own deployments and data (``fixtures/upstream-policy``, ``fixtures/taskclf-data/v3-aw``)
as test homes: one place for their paths, their model ids and the sample's gate thresholds."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import yaml

FIXTURES = Path(__file__).parent / "fixtures"
POLICY = FIXTURES / "upstream-policy"
DATA = FIXTURES / "taskclf-data" / "v3-aw"
#: The days of the v3-aw sample.
DATA_FROM, DATA_TO = date(2025, 9, 9), date(2025, 9, 11)
#: The champion of the upstream-policy scenarios, and the model of the store bound to another one.
A = "2026-11-29_212741_run-2436"
B = "2026-12-06_155542_run-4952"


def sample_config(*, macro_f1: float = 0.3, reject_rate_max: float = 0.8, regression_tolerance: float = 0.3,
                  num_boost_round: int | None = 10, calibration_brier_improvement: float | None = -1.0) -> str:
    """The team's own gate thresholds for taskclf's v3-aw sample (2 people, 3 days): too small
    for the reference values (taskclf's own retrain rejects it too); the rules are the same.
    ``None`` leaves a key at its default."""
    gates: dict[str, object] = {
        "macro_f1": macro_f1, "weighted_f1": macro_f1, "breakidle_precision": 0.0, "breakidle_recall": 0.0,
        "class_precision_floor": 0.0, "reject_rate_min": 0.0, "reject_rate_max": reject_rate_max,
        "per_user": {"tolerance": 1.0},
        "recent_week": {"tolerance": 1.0, "macro_f1_relative_drop": 1.0, "reject_rate_increase": 1.0, "psi": 100.0,
                        "class_shift": 1.0},
        "safety": {"flap_rate_raw": 1.0, "flap_rate_smoothed": 1.0, "long_blocks_min": 0.0, "short_blocks_max": 1.0,
                   "reject_rate_underfit": 1.0},
        "spot_check_users": 0,
    }
    if calibration_brier_improvement is not None:
        gates["calibration_brier_improvement"] = calibration_brier_improvement
    config: dict[str, object] = {"regression_tolerance": regression_tolerance, "gates": gates}
    if num_boost_round is not None:
        config["train_params"] = {"num_boost_round": num_boost_round}
    return yaml.safe_dump(config, sort_keys=False)


def upstream_home(target: Path, scenario: str = "policy-temperature", config: str | None = None, *,
                  with_data: bool = False) -> Path:
    """A copy of one of taskclf's deployments at ``target`` (with ``config`` as its
    ``configs/retrain.yaml``, and the v3-aw sample as its ``data/processed`` with ``with_data``)."""
    shutil.copytree(POLICY / scenario, target)
    if config is not None:
        (target / "configs").mkdir()
        (target / "configs" / "retrain.yaml").write_text(config)
    if with_data:
        for part in ("features_v3", "labels_v1"):
            shutil.copytree(DATA / part, target / "data" / "processed" / part)
    return target
