"""Evaluation: metrics by hand on tiny cases, the n/a rule, Wilson, calibration, bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from taskclf_core.data.schema import LABEL_TO_INDEX as IX
from taskclf_core.model.baseline import baseline_codes
from taskclf_core.model.evaluation import (
    NA_PRECISION,
    REJECT_CODE,
    apply_reject,
    evaluate_predictions,
    paired_bootstrap,
    wilson_interval,
)


def codes(*names: str) -> np.ndarray:
    return np.array([REJECT_CODE if n == "?" else IX[n] for n in names])


def test_metrics_by_hand_with_rejects_and_absent_classes():
    y = codes("Build", "Build", "Build", "Debug", "Debug", "BreakIdle")
    pred = codes("Build", "Build", "?", "Build", "Debug", "BreakIdle")
    r = evaluate_predictions("m", y, pred, np.array(["u"] * 6))
    build, debug = r.per_class["Build"], r.per_class["Debug"]
    assert (build.precision, build.recall, build.support, build.predicted, build.rejected) == (2 / 3, 2 / 3, 3, 3, 1)
    assert (debug.precision, debug.recall) == (1.0, 0.5)
    # Meet: no support, never predicted -> n/a, and left out of macro-F1 (never counted as 0)
    assert r.per_class["Meet"].precision is None and r.per_class["Meet"].f1 is None
    f1 = {"Build": 2 / 3, "Debug": 2 / 3, "BreakIdle": 1.0}
    assert r.macro_f1 == pytest.approx(sum(f1.values()) / 3)
    assert r.weighted_f1 == pytest.approx((3 * 2 / 3 + 2 * 2 / 3 + 1.0) / 6)
    assert r.reject_rate == pytest.approx(1 / 6)
    assert r.confusion_matrix[IX["Debug"]][IX["Build"]] == 1
    assert r.top_confusion_pairs[0] == {"true": "Debug", "predicted": "Build", "count": 1, "share_of_true": 0.5}
    floor = {c.name: c for c in r.acceptance}["no_class_below_50_precision"]
    assert floor.passed and NA_PRECISION in floor.detail and "Meet" in floor.detail


def test_class_present_but_never_predicted_has_precision_zero_and_fails_the_floor():
    y = codes("Build", "Write", "Write")
    pred = codes("Build", "Build", "?")
    r = evaluate_predictions("m", y, pred, np.array(["u"] * 3))
    assert r.per_class["Write"].precision == 0.0 and r.per_class["Write"].recall == 0.0
    checks = {c.name: c for c in r.acceptance}
    assert not checks["no_class_below_50_precision"].passed
    assert "Write 0.0000 (n=0)" in checks["no_class_below_50_precision"].detail


def test_acceptance_thresholds_are_inclusive_and_seen_unseen_appear_with_holdout():
    y = codes(*(["BreakIdle"] * 19 + ["Build"]))
    pred = codes(*(["BreakIdle"] * 19 + ["?"]))  # reject rate exactly 0.05
    r = evaluate_predictions("m", y, pred, np.array(["a"] * 10 + ["b"] * 10), holdout_users=["b"])
    checks = {c.name: c for c in r.acceptance}
    assert checks["reject_rate_bounds"].passed and checks["reject_rate_bounds"].value == pytest.approx(0.05)
    assert checks["breakidle_precision"].passed and checks["breakidle_precision"].value == 1.0
    assert "seen_user_f1" in checks and "unseen_user_f1" in checks
    assert r.per_user["b"].held_out and not r.per_user["a"].held_out


def test_wilson_interval_matches_known_values():
    low, high = wilson_interval(8, 10)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    assert wilson_interval(0, 0) is None


def test_calibration_on_perfect_and_uniform_probabilities():
    y = np.array([0, 1, 2, 3])
    perfect = np.eye(8)[y]
    r = evaluate_predictions("m", y, apply_reject(perfect, 0.55), np.array(["u"] * 4), proba=perfect)
    assert r.expected_calibration_error == pytest.approx(0.0) and r.multiclass_brier_score == pytest.approx(0.0)
    uniform = np.full((4, 8), 1 / 8)
    r2 = evaluate_predictions("m", y, apply_reject(uniform, 0.55), np.array(["u"] * 4), proba=uniform)
    assert r2.multiclass_log_loss == pytest.approx(np.log(8)) and r2.reject_rate == 1.0


def test_paired_bootstrap_is_seeded_and_brackets_the_difference():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 8, 2000)
    good = np.where(rng.random(2000) < 0.9, y, rng.integers(0, 8, 2000))
    bad = np.where(rng.random(2000) < 0.6, y, rng.integers(0, 8, 2000))
    a = paired_bootstrap(y, good, bad, seed=0)
    assert a == paired_bootstrap(y, good, bad, seed=0)
    assert a.low < a.difference < a.high and a.low > 0.2
    same = paired_bootstrap(y, good, good)
    assert same.low == same.high == same.difference == 0.0


def test_rule_baseline_priorities_and_nulls():
    import pandas as pd

    df = pd.DataFrame({
        "app_category": ["lockscreen", "editor", "browser", "editor", "editor"],
        "active_seconds_any": [50.0, float("nan"), 40.0, 40.0, 40.0],
        "max_idle_run_seconds": [0.0, 0.0, 0.0, 0.0, 0.0],
        "is_browser": [False, False, True, False, False],
        "is_editor": [False, True, False, True, True],
        "is_terminal": [False, False, False, False, False],
        "scroll_events_per_min": [0.0, 0.0, 5.0, 0.0, 0.0],
        "keys_per_min": [0.0, 60.0, 2.0, 60.0, float("nan")],
        "shortcut_rate": [0.0, 2.0, 0.0, 2.0, 2.0],
    })
    assert list(baseline_codes(df)) == [IX["BreakIdle"], IX["BreakIdle"], IX["ReadResearch"], IX["Build"], REJECT_CODE]
