"""Altair chart builders for the review of one run, and their offline export.

The only module that imports altair. Every builder is a pure function of evaluation
records returning a chart object (``alt.Chart`` or a layered / faceted chart built from
``alt.Chart``), shared by the Review page, the HTML report and the CLI. The data behind
each chart is built by a ``*_frame`` function so tests can check it without a renderer.

Export (:func:`to_png`, :func:`to_svg`, :func:`to_vegalite_json`) uses vl-convert, which
embeds Vega and Vega-Lite: no network, no browser.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeAlias

import altair as alt
import pandas as pd
import vl_convert

from taskclf_core.data.schema import LABELS, REJECT_LABEL
from taskclf_core.model.evaluation import (
    ACCEPT_BREAKIDLE_PRECISION,
    ACCEPT_BREAKIDLE_RECALL,
    ACCEPT_MACRO_F1,
    ACCEPT_REJECT_RATE,
    ACCEPT_WEIGHTED_F1,
    BootstrapInterval,
    EvaluationReport,
)

#: What the builders return: a plain, layered or faceted Altair chart.
AnyChart: TypeAlias = alt.Chart | alt.LayerChart | alt.FacetChart | alt.HConcatChart | alt.VConcatChart

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


def _model_colour() -> alt.Color:
    return alt.Color(
        "model:N",
        title="model",
        scale=alt.Scale(domain=list(MODEL_ORDER), range=[MODEL_COLOURS[m] for m in MODEL_ORDER]),
        sort=list(MODEL_ORDER),
    )


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


# --------------------------------------------------------------------------- headline


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


def thresholds_frame() -> pd.DataFrame:
    """The acceptance thresholds of the headline metrics (one row per rule)."""
    return pd.DataFrame(THRESHOLDS, columns=["metric", "threshold", "rule"])


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


def metrics_chart(reports: Reports, *, tolerance: float) -> alt.LayerChart:
    """Macro-F1, weighted-F1, reject rate and BreakIdle precision/recall, side by side.

    Bars per model (champion, challenger, rule baseline) for each metric; every acceptance
    threshold as a black rule across its metric; the regression tolerance as a shaded
    band around the champion's macro-F1 (the challenger passes the comparative gate when
    it reaches the band's lower edge).

    Args:
        reports: ``challenger``, ``champion`` (may be None) and ``baseline`` reports.
        tolerance: ``regression_tolerance`` of the run's configuration.

    Returns:
        A layered chart: band, bars, value labels, threshold rules.
    """
    champion = reports.get("champion")
    x = alt.X("metric:N", sort=list(METRICS), title=None, axis=alt.Axis(labelAngle=0))
    y = alt.Y("value:Q", scale=alt.Scale(domain=[0, 1]), title="value")
    band = (
        alt.Chart(tolerance_frame(champion.macro_f1 if champion else None, tolerance))
        .mark_bar(color=MODEL_COLOURS["champion"], opacity=0.18)
        .encode(
            x=x,
            y=alt.Y("low:Q", scale=alt.Scale(domain=[0, 1])),
            y2="high:Q",
            tooltip=[
                alt.Tooltip("champion:Q", format=".4f", title="champion macro-F1"),
                alt.Tooltip("tolerance:Q", title="regression tolerance"),
                alt.Tooltip("low:Q", format=".4f", title="challenger must reach"),
            ],
        )
    )
    data = metrics_frame(reports)
    bars = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=x,
            xOffset=alt.XOffset("model:N", sort=list(MODEL_ORDER)),
            y=y,
            color=_model_colour(),
            tooltip=["metric:N", "model:N", alt.Tooltip("value:Q", format=".4f")],
        )
    )
    labels = (
        alt.Chart(data)
        .mark_text(dy=-5, fontSize=9)
        .encode(
            x=x,
            xOffset=alt.XOffset("model:N", sort=list(MODEL_ORDER)),
            y=y,
            text=alt.Text("value:Q", format=".2f"),
        )
    )
    rules = (
        alt.Chart(thresholds_frame())
        .mark_tick(color="black", thickness=2, size=70)
        .encode(
            x=x,
            y=alt.Y("threshold:Q", scale=alt.Scale(domain=[0, 1])),
            tooltip=["metric:N", alt.Tooltip("rule:N", title="threshold")],
        )
    )
    return alt.LayerChart(layer=[band, bars, labels, rules]).properties(
        title="Headline metrics (black rules: thresholds; shaded: tolerance around the champion)",
        width=620,
        height=300,
    )


# --------------------------------------------------------------------------- per class


def per_class_frame(reports: Reports) -> pd.DataFrame:
    """One row per (measure, class, model): precision or recall, rows behind it, CI.

    A precision that is undefined (no support, never predicted) is left out, never 0.
    """
    rows = []
    for model in _models(reports):
        report = reports[model]
        assert report is not None
        for label in LABELS:
            cm = report.per_class.get(label)
            if cm is None:
                continue
            if cm.precision is not None:
                rows.append(
                    {
                        "measure": "precision", "class": label, "model": model,
                        "value": float(cm.precision), "n": cm.predicted,
                        "ci_low": cm.precision_ci_low, "ci_high": cm.precision_ci_high,
                    }
                )
            if cm.recall is not None:
                rows.append(
                    {
                        "measure": "recall", "class": label, "model": model,
                        "value": float(cm.recall), "n": cm.support,
                        "ci_low": None, "ci_high": None,
                    }
                )
    return pd.DataFrame(rows, columns=["measure", "class", "model", "value", "n", "ci_low", "ci_high"])


def per_class_chart(reports: Reports) -> alt.FacetChart:
    """Per-class precision and recall, grouped by class, one panel per measure.

    Precision bars carry their 95 % Wilson interval; tooltips show the rows behind each
    value (predicted rows for precision, support for recall).
    """
    x = alt.X("class:N", sort=list(LABELS), title=None, axis=alt.Axis(labelAngle=-30))
    offset = alt.XOffset("model:N", sort=list(MODEL_ORDER))
    bars = alt.Chart().mark_bar().encode(
        x=x,
        xOffset=offset,
        y=alt.Y("value:Q", scale=alt.Scale(domain=[0, 1]), title=None),
        color=_model_colour(),
        tooltip=[
            "measure:N", "class:N", "model:N", alt.Tooltip("value:Q", format=".4f"),
            alt.Tooltip("n:Q", title="rows"),
            alt.Tooltip("ci_low:Q", format=".3f", title="95% CI low"),
            alt.Tooltip("ci_high:Q", format=".3f", title="95% CI high"),
        ],
    )
    whiskers = alt.Chart().mark_rule(color="black").encode(
        x=x, xOffset=offset, y="ci_low:Q", y2="ci_high:Q"
    )
    return (
        alt.layer(bars, whiskers, data=per_class_frame(reports))
        .properties(width=620, height=160)
        .facet(row=alt.Row("measure:N", title=None, sort=["precision", "recall"]))
        .properties(title="Per-class precision and recall (whiskers: 95% Wilson interval)")
    )


# --------------------------------------------------------------------------- confusion


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


def confusion_chart(reports: Reports) -> alt.FacetChart:
    """Confusion matrices side by side: row-normalised heat maps with the counts written in."""
    x = alt.X("predicted:N", sort=list(PREDICTED_COLUMNS), title="predicted", axis=alt.Axis(labelAngle=-40))
    y = alt.Y("true:N", sort=list(LABELS), title="true")
    cells = alt.Chart().mark_rect().encode(
        x=x,
        y=y,
        color=alt.Color("share:Q", scale=alt.Scale(scheme="blues", domain=[0, 1]), title="row share"),
        tooltip=["true:N", "predicted:N", "count:Q", alt.Tooltip("share:Q", format=".1%")],
    )
    text = alt.Chart().mark_text(fontSize=9).encode(
        x=x,
        y=y,
        text="count:Q",
        color=alt.condition("datum.share > 0.5", alt.value("white"), alt.value("black")),
    )
    return (
        alt.layer(cells, text, data=confusion_frame(reports))
        .properties(width=260, height=220)
        .facet(column=alt.Column("model:N", title=None, sort=list(MODEL_ORDER)))
        .properties(title="Confusion matrices (rows: true class, normalised; last column: rejected)")
    )


# --------------------------------------------------------------------------- bootstrap

#: Plot height of the bootstrap chart: one row, but tall enough that the interval, the
#: zero line and the -tolerance rule stay visible in the page as in the export.
BOOTSTRAP_HEIGHT = 140


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


def bootstrap_chart(bootstrap: BootstrapInterval, *, tolerance: float) -> alt.LayerChart:
    """The macro-F1 difference with its paired-bootstrap interval against the tolerance.

    The comparative gate passes when the point difference is at least ``-tolerance``
    (red dashed rule); the grey rule marks no difference.
    """
    data = bootstrap_frame(bootstrap, tolerance)
    lo = min(bootstrap.low, -tolerance, 0.0)
    hi = max(bootstrap.high, tolerance, 0.0)
    pad = max(0.01, (hi - lo) * 0.15)
    scale = alt.Scale(domain=[lo - pad, hi + pad])
    y = alt.Y("comparison:N", title=None)
    interval = alt.Chart(data).mark_rule(strokeWidth=3, color=MODEL_COLOURS["challenger"]).encode(
        x=alt.X("low:Q", scale=scale, title="macro-F1 difference"), x2="high:Q", y=y,
        tooltip=[alt.Tooltip("low:Q", format=".4f"), alt.Tooltip("high:Q", format=".4f"), "level:Q", "resamples:Q"],
    )
    point = alt.Chart(data).mark_point(filled=True, size=90, color=MODEL_COLOURS["challenger"]).encode(
        x=alt.X("difference:Q", scale=scale), y=y, tooltip=[alt.Tooltip("difference:Q", format=".4f")]
    )
    edge = alt.Chart(data).mark_rule(color="#d62728", strokeDash=[5, 3]).encode(
        x=alt.X("tolerance_edge:Q", scale=scale), tooltip=[alt.Tooltip("tolerance_edge:Q", title="-tolerance")]
    )
    zero = alt.Chart(pd.DataFrame([{"zero": 0.0}])).mark_rule(color="#777").encode(x=alt.X("zero:Q", scale=scale))
    return alt.LayerChart(layer=[edge, zero, interval, point]).properties(
        title=f"Macro-F1 difference with its {bootstrap.level:.0%} bootstrap interval (red: -tolerance)",
        width=620,
        height=BOOTSTRAP_HEIGHT,
        # The plot gets the height; title and axes come on top, as in the export. (Streamlit
        # otherwise fits title, axes and plot into the height, which squashed the plot.)
        autosize=alt.AutoSizeParams(type="pad"),
    )


# --------------------------------------------------------------------------- per user


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


def per_user_chart(reports: Reports) -> alt.Chart:
    """Macro-F1 per user for each model, grouped by user."""
    return (
        alt.Chart(per_user_frame(reports))
        .mark_bar()
        .encode(
            x=alt.X(
                "user:N", title="user (first 8 characters of the id)",
                axis=alt.Axis(labelAngle=0, labelExpr="substring(datum.label, 0, 8)"),
            ),
            xOffset=alt.XOffset("model:N", sort=list(MODEL_ORDER)),
            y=alt.Y("macro_f1:Q", scale=alt.Scale(domain=[0, 1]), title="macro-F1"),
            color=_model_colour(),
            tooltip=["user:N", "model:N", alt.Tooltip("macro_f1:Q", format=".4f"), "rows:Q", "held_out:N"],
        )
        .properties(title="Macro-F1 per user", width=620, height=220)
    )


# --------------------------------------------------------------------------- the set


def review_charts(
    reports: Reports, *, tolerance: float, bootstrap: BootstrapInterval | None
) -> dict[str, AnyChart]:
    """Every chart of a run review, in page order, keyed by a short file-safe name.

    Args:
        reports: ``challenger``, ``champion`` (None without a champion) and ``baseline``.
        tolerance: The run's ``regression_tolerance``.
        bootstrap: The paired bootstrap interval (None without a champion).

    Returns:
        ``metrics``, ``per_class``, ``confusion``, ``bootstrap`` (only with an interval)
        and ``per_user``.
    """
    charts: dict[str, AnyChart] = {
        "metrics": metrics_chart(reports, tolerance=tolerance),
        "per_class": per_class_chart(reports),
        "confusion": confusion_chart(reports),
    }
    if bootstrap is not None:
        charts["bootstrap"] = bootstrap_chart(bootstrap, tolerance=tolerance)
    charts["per_user"] = per_user_chart(reports)
    return charts


# --------------------------------------------------------------------------- export

_VL_VERSION = "v" + ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])


def to_vegalite_dict(chart: AnyChart) -> dict[str, Any]:
    """The chart's Vega-Lite specification with its data inlined."""
    spec: dict[str, Any] = chart.to_dict()
    return spec


def to_vegalite_json(chart: AnyChart) -> str:
    """The chart's Vega-Lite specification as JSON text (data inlined)."""
    return json.dumps(to_vegalite_dict(chart), indent=2, sort_keys=True)


def to_svg(chart: AnyChart) -> str:
    """Render the chart to SVG text offline (no external data or fonts are fetched)."""
    svg: str = vl_convert.vegalite_to_svg(
        to_vegalite_dict(chart), vl_version=_VL_VERSION, allowed_base_urls=[]
    )
    return svg


def to_png(chart: AnyChart, *, scale: float = 2.0) -> bytes:
    """Render the chart to PNG bytes offline."""
    png: bytes = vl_convert.vegalite_to_png(
        to_vegalite_dict(chart), vl_version=_VL_VERSION, scale=scale, allowed_base_urls=[]
    )
    return png
