"""The data behind each review chart: pandas frames built from evaluation records.

Pure functions (no altair), so tests can check what a chart shows without a renderer;
:mod:`taskclf_core.console.reports.charts` draws them. Also the display order, titles and colours
of the three models, shared by the charts and the HTML report.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pandas as pd

from taskclf_core.data.schema import LABELS, REJECT_LABEL
from taskclf_core.model.evaluation import (
    ACCEPT_BREAKIDLE_PRECISION,
    ACCEPT_BREAKIDLE_RECALL,
    ACCEPT_MACRO_F1,
    ACCEPT_REJECT_RATE,
    ACCEPT_WEIGHTED_F1,
)
from taskclf_core.model.reports import BootstrapInterval, ClassMetrics, EvaluationReport
from taskclf_core.model.thresholds import GateThresholds

#: Display order and colours of the three models (the same on every chart).
MODEL_ORDER: tuple[str, ...] = ("champion", "challenger", "baseline")
MODEL_TITLES: dict[str, str] = {"champion": "champion", "challenger": "challenger", "baseline": "rule baseline"}
MODEL_COLOURS: dict[str, str] = {"champion": "#4c78a8", "challenger": "#f58518", "baseline": "#9d9d9d"}

#: Headline metrics: (label, how to read it from a report).
METRICS: tuple[str, ...] = (
    "macro-F1",
    "weighted-F1",
    "reject rate",
    "BreakIdle precision",
    "BreakIdle recall",
)
#: Acceptance thresholds drawn as rules: (metric, threshold, label).
THRESHOLDS: tuple[tuple[str, float, str], ...] = (
    ("macro-F1", ACCEPT_MACRO_F1, f">= {ACCEPT_MACRO_F1}"),
    ("weighted-F1", ACCEPT_WEIGHTED_F1, f">= {ACCEPT_WEIGHTED_F1}"),
    ("reject rate", ACCEPT_REJECT_RATE[0], f">= {ACCEPT_REJECT_RATE[0]}"),
    ("reject rate", ACCEPT_REJECT_RATE[1], f"<= {ACCEPT_REJECT_RATE[1]}"),
    ("BreakIdle precision", ACCEPT_BREAKIDLE_PRECISION, f">= {ACCEPT_BREAKIDLE_PRECISION}"),
    ("BreakIdle recall", ACCEPT_BREAKIDLE_RECALL, f">= {ACCEPT_BREAKIDLE_RECALL}"),
)
PREDICTED_COLUMNS: tuple[str, ...] = (*LABELS, REJECT_LABEL)

Reports = Mapping[str, EvaluationReport | None]


def _models(reports: Reports) -> list[str]:
    return [m for m in MODEL_ORDER if reports.get(m) is not None]


def _metric_value(report: EvaluationReport, metric: str) -> float | None:
    breakidle = report.per_class.get("BreakIdle")
    values: dict[str, float | None] = {
        "macro-F1": report.macro_f1,
        "weighted-F1": report.weighted_f1,
        "reject rate": report.reject_rate,
        "BreakIdle precision": breakidle.precision if breakidle else None,
        "BreakIdle recall": breakidle.recall if breakidle else None,
    }
    return values[metric]


def metrics_frame(reports: Reports) -> pd.DataFrame:
    """One row per (metric, model) with its value; undefined values are left out."""
    rows = []
    for model in _models(reports):
        report = reports[model]
        assert report is not None
        for metric in METRICS:
            value = _metric_value(report, metric)
            if value is not None:
                rows.append({"metric": metric, "model": model, "value": float(value)})
    return pd.DataFrame(rows, columns=["metric", "model", "value"])


def thresholds_frame(thresholds: GateThresholds | None = None) -> pd.DataFrame:
    """The acceptance thresholds of the headline metrics (one row per rule).

    Args:
        thresholds: The thresholds the run was judged by (``gates:`` of its config);
            the reference values when None.
    """
    if thresholds is None:
        return pd.DataFrame(THRESHOLDS, columns=["metric", "threshold", "rule"])
    t = thresholds
    rows = [
        ("macro-F1", t.macro_f1, f">= {t.macro_f1}"),
        ("weighted-F1", t.weighted_f1, f">= {t.weighted_f1}"),
        ("reject rate", t.reject_rate_min, f">= {t.reject_rate_min}"),
        ("reject rate", t.reject_rate_max, f"<= {t.reject_rate_max}"),
        ("BreakIdle precision", t.breakidle_precision, f">= {t.breakidle_precision}"),
        ("BreakIdle recall", t.breakidle_recall, f">= {t.breakidle_recall}"),
    ]
    return pd.DataFrame(rows, columns=["metric", "threshold", "rule"])


def tolerance_frame(champion_macro_f1: float | None, tolerance: float) -> pd.DataFrame:
    """The tolerance band around the champion's macro-F1 (empty without a champion)."""
    columns = ["metric", "low", "high", "champion", "tolerance"]
    if champion_macro_f1 is None:
        return pd.DataFrame([], columns=columns)
    row = {
        "metric": "macro-F1",
        "low": max(0.0, champion_macro_f1 - tolerance),
        "high": min(1.0, champion_macro_f1 + tolerance),
        "champion": champion_macro_f1,
        "tolerance": tolerance,
    }
    return pd.DataFrame([row], columns=columns)


def _per_class(reports: Reports) -> Iterator[tuple[str, str, ClassMetrics]]:
    """``(model, class, its metrics)`` of every model shown, in display order."""
    for model in _models(reports):
        report = reports[model]
        assert report is not None
        for label in LABELS:
            cm = report.per_class.get(label)
            if cm is not None:
                yield model, label, cm


def _precision_defined(cm: ClassMetrics) -> bool:
    """Precision is defined when the model predicts the class at least once."""
    return cm.precision is not None and cm.predicted > 0


def _recall_defined(cm: ClassMetrics) -> bool:
    """Recall is defined when the test rows hold the class at least once."""
    return cm.recall is not None and cm.support > 0


def per_class_frame(reports: Reports) -> pd.DataFrame:
    """One row per (measure, class, model): precision or recall, rows behind it, CI.

    A precision that is undefined (the class is never predicted) is left out, never 0;
    :func:`undefined_frame` says why.
    """
    rows = []
    for model, label, cm in _per_class(reports):
        if _precision_defined(cm):
            rows.append({"measure": "precision", "class": label, "model": model, "value": float(cm.precision or 0.0),
                         "n": cm.predicted, "ci_low": cm.precision_ci_low, "ci_high": cm.precision_ci_high})
        if _recall_defined(cm):
            rows.append({"measure": "recall", "class": label, "model": model, "value": float(cm.recall or 0.0),
                         "n": cm.support, "ci_low": None, "ci_high": None})
    return pd.DataFrame(rows, columns=["measure", "class", "model", "value", "n", "ci_low", "ci_high"])


def models_shown(reports: Reports) -> list[str]:
    """The models a chart shows, in display order (no champion when the run had none)."""
    return _models(reports)


def undefined_frame(reports: Reports) -> pd.DataFrame:
    """One row per (measure, class, model) whose value is undefined, with why (no bar is drawn).

    Precision is undefined for a class the model never predicts; recall for a class with no
    rows among the test rows.
    """
    rows = []
    for model, label, cm in _per_class(reports):
        if not _precision_defined(cm):
            rows.append({"measure": "precision", "class": label, "model": model, "why": "never predicted"})
        if not _recall_defined(cm):
            rows.append({"measure": "recall", "class": label, "model": model, "why": "no rows of this class"})
    return pd.DataFrame(rows, columns=["measure", "class", "model", "why"])


def undefined_notes(reports: Reports) -> list[str]:
    """Why some per-class bars are missing, one line per model and reason (empty when none are)."""
    frame = undefined_frame(reports)
    lines = []
    for model in _models(reports):
        for why, measure in (("never predicts", "precision"), ("has no test rows of", "recall")):
            classes = frame[(frame["model"] == model) & (frame["measure"] == measure)]["class"].tolist()
            if classes:
                lines.append(f"n/a: the {MODEL_TITLES[model]} {why} {', '.join(classes)}, so its {measure} there is undefined (no bar)")
    return lines


def confusion_frame(reports: Reports) -> pd.DataFrame:
    """Row-normalised confusion cells per model, with a ``Mixed/Unknown`` (reject) column.

    ``share`` is the count divided by the true class's rows (rejects included), so each
    row sums to 1; rows of absent classes have share 0.
    """
    rows = []
    for model in _models(reports):
        report = reports[model]
        assert report is not None
        for i, true in enumerate(LABELS):
            counts = [int(v) for v in report.confusion_matrix[i]]
            cm = report.per_class.get(true)
            counts.append(cm.rejected if cm else 0)
            total = sum(counts)
            for predicted, count in zip(PREDICTED_COLUMNS, counts, strict=True):
                rows.append(
                    {
                        "model": model, "true": true, "predicted": predicted, "count": count,
                        "share": count / total if total else 0.0,
                    }
                )
    return pd.DataFrame(rows, columns=["model", "true", "predicted", "count", "share"])


def bootstrap_frame(bootstrap: BootstrapInterval, tolerance: float) -> pd.DataFrame:
    """The macro-F1 difference (challenger − champion), its interval and the gate's edge."""
    return pd.DataFrame(
        [
            {
                "comparison": "challenger - champion",
                "difference": bootstrap.difference,
                "low": bootstrap.low,
                "high": bootstrap.high,
                "level": bootstrap.level,
                "resamples": bootstrap.resamples,
                "tolerance_edge": -tolerance,
            }
        ]
    )


def per_user_frame(reports: Reports) -> pd.DataFrame:
    """One row per (user, model) with macro-F1, rows and whether the user was held out."""
    rows = []
    for model in _models(reports):
        report = reports[model]
        assert report is not None
        for user, um in report.per_user.items():
            rows.append(
                {"user": user, "model": model, "macro_f1": um.macro_f1, "rows": um.rows, "held_out": um.held_out}
            )
    return pd.DataFrame(rows, columns=["user", "model", "macro_f1", "rows", "held_out"])
