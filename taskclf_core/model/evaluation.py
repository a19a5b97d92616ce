"""Evaluation of a model (or the rule baseline) on labelled rows: the evidence for gates.

Predictions whose top probability is below the reject threshold become ``Mixed/Unknown``
(a reject): it counts as a miss for recall and as no prediction for precision. Macro-F1
averages the classes that are present in the evaluation rows or predicted; a class that
is neither has no precision ("n/a (no support, never predicted)") and never counts as 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from taskclf_core.data.schema import DEFAULT_REJECT_THRESHOLD, LABEL_TO_INDEX, LABELS
from taskclf_core.model.acceptance import (
    ACCEPT_BREAKIDLE_PRECISION,
    ACCEPT_BREAKIDLE_RECALL,
    ACCEPT_MACRO_F1,
    ACCEPT_MIN_CLASS_PRECISION,
    ACCEPT_REJECT_RATE,
    ACCEPT_SEEN_USER_F1,
    ACCEPT_UNSEEN_USER_F1,
    ACCEPT_WEIGHTED_F1,
    NA_PRECISION,
    acceptance_checks,
)
from taskclf_core.model.reports import (
    AcceptanceCheck,
    BootstrapInterval,
    CalibrationBin,
    ClassMetrics,
    EvaluationReport,
    UserMetrics,
)
from taskclf_core.model.thresholds import REFERENCE_THRESHOLDS, GateThresholds

N_CLASSES = len(LABELS)
REJECT_CODE = N_CLASSES
WILSON_Z = 1.959963984540054
ECE_BINS = 15



# --------------------------------------------------------------------------- helpers


def apply_reject(proba: np.ndarray, threshold: float) -> np.ndarray:
    """Predicted code per row: argmax, or ``REJECT_CODE`` when the top probability < threshold."""
    if len(proba) == 0:
        return np.zeros(0, dtype=np.int64)
    pred = proba.argmax(axis=1)
    return np.where(proba.max(axis=1) < threshold, REJECT_CODE, pred).astype(np.int64)


def confusion_counts(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """8 × 9 counts: rows true class, columns predicted class then reject."""
    return np.bincount(y * (N_CLASSES + 1) + pred, minlength=N_CLASSES * (N_CLASSES + 1)).reshape(
        N_CLASSES, N_CLASSES + 1
    )


def _f1_from_confusion(conf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class F1 and presence mask from (..., 8, 9) confusion counts (vectorised)."""
    tp = np.diagonal(conf[..., :N_CLASSES], axis1=-2, axis2=-1).astype(np.float64)
    support = conf.sum(axis=-1).astype(np.float64)
    predicted = conf[..., :N_CLASSES].sum(axis=-2).astype(np.float64)
    denom = support + predicted
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), 0.0)
    return f1, denom > 0


def macro_f1_from_confusion(conf: np.ndarray) -> np.ndarray | float:
    """Macro-F1 over present classes from (..., 8, 9) confusion counts."""
    f1, present = _f1_from_confusion(conf)
    n_present = present.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(n_present > 0, (f1 * present).sum(axis=-1) / np.maximum(n_present, 1), 0.0)
    return float(value) if np.ndim(value) == 0 else value


def wilson_interval(successes: int, n: int, z: float = WILSON_Z) -> tuple[float, float] | None:
    """Wilson score interval for a proportion, or ``None`` when ``n`` is 0."""
    if n <= 0:
        return None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _per_class(conf: np.ndarray) -> dict[str, ClassMetrics]:
    out: dict[str, ClassMetrics] = {}
    for c, name in enumerate(LABELS):
        tp = int(conf[c, c])
        support = int(conf[c].sum())
        predicted = int(conf[:N_CLASSES, c].sum())
        precision = tp / predicted if predicted else (0.0 if support else None)
        recall = tp / support if support else None
        if precision is None:
            f1 = None
        else:
            p, r = precision, recall or 0.0
            f1 = 2 * p * r / (p + r) if p + r > 0 else 0.0
        ci = wilson_interval(tp, predicted)
        out[name] = ClassMetrics(
            precision=precision,
            recall=recall,
            f1=f1,
            support=support,
            predicted=predicted,
            true_positives=tp,
            precision_ci_low=ci[0] if ci else None,
            precision_ci_high=ci[1] if ci else None,
            rejected=int(conf[c, REJECT_CODE]),
        )
    return out


def _user_codes(users: np.ndarray | Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Code per row into the sorted distinct user ids (each id as ``str``)."""
    raw = np.asarray(users)
    if raw.dtype == object and not pd.isna(raw).any():
        # Factorize the objects, then turn only the distinct ids into str: the same codes
        # as converting every row first, without a fixed-width copy of the column.
        codes, uniques = pd.factorize(raw)
        merged, names = pd.factorize(np.asarray(uniques).astype(str), sort=True)
        return merged[codes], np.asarray(names)
    codes, names = pd.factorize(raw.astype(str), sort=True)
    return codes, np.asarray(names)


def _per_user(
    y: np.ndarray, pred: np.ndarray, codes: np.ndarray, uniques: np.ndarray, held: set[str]
) -> dict[str, UserMetrics]:
    n_cells = N_CLASSES * (N_CLASSES + 1)
    conf = np.bincount(codes * n_cells + y * (N_CLASSES + 1) + pred, minlength=len(uniques) * n_cells)
    conf = conf.reshape(len(uniques), N_CLASSES, N_CLASSES + 1)
    macro = np.atleast_1d(macro_f1_from_confusion(conf))
    rows = conf.sum(axis=(1, 2))
    correct = np.trace(conf[:, :, :N_CLASSES], axis1=1, axis2=2)
    rejected = conf[:, :, REJECT_CODE].sum(axis=1)
    return {
        str(u): UserMetrics(
            rows=int(rows[i]),
            macro_f1=float(macro[i]),
            accuracy=float(correct[i] / rows[i]) if rows[i] else 0.0,
            reject_rate=float(rejected[i] / rows[i]) if rows[i] else 0.0,
            held_out=str(u) in held,
        )
        for i, u in enumerate(uniques)
    }


def _calibration(y: np.ndarray, proba: np.ndarray) -> tuple[float, float, float, list[CalibrationBin]]:
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == y
    bins = np.minimum((confidence * ECE_BINS).astype(np.int64), ECE_BINS - 1)
    count = np.bincount(bins, minlength=ECE_BINS)
    conf_sum = np.bincount(bins, weights=confidence, minlength=ECE_BINS)
    acc_sum = np.bincount(bins, weights=correct.astype(np.float64), minlength=ECE_BINS)
    nonzero = count > 0
    ece = float(np.abs(acc_sum[nonzero] - conf_sum[nonzero]).sum() / len(y))
    onehot = np.zeros_like(proba)
    onehot[np.arange(len(y)), y] = 1.0
    brier = float(((proba - onehot) ** 2).sum(axis=1).mean())
    log_loss = float(-np.log(np.clip(proba[np.arange(len(y)), y], 1e-15, 1.0)).mean())
    curve = [
        CalibrationBin(confidence=float(conf_sum[b] / count[b]), accuracy=float(acc_sum[b] / count[b]), count=int(count[b]))
        for b in np.flatnonzero(nonzero)
    ]
    return ece, brier, log_loss, curve


# --------------------------------------------------------------------------- public


def evaluate_predictions(
    model_name: str,
    y: np.ndarray,
    pred: np.ndarray,
    users: np.ndarray,
    *,
    proba: np.ndarray | None = None,
    holdout_users: Sequence[str] = (),
    reject_threshold: float = DEFAULT_REJECT_THRESHOLD,
    thresholds: GateThresholds = REFERENCE_THRESHOLDS,
) -> EvaluationReport:
    """Build the report from true codes and predicted codes (``REJECT_CODE`` = reject).

    Args:
        model_name: ``challenger``, ``champion`` or ``baseline`` (shown in reports).
        y: True class codes (alphabetical order).
        pred: Predicted codes after reject.
        users: User id per row.
        proba: Class probabilities before reject (calibration needs them; the baseline has none).
        holdout_users: Users held out of training (for seen/unseen F1).
        reject_threshold: The threshold that produced ``pred`` (recorded).
        thresholds: The acceptance thresholds (the ``gates:`` config section).

    Returns:
        The evaluation report.
    """
    y = np.asarray(y, dtype=np.int64)
    pred = np.asarray(pred, dtype=np.int64)
    conf = confusion_counts(y, pred)
    per_class = _per_class(conf)
    n = len(y)
    macro = float(macro_f1_from_confusion(conf))
    f1s = np.array([m.f1 or 0.0 for m in per_class.values()])
    supports = conf.sum(axis=1)
    weighted = float((f1s * supports).sum() / supports.sum()) if supports.sum() else 0.0
    reject_rate = float(conf[:, REJECT_CODE].sum() / n) if n else 0.0
    held = set(holdout_users)
    user_codes, user_names = _user_codes(users)
    seen = unseen = None
    if held:
        is_held = np.isin(user_names, list(held))[user_codes]
        if (~is_held).any():
            seen = float(macro_f1_from_confusion(confusion_counts(y[~is_held], pred[~is_held])))
        if is_held.any():
            unseen = float(macro_f1_from_confusion(confusion_counts(y[is_held], pred[is_held])))
    pairs: list[dict[str, str | int | float]] = []
    off = conf[:, :N_CLASSES].copy()
    np.fill_diagonal(off, 0)
    for flat in np.argsort(off, axis=None, kind="stable")[::-1][:5]:
        t, p = divmod(int(flat), N_CLASSES)
        if off[t, p] == 0:
            break
        pairs.append({"true": LABELS[t], "predicted": LABELS[p], "count": int(off[t, p]),
                      "share_of_true": float(off[t, p] / supports[t])})
    ece = brier = log_loss = None
    curve: list[CalibrationBin] = []
    if proba is not None and n:
        ece, brier, log_loss, curve = _calibration(y, proba)
    return EvaluationReport(
        model_name=model_name,
        n_rows=n,
        label_names=list(LABELS),
        macro_f1=macro,
        weighted_f1=weighted,
        accuracy=float(np.trace(conf[:, :N_CLASSES]) / n) if n else 0.0,
        per_class=per_class,
        confusion_matrix=conf[:, :N_CLASSES].tolist(),
        reject_rate=reject_rate,
        reject_threshold=reject_threshold,
        per_user=_per_user(y, pred, user_codes, user_names, held) if n else {},
        seen_user_f1=seen,
        unseen_user_f1=unseen,
        top_confusion_pairs=pairs,
        expected_calibration_error=ece,
        multiclass_brier_score=brier,
        multiclass_log_loss=log_loss,
        calibration_curve=curve,
        acceptance=acceptance_checks(macro, weighted, per_class, reject_rate, seen, unseen, thresholds),
        thresholds=thresholds,
    )


def paired_bootstrap(
    y: np.ndarray,
    pred_challenger: np.ndarray,
    pred_champion: np.ndarray,
    *,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> BootstrapInterval:
    """Paired bootstrap interval of macro-F1(challenger) − macro-F1(champion).

    Resampling rows with replacement only changes how often each (true, challenger,
    champion) cell occurs, so each resample is one multinomial draw over the 648 cells:
    exact, and independent of the number of rows.
    """
    y = np.asarray(y, dtype=np.int64)
    k = N_CLASSES + 1
    cells = np.bincount((y * k + pred_challenger) * k + pred_champion, minlength=N_CLASSES * k * k)
    n = int(cells.sum())
    point_a = macro_f1_from_confusion(cells.reshape(N_CLASSES, k, k).sum(axis=2))
    point_b = macro_f1_from_confusion(cells.reshape(N_CLASSES, k, k).sum(axis=1))
    difference = float(point_a) - float(point_b)
    if n == 0:
        return BootstrapInterval(difference=difference, low=difference, high=difference, level=level, resamples=0, seed=seed)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, cells / n, size=resamples).reshape(resamples, N_CLASSES, k, k)
    diffs = np.asarray(macro_f1_from_confusion(draws.sum(axis=3))) - np.asarray(
        macro_f1_from_confusion(draws.sum(axis=2))
    )
    alpha = (1 - level) / 2
    low, high = np.quantile(diffs, [alpha, 1 - alpha])
    return BootstrapInterval(difference=difference, low=float(low), high=float(high), level=level, resamples=resamples, seed=seed)


__all__ = [
    "ACCEPT_BREAKIDLE_PRECISION",
    "ACCEPT_BREAKIDLE_RECALL",
    "ACCEPT_MACRO_F1",
    "ACCEPT_MIN_CLASS_PRECISION",
    "ACCEPT_REJECT_RATE",
    "ACCEPT_SEEN_USER_F1",
    "ACCEPT_UNSEEN_USER_F1",
    "ACCEPT_WEIGHTED_F1",
    "NA_PRECISION",
    "AcceptanceCheck",
    "CalibrationBin",
    "UserMetrics",
    "BootstrapInterval",
    "ClassMetrics",
    "EvaluationReport",
    "LABEL_TO_INDEX",
    "apply_reject",
    "evaluate_predictions",
    "paired_bootstrap",
]
