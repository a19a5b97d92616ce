"""The Dask engine's scoring: challenger, champion and rule baseline on the workers.

Each evaluation partition is scored where it lives, exactly as taskclf serves a model
(:func:`~taskclf_core.model.serving.predict_proba`), and sends back only counts: per
(model, user) the 8 x 9 cells of (true class, prediction or reject), the calibration sums
(15 confidence bins, Brier and log-loss sums) and the 648 (true, challenger, champion)
cells of the paired bootstrap. The client turns those counts back into the same
:class:`~taskclf_core.model.reports.EvaluationReport` and
:class:`~taskclf_core.model.reports.BootstrapInterval` as the local engine
(:func:`evaluate_predictions` and :func:`paired_bootstrap` on the expanded codes: a few
integers per evaluation row, never a feature).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from taskclf_core.data.schema import LABELS
from taskclf_core.errors import TaskclfError
from taskclf_core.model.baseline import baseline_codes
from taskclf_core.model.evaluation import (
    ECE_BINS,
    apply_reject,
    evaluate_predictions,
    paired_bootstrap,
)
from taskclf_core.model.reports import BootstrapInterval, CalibrationBin, EvaluationReport
from taskclf_core.model.serving import predict_proba
from taskclf_core.model.thresholds import GateThresholds
from taskclf_core.train.dask.data import LABEL_CODE

K = len(LABELS) + 1  # classes plus the reject
CELLS = len(LABELS) * K
#: Result rows: (kind, user_id, cell, value); kinds below.
CHALLENGER, CHAMPION, BASELINE, BOOTSTRAP = "challenger", "champion", "baseline", "bootstrap"
CAL = "cal_"
ERROR = "champion_error"
#: Calibration cells: counts, confidence sums, accuracy sums per bin, then Brier and log-loss sums.
_BRIER, _LOGLOSS = 3 * ECE_BINS, 3 * ECE_BINS + 1
META = pd.DataFrame({"kind": pd.Series([], dtype=object), "user_id": pd.Series([], dtype=object),
                     "cell": pd.Series([], dtype="int64"), "value": pd.Series([], dtype="float64")})


@dataclass(frozen=True)
class ModelSpec:
    """A booster and its serving contract, shipped to the workers once."""

    booster: Any
    feature_names: list[str]
    encoders: dict[str, list[str]]


def _user_cells(kind: str, users: np.ndarray, y: np.ndarray, pred: np.ndarray) -> pd.DataFrame:
    uniques, codes = np.unique(users, return_inverse=True)
    counts = np.bincount(codes * CELLS + y * K + pred, minlength=len(uniques) * CELLS)
    nz = np.flatnonzero(counts)
    return pd.DataFrame({"kind": kind, "user_id": uniques[nz // CELLS], "cell": nz % CELLS,
                         "value": counts[nz].astype(np.float64)})


def _calibration_cells(kind: str, y: np.ndarray, proba: np.ndarray) -> pd.DataFrame:
    confidence = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == y).astype(np.float64)
    bins = np.minimum((confidence * ECE_BINS).astype(np.int64), ECE_BINS - 1)
    onehot = np.zeros_like(proba)
    onehot[np.arange(len(y)), y] = 1.0
    values = np.concatenate([
        np.bincount(bins, minlength=ECE_BINS).astype(np.float64),
        np.bincount(bins, weights=confidence, minlength=ECE_BINS),
        np.bincount(bins, weights=correct, minlength=ECE_BINS),
        [float(((proba - onehot) ** 2).sum()),
         float(-np.log(np.clip(proba[np.arange(len(y)), y], 1e-15, 1.0)).sum())],
    ])
    return pd.DataFrame({"kind": CAL + kind, "user_id": "", "cell": np.arange(len(values)), "value": values})


def score_partition(
    frame: pd.DataFrame, challenger: ModelSpec, champion: ModelSpec | None, reject_threshold: float
) -> pd.DataFrame:
    """Counts of one evaluation partition for every model (runs on a worker)."""
    if len(frame) == 0:
        return META.copy()
    y = frame[LABEL_CODE].to_numpy(dtype=np.int64)
    users = frame["user_id"].astype("str").to_numpy(dtype=object)
    proba = predict_proba(challenger.booster, frame, challenger.feature_names, challenger.encoders)
    pred = apply_reject(proba, reject_threshold)
    parts = [
        _user_cells(CHALLENGER, users, y, pred), _calibration_cells(CHALLENGER, y, proba),
        _user_cells(BASELINE, users, y, baseline_codes(frame)),
    ]
    if champion is not None:
        try:
            champ_proba = predict_proba(champion.booster, frame, champion.feature_names, champion.encoders)
        except TaskclfError as exc:
            parts.append(pd.DataFrame({"kind": [ERROR], "user_id": [str(exc)], "cell": [0], "value": [1.0]}))
        else:
            champ = apply_reject(champ_proba, reject_threshold)
            parts += [_user_cells(CHAMPION, users, y, champ), _calibration_cells(CHAMPION, y, champ_proba)]
            cells = np.bincount((y * K + pred) * K + champ, minlength=len(LABELS) * K * K)
            nz = np.flatnonzero(cells)
            parts.append(pd.DataFrame({"kind": BOOTSTRAP, "user_id": "", "cell": nz,
                                       "value": cells[nz].astype(np.float64)}))
    return pd.concat(parts, ignore_index=True).astype(META.dtypes.to_dict())


@dataclass(frozen=True)
class Scores:
    """The summed counts of every evaluation partition (a small frame)."""

    counts: pd.DataFrame  # kind, user_id, cell, value

    def of(self, kind: str) -> pd.DataFrame:
        return self.counts[self.counts["kind"] == kind]

    def champion_error(self) -> str | None:
        errors = self.of(ERROR)
        return None if errors.empty else str(sorted(errors["user_id"])[0])

    def codes(self, kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(true codes, predicted codes, user ids), one entry per evaluation row."""
        part = self.of(kind).sort_values(["user_id", "cell"])
        n = part["value"].to_numpy().round().astype(np.int64)
        cell = part["cell"].to_numpy(dtype=np.int64)
        users = np.repeat(part["user_id"].to_numpy(dtype=object), n)
        return np.repeat(cell // K, n), np.repeat(cell % K, n), users

    def calibration(self, kind: str) -> np.ndarray:
        values = np.zeros(3 * ECE_BINS + 2)
        part = self.of(CAL + kind)
        values[part["cell"].to_numpy(dtype=np.int64)] = part["value"].to_numpy()
        return values


def report(
    scores: Scores, kind: str, *, holdout_users: Sequence[str], reject_threshold: float,
    thresholds: GateThresholds, with_calibration: bool,
) -> EvaluationReport:
    """The evaluation report of one model from the counts (same code as the local engine)."""
    y, pred, users = scores.codes(kind)
    result = evaluate_predictions(kind, y, pred, users, proba=None, holdout_users=holdout_users,
                                  reject_threshold=reject_threshold, thresholds=thresholds)
    if not with_calibration or len(y) == 0:
        return result
    sums = scores.calibration(kind)
    count, conf_sum, acc_sum = sums[:ECE_BINS], sums[ECE_BINS:2 * ECE_BINS], sums[2 * ECE_BINS:3 * ECE_BINS]
    nonzero = count > 0
    curve = [CalibrationBin(confidence=float(conf_sum[b] / count[b]), accuracy=float(acc_sum[b] / count[b]),
                            count=int(round(count[b]))) for b in np.flatnonzero(nonzero)]
    return result.model_copy(update={
        "expected_calibration_error": float(np.abs(acc_sum[nonzero] - conf_sum[nonzero]).sum() / len(y)),
        "multiclass_brier_score": float(sums[_BRIER] / len(y)),
        "multiclass_log_loss": float(sums[_LOGLOSS] / len(y)),
        "calibration_curve": curve,
    })


def bootstrap(scores: Scores, *, resamples: int, seed: int) -> BootstrapInterval:
    """The paired bootstrap of challenger vs champion from the 648 cells (same code as local)."""
    part = scores.of(BOOTSTRAP)
    n = part["value"].to_numpy().round().astype(np.int64)
    cell = part["cell"].to_numpy(dtype=np.int64)
    y = np.repeat(cell // (K * K), n)
    a = np.repeat((cell // K) % K, n)
    b = np.repeat(cell % K, n)
    return paired_bootstrap(y, a, b, resamples=resamples, seed=seed)
