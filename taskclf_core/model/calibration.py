"""Calibrators as taskclf applies and fits them, per-user eligibility, and ``tune-reject``.

The arithmetic follows ``tests/fixtures/upstream-policy/README.md`` ("Serving: order of
operations and exact arithmetic", "How ``train calibrate`` fits", "How ``train
tune-reject`` picks the threshold") so that a calibrated probability here is the one
taskclf serves, bit for bit where the README says it is CPU-independent:

* temperature: ``z = log(clip(p, 1e-12)) / T``, ``z -= max(z)``, ``q = exp(z) / sum``
  (numpy's ``exp``/``log`` and its pairwise row sum; ``T == 1.0`` returns ``p`` itself);
* isotonic: per class ``clip(interp(clip(p_c, X_min, X_max), X, Y), 1e-12)``, then the
  row divided by its sum;
* identity: ``p`` unchanged.

Pure functions of arrays: reading and writing a calibrator store is
``taskclf_core.registry.calstore``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np

from taskclf_core.data.schema import DEFAULT_REJECT_THRESHOLD, LABELS

EPS: Final = 1e-12
CalibrationMethod = Literal["temperature", "isotonic"]
CALIBRATION_METHODS: Final = ("temperature", "isotonic")

#: taskclf's personalisation defaults (``core/defaults.py``): a user needs this many
#: validation windows, distinct UTC days and distinct labels for a calibrator of their own.
DEFAULT_MIN_WINDOWS: Final = 200
DEFAULT_MIN_DAYS: Final = 3
DEFAULT_MIN_LABELS: Final = 3

#: ``tune-reject``'s grid (0.10, 0.15, …, 0.95) and its accepted reject-rate range.
TUNE_GRID: Final = tuple(float(t) for t in np.round(np.arange(0.10, 1.00, 0.05), 2))
TUNE_REJECT_RATE_MIN: Final = 0.05
TUNE_REJECT_RATE_MAX: Final = 0.30


# --------------------------------------------------------------------------- calibrators


@dataclass(frozen=True)
class IdentityCalibrator:
    """No calibration: probabilities are served as the model gives them."""

    kind: Literal["identity"] = "identity"

    def apply(self, proba: np.ndarray) -> np.ndarray:
        return proba


@dataclass(frozen=True)
class TemperatureCalibrator:
    """Temperature scaling of the log-probabilities (taskclf's ``TemperatureCalibrator``)."""

    temperature: float
    kind: Literal["temperature"] = "temperature"

    def apply(self, proba: np.ndarray) -> np.ndarray:
        if self.temperature == 1.0:
            return proba
        scaled = np.log(np.clip(proba, EPS, None)) / self.temperature
        shifted = scaled - scaled.max(axis=-1, keepdims=True)
        exp_vals = np.exp(shifted)
        return exp_vals / exp_vals.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class IsotonicRegressor:
    """One class's fitted isotonic map, as taskclf stores it (sklearn's fitted fields)."""

    x_thresholds: tuple[float, ...]
    y_thresholds: tuple[float, ...]
    x_min: float
    x_max: float
    increasing: bool = True
    out_of_bounds: str = "clip"

    def predict(self, values: np.ndarray) -> np.ndarray:
        clipped = np.clip(values, self.x_min, self.x_max)
        return np.interp(clipped, np.asarray(self.x_thresholds), np.asarray(self.y_thresholds))


@dataclass(frozen=True)
class IsotonicCalibrator:
    """Per-class isotonic regression, then the row renormalised (taskclf's ``IsotonicCalibrator``)."""

    regressors: tuple[IsotonicRegressor, ...]
    kind: Literal["isotonic"] = "isotonic"

    def apply(self, proba: np.ndarray) -> np.ndarray:
        out = np.empty_like(proba)
        for c, reg in enumerate(self.regressors):
            out[:, c] = np.clip(reg.predict(proba[:, c]), EPS, None)
        return out / out.sum(axis=1, keepdims=True)


Calibrator = IdentityCalibrator | TemperatureCalibrator | IsotonicCalibrator

#: What calibrated a row: no store (``identity``), the row's user's own calibrator
#: (``user``) or the store's global one (``global``): the ``calibrator`` column of the
#: fixture's ``predictions.csv``.
CalibratorRoute = Literal["identity", "user", "global"]


@dataclass(frozen=True)
class CalibratorSet:
    """A calibrator store in memory: a global calibrator and per-user ones.

    A user matches on the exact ``user_id`` string; everyone else gets the global one.
    """

    method: str
    global_calibrator: Calibrator
    user_calibrators: Mapping[str, Calibrator] = field(default_factory=dict)

    def for_user(self, user_id: str) -> Calibrator:
        """The calibrator a row of ``user_id`` is served with."""
        return self.user_calibrators.get(user_id, self.global_calibrator)

    def calibrate(self, proba: np.ndarray, user_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each row with its user's calibrator (else the global one), as taskclf serves it.

        Every operation is row-wise, so applying one calibrator to all of a user's rows at
        once gives the same numbers as taskclf's row-by-row loop.

        Returns:
            The calibrated probabilities and, per row, ``"user"`` or ``"global"``.
        """
        out = np.empty_like(proba)
        routes = np.full(len(proba), "global", dtype=object)
        users = np.asarray(user_ids).astype(str)
        own = np.isin(users, list(self.user_calibrators)) if self.user_calibrators else np.zeros(len(users), bool)
        if (~own).any():
            out[~own] = self.global_calibrator.apply(proba[~own])
        for uid in np.unique(users[own]):
            rows = users == uid
            out[rows] = self.user_calibrators[str(uid)].apply(proba[rows])
            routes[rows] = "user"
        return out, routes


# --------------------------------------------------------------------------- fitting


def _nll(proba: np.ndarray, y: np.ndarray) -> float:
    selected = proba[np.arange(len(y)), y]
    return -float(np.mean(np.log(np.clip(selected, EPS, None))))


def fit_temperature(y: np.ndarray, proba: np.ndarray) -> TemperatureCalibrator:
    """The temperature minimising the mean NLL of the true class, by taskclf's two-pass grid.

    Coarse ``0.1 … 5.0`` step 0.1 from ``T = 1.0``, then ``±0.1`` around the best at step
    0.01; a candidate wins only when strictly better; rounded to 4 places.
    """
    logits = np.log(np.clip(proba, EPS, None))

    def nll(t: float) -> float:
        scaled = logits / t
        shifted = scaled - scaled.max(axis=-1, keepdims=True)
        exp_vals = np.exp(shifted)
        return _nll(exp_vals / exp_vals.sum(axis=-1, keepdims=True), y)

    best_t, best = 1.0, nll(1.0)
    for t in np.arange(0.1, 5.05, 0.1):
        value = nll(float(t))
        if value < best:
            best, best_t = value, float(t)
    for t in np.arange(max(0.01, best_t - 0.1), best_t + 0.1 + 0.005, 0.01):
        value = nll(float(t))
        if value < best:
            best, best_t = value, float(t)
    return TemperatureCalibrator(temperature=round(best_t, 4))


def fit_isotonic(y: np.ndarray, proba: np.ndarray) -> IsotonicCalibrator:
    """Per class, sklearn's ``IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip")``.

    A class absent from ``y`` gets an all-zero map, as in taskclf.
    """
    from sklearn.isotonic import IsotonicRegression  # imported where it is used: it is heavy

    regressors = []
    for c in range(len(LABELS)):
        reg = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        reg.fit(proba[:, c], (y == c).astype(np.float64))
        regressors.append(
            IsotonicRegressor(
                x_thresholds=tuple(float(v) for v in reg.X_thresholds_),
                y_thresholds=tuple(float(v) for v in reg.y_thresholds_),
                x_min=float(reg.X_min_),
                x_max=float(reg.X_max_),
                increasing=bool(reg.increasing_),
                out_of_bounds=str(reg.out_of_bounds),
            )
        )
    return IsotonicCalibrator(tuple(regressors))


def fit_calibrator(method: str, y: np.ndarray, proba: np.ndarray) -> Calibrator:
    """A calibrator of ``method`` fitted on codes ``y`` and raw probabilities ``proba``."""
    if method == "isotonic":
        return fit_isotonic(y, proba)
    if method == "temperature":
        return fit_temperature(y, proba)
    raise ValueError(f"calibration method must be one of {', '.join(CALIBRATION_METHODS)}; got {method!r}")


@dataclass(frozen=True)
class Eligibility:
    """Whether a user qualifies for a calibrator of their own, with the counts behind it."""

    user_id: str
    windows: int
    days: int
    labels: int
    eligible: bool


@dataclass(frozen=True)
class EligibilityRule:
    """taskclf's personalisation bar (``--min-windows``, ``--min-days``, ``--min-labels``)."""

    min_windows: int = DEFAULT_MIN_WINDOWS
    min_days: int = DEFAULT_MIN_DAYS
    min_labels: int = DEFAULT_MIN_LABELS

    def of_user(self, user_id: str, y: np.ndarray, days: np.ndarray) -> Eligibility:
        """Eligibility from one user's validation rows (codes ``y``, UTC day keys ``days``)."""
        windows, n_days, n_labels = len(y), len(np.unique(days)), len(np.unique(y))
        ok = windows >= self.min_windows and n_days >= self.min_days and n_labels >= self.min_labels
        return Eligibility(user_id, windows, n_days, n_labels, bool(windows and ok))


def fit_calibrator_set(
    method: str,
    y: np.ndarray,
    proba: np.ndarray,
    user_ids: np.ndarray,
    days: np.ndarray,
    rule: EligibilityRule = EligibilityRule(),
) -> tuple[CalibratorSet, list[Eligibility]]:
    """taskclf's ``fit_calibrator_store``: a global calibrator on every row, then one per eligible user.

    Args:
        method: ``temperature`` or ``isotonic``.
        y: True class codes of the validation rows.
        proba: The model's raw probabilities on them.
        user_ids: User id per row.
        days: UTC day per row (any sortable key; only distinct values are counted).
        rule: The eligibility bar.

    Returns:
        The set and every user's eligibility (sorted by user id).
    """
    users = np.asarray(user_ids).astype(str)
    global_cal = fit_calibrator(method, y, proba)
    own: dict[str, Calibrator] = {}
    report = []
    for uid in sorted(set(users.tolist())):
        rows = users == uid
        verdict = rule.of_user(uid, y[rows], np.asarray(days)[rows])
        report.append(verdict)
        if verdict.eligible:
            own[uid] = fit_calibrator(method, y[rows], proba[rows])
    return CalibratorSet(method=method, global_calibrator=global_cal, user_calibrators=own), report


# --------------------------------------------------------------------------- tune-reject


@dataclass(frozen=True)
class SweepRow:
    """One threshold of the sweep (rounded to 4 places, as taskclf's report)."""

    threshold: float
    accuracy_on_accepted: float
    reject_rate: float
    coverage: float
    macro_f1: float


@dataclass(frozen=True)
class RejectTuning:
    """``tune-reject``'s result: the threshold picked and the whole sweep."""

    best_threshold: float
    sweep: tuple[SweepRow, ...]
    #: True when no threshold had a reject rate in range and the default 0.55 was kept.
    fell_back: bool = False


def _macro_f1_all_labels(y: np.ndarray, pred: np.ndarray) -> float:
    """Macro-F1 over the 8 labels with zero_division 0 (sklearn's ``f1_score(labels=…)``)."""
    scores = []
    for c in range(len(LABELS)):
        tp = int(np.sum((pred == c) & (y == c)))
        fp = int(np.sum((pred == c) & (y != c)))
        fn = int(np.sum((pred != c) & (y == c)))
        denom = 2 * tp + fp + fn
        scores.append(2 * tp / denom if denom else 0.0)
    return float(np.mean(scores))


def tune_reject_threshold(
    y: np.ndarray,
    proba: np.ndarray,
    *,
    grid: Sequence[float] = TUNE_GRID,
    reject_rate_min: float = TUNE_REJECT_RATE_MIN,
    reject_rate_max: float = TUNE_REJECT_RATE_MAX,
) -> RejectTuning:
    """taskclf's ``tune_reject_threshold`` on probabilities already calibrated as decided.

    For each ``t``: rows with ``max(p) < t`` are rejected; the pick is the highest
    (unrounded) accuracy on accepted rows among thresholds whose reject rate lies in
    ``[reject_rate_min, reject_rate_max]``, the lowest ``t`` winning ties; with none in
    range the default 0.55 is kept.
    """
    pred = proba.argmax(axis=1)
    confidence = proba.max(axis=1)
    best_t, best_acc, rows = DEFAULT_REJECT_THRESHOLD, -1.0, []
    for t in grid:
        rejected = confidence < t
        rate = float(rejected.mean()) if len(rejected) else 0.0
        accepted = ~rejected
        if accepted.any():
            acc = float(np.mean(pred[accepted] == y[accepted]))
            mf1 = _macro_f1_all_labels(y[accepted], pred[accepted])
        else:
            acc = mf1 = 0.0
        rows.append(SweepRow(round(float(t), 4), round(acc, 4), round(rate, 4), round(1.0 - rate, 4), round(mf1, 4)))
        if reject_rate_min <= rate <= reject_rate_max and acc > best_acc:
            best_acc, best_t = acc, float(t)
    return RejectTuning(best_threshold=round(best_t, 4), sweep=tuple(rows), fell_back=best_acc < 0)


__all__ = [
    "CALIBRATION_METHODS",
    "CalibrationMethod",
    "Calibrator",
    "CalibratorRoute",
    "CalibratorSet",
    "Eligibility",
    "EligibilityRule",
    "IdentityCalibrator",
    "IsotonicCalibrator",
    "IsotonicRegressor",
    "RejectTuning",
    "SweepRow",
    "TemperatureCalibrator",
    "TUNE_GRID",
    "fit_calibrator",
    "fit_calibrator_set",
    "fit_isotonic",
    "fit_temperature",
    "tune_reject_threshold",
]
