"""What a deployment does after the model: calibrate, apply the reject threshold, label.

taskclf's serving order (``tests/fixtures/upstream-policy/README.md``, "Serving"): the
model's raw probabilities; each row calibrated with its user's calibrator where the store
has one, else the store's global one (no store: unchanged); ``confidence = max(q)``; the
row rejected iff ``confidence < threshold`` (strict), the threshold being the row's user's
``per_user_reject_thresholds`` entry where the path applies them, else the policy's; the
label is ``argmax(q)`` (first maximum) or ``Mixed/Unknown`` when rejected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from taskclf_core.data.schema import DEFAULT_REJECT_THRESHOLD
from taskclf_core.model.calibration import CalibratorSet
from taskclf_core.model.evaluation import REJECT_CODE


@dataclass(frozen=True)
class ServingRule:
    """The part of a deployment applied after the model.

    ``calibrators`` None means no store (identity). ``per_user_thresholds`` is empty for a
    serving path that ignores them (the tray, ``infer batch``).
    """

    calibrators: CalibratorSet | None = None
    reject_threshold: float = DEFAULT_REJECT_THRESHOLD
    per_user_thresholds: Mapping[str, float] = field(default_factory=dict)

    @property
    def is_raw(self) -> bool:
        """No calibration and one threshold: the raw model with a reject rule."""
        return self.calibrators is None and not self.per_user_thresholds


RAW_RULE = ServingRule()


@dataclass(frozen=True)
class ServedOutputs:
    """Per row: the served probabilities, how they were calibrated, the threshold, the label code."""

    proba: np.ndarray
    routes: np.ndarray
    thresholds: np.ndarray
    argmax: np.ndarray
    #: Predicted class code, ``REJECT_CODE`` where rejected (what evaluation takes).
    pred: np.ndarray


def row_thresholds(rule: ServingRule, user_ids: np.ndarray) -> np.ndarray:
    """The threshold applied to each row (a user's own where listed, else the global one)."""
    out = np.full(len(user_ids), float(rule.reject_threshold), dtype=np.float64)
    if rule.per_user_thresholds:
        users = np.asarray(user_ids).astype(str)
        for uid, value in rule.per_user_thresholds.items():
            out[users == uid] = float(value)
    return out


def serve(raw: np.ndarray, user_ids: np.ndarray, rule: ServingRule) -> ServedOutputs:
    """Apply ``rule`` to the model's raw probabilities, as taskclf serves them.

    Args:
        raw: The model's probabilities, rows × classes in label order.
        user_ids: The user of each row.
        rule: Calibrators and thresholds.

    Returns:
        The served outputs.
    """
    if rule.calibrators is None:
        proba = raw
        routes = np.full(len(raw), "identity", dtype=object)
    else:
        proba, routes = rule.calibrators.calibrate(raw, user_ids)
    thresholds = row_thresholds(rule, user_ids)
    if len(proba) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return ServedOutputs(proba, routes, thresholds, empty, empty)
    argmax = proba.argmax(axis=1).astype(np.int64)
    pred = np.where(proba.max(axis=1) < thresholds, REJECT_CODE, argmax).astype(np.int64)
    return ServedOutputs(proba, routes, thresholds, argmax, pred)


__all__ = ["RAW_RULE", "ServedOutputs", "ServingRule", "row_thresholds", "serve"]
