"""Reports from the workers' counts equal the local engine's reports from the rows (no cluster).

The Dask engine's scoring sends back per-(model, user) confusion cells, calibration sums and
the bootstrap cells of each partition; summed on the client they must give exactly the
report and bootstrap interval :func:`evaluate_predictions` and :func:`paired_bootstrap`
give on all the rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from taskclf_core.model.evaluation import apply_reject, evaluate_predictions, paired_bootstrap
from taskclf_core.model.thresholds import REFERENCE_THRESHOLDS
from taskclf_core.train.dask import score as dscore


def _partition_counts(y: np.ndarray, proba: np.ndarray, champ: np.ndarray, users: np.ndarray) -> pd.DataFrame:
    pred = apply_reject(proba, 0.55)
    cells = np.bincount((y * dscore.K + pred) * dscore.K + champ, minlength=8 * dscore.K * dscore.K)
    nz = np.flatnonzero(cells)
    return pd.concat([
        dscore._user_cells(dscore.CHALLENGER, users, y, pred), dscore._calibration_cells(dscore.CHALLENGER, y, proba),
        pd.DataFrame({"kind": dscore.BOOTSTRAP, "user_id": "", "cell": nz, "value": cells[nz].astype(float)}),
    ], ignore_index=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reports_from_summed_partition_counts_equal_the_reports_from_rows(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 3000
    y = rng.integers(0, 8, n)
    logits = rng.normal(size=(n, 8)) + 2.5 * np.eye(8)[y] * rng.random((n, 1))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    users = rng.choice(np.array([f"u{i}" for i in range(9)], dtype=object), n)
    champ = apply_reject(np.roll(proba, 1, axis=0), 0.55)
    held = ["u3", "u7"]

    bounds = np.sort(rng.choice(np.arange(1, n), size=6, replace=False))
    parts = [_partition_counts(y[a:b], proba[a:b], champ[a:b], users[a:b])
             for a, b in zip(np.r_[0, bounds], np.r_[bounds, n], strict=True)]
    counts = pd.concat(parts).groupby(["kind", "user_id", "cell"], as_index=False)["value"].sum()
    scores = dscore.Scores(counts)

    ours = dscore.report(scores, dscore.CHALLENGER, holdout_users=held, reject_threshold=0.55,
                         thresholds=REFERENCE_THRESHOLDS, with_calibration=True).model_dump()
    pred = apply_reject(proba, 0.55)
    theirs = evaluate_predictions("challenger", y, pred, users, proba=proba, holdout_users=held,
                                  reject_threshold=0.55).model_dump()
    for key in ("expected_calibration_error", "multiclass_brier_score", "multiclass_log_loss"):
        assert ours.pop(key) == pytest.approx(theirs.pop(key), rel=1e-12, abs=1e-12)
    curve_ours, curve_theirs = ours.pop("calibration_curve"), theirs.pop("calibration_curve")
    assert [b["count"] for b in curve_ours] == [b["count"] for b in curve_theirs]
    assert [b["confidence"] for b in curve_ours] == pytest.approx([b["confidence"] for b in curve_theirs], rel=1e-12)
    assert ours == theirs  # confusion, per class, per user, seen/unseen, acceptance: exactly

    assert dscore.bootstrap(scores, resamples=200, seed=5) == paired_bootstrap(y, pred, champ, resamples=200, seed=5)
