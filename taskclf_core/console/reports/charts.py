"""Altair chart builders for the review of one run, and their offline export.

The only module that imports altair. Every builder is a pure function of evaluation
records returning a chart object (``alt.Chart`` or a layered / faceted chart built from
``alt.Chart``), shared by the Review page, the HTML report and the CLI. The data behind
each chart is built by a ``*_frame`` function of :mod:`taskclf_core.console.reports.chartdata`
(re-exported here) so tests can check it without a renderer.

Export (:func:`to_png`, :func:`to_svg`, :func:`to_vegalite_json`) uses vl-convert, which
embeds Vega and Vega-Lite: no network, no browser.
"""

from __future__ import annotations

import json
from typing import Any, TypeAlias

import altair as alt
import pandas as pd
import vl_convert

from taskclf_core.console.reports.chartdata import (
    METRICS,
    MODEL_COLOURS,
    MODEL_ORDER,
    MODEL_TITLES,
    PREDICTED_COLUMNS,
    THRESHOLDS,
    Reports,
    bootstrap_frame,
    confusion_frame,
    metrics_frame,
    models_shown,
    per_class_frame,
    per_user_frame,
    thresholds_frame,
    tolerance_frame,
    undefined_frame,
    undefined_notes,
)
from taskclf_core.data.schema import LABELS
from taskclf_core.model.reports import BootstrapInterval

#: What the builders return: a plain, layered or faceted Altair chart.
AnyChart: TypeAlias = alt.Chart | alt.LayerChart | alt.FacetChart | alt.HConcatChart | alt.VConcatChart


def _model_colour(reports: Reports) -> alt.Color:
    """The model colours; the legend lists only the models the run has (no champion without one)."""
    shown = models_shown(reports)
    return alt.Color(
        "model:N",
        title="model",
        scale=alt.Scale(domain=shown, range=[MODEL_COLOURS[m] for m in shown]),
        sort=shown,
    )


# --------------------------------------------------------------------------- headline


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
    challenger = reports.get("challenger")  # its report records the thresholds it was judged by
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
            xOffset=alt.XOffset("model:N", sort=models_shown(reports)),
            y=y,
            color=_model_colour(reports),
            tooltip=["metric:N", "model:N", alt.Tooltip("value:Q", format=".4f")],
        )
    )
    labels = (
        alt.Chart(data)
        .mark_text(dy=-5, fontSize=9)
        .encode(
            x=x,
            xOffset=alt.XOffset("model:N", sort=models_shown(reports)),
            y=y,
            text=alt.Text("value:Q", format=".2f"),
        )
    )
    rules = (
        alt.Chart(thresholds_frame(challenger.thresholds if challenger is not None else None))
        .mark_tick(color="black", thickness=2, size=70)
        .encode(
            x=x,
            y=alt.Y("threshold:Q", scale=alt.Scale(domain=[0, 1])),
            tooltip=["metric:N", alt.Tooltip("rule:N", title="threshold")],
        )
    )
    shaded = "; shaded: tolerance around the champion" if champion is not None else ""
    return alt.LayerChart(layer=[band, bars, labels, rules]).properties(
        title=f"Headline metrics (black rules: thresholds{shaded})",
        width=620,
        height=300,
    )


# --------------------------------------------------------------------------- per class


def per_class_chart(reports: Reports) -> alt.FacetChart:
    """Per-class precision and recall, grouped by class, one panel per measure.

    Precision bars carry their 95 % Wilson interval; tooltips show the rows behind each
    value (predicted rows for precision, support for recall).
    """
    x = alt.X("class:N", sort=list(LABELS), title=None, axis=alt.Axis(labelAngle=-30))
    offset = alt.XOffset("model:N", sort=models_shown(reports))
    bars = alt.Chart().mark_bar().encode(
        x=x,
        xOffset=offset,
        y=alt.Y("value:Q", scale=alt.Scale(domain=[0, 1]), title=None),
        color=_model_colour(reports),
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
    # An undefined value has no bar: "n/a" stands in its place, and the subtitle says why.
    missing = alt.Chart().transform_filter("isValid(datum.why)").mark_text(
        fontSize=8, dy=-6, color="#555"
    ).encode(
        x=x, xOffset=offset, y=alt.datum(0), text=alt.value("n/a"),
        tooltip=["measure:N", "class:N", "model:N", alt.Tooltip("why:N", title="no bar")],
    )
    undefined = undefined_frame(reports)
    data = pd.concat([per_class_frame(reports), undefined], ignore_index=True) if len(undefined) else per_class_frame(reports)
    title = "Per-class precision and recall (whiskers: 95% Wilson interval)"
    notes = undefined_notes(reports)
    return (
        alt.layer(bars, whiskers, missing, data=data)
        .properties(width=620, height=160)
        .facet(row=alt.Row("measure:N", title=None, sort=["precision", "recall"]))
        .properties(title=alt.TitleParams(title, subtitle=notes) if notes else title)
    )


# --------------------------------------------------------------------------- confusion


def confusion_chart(reports: Reports) -> alt.FacetChart:
    """Confusion matrices, two per row: row-normalised heat maps with the counts written in.

    Champion and challenger side by side, the rule baseline below (about 750 px wide: it
    fits the Review page's column from a 1280-pixel window up, as the export does).
    """
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
        .facet(facet=alt.Facet("model:N", title=None, sort=models_shown(reports)), columns=2)
        .resolve_axis(x="independent")
        .properties(title="Confusion matrices (rows: true class, normalised; last column: rejected)")
    )


# --------------------------------------------------------------------------- bootstrap

#: Plot height of the bootstrap chart: one row, but tall enough that the interval, the
#: zero line and the -tolerance rule stay visible in the page as in the export.
BOOTSTRAP_HEIGHT = 140


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
            xOffset=alt.XOffset("model:N", sort=models_shown(reports)),
            y=alt.Y("macro_f1:Q", scale=alt.Scale(domain=[0, 1]), title="macro-F1"),
            color=_model_colour(reports),
            tooltip=["user:N", "model:N", alt.Tooltip("macro_f1:Q", format=".4f"), "rows:Q", "held_out:N"],
        )
        .properties(title="Macro-F1 per user", width=620, height=220)
    )


# --------------------------------------------------------------------------- checklist


def per_person_chart(frame: pd.DataFrame, *, tolerance: float) -> alt.LayerChart:
    """Every person's served macro-F1 difference (challenger - champion) with its interval, worst first.

    ``frame``: ``user``, ``difference``, ``low``, ``high``, ``minutes``, ``judged``. The dashed
    rule is minus the tolerance: a person whose whole interval lies left of it fails the gate.
    """
    order = list(frame["user"])
    y = alt.Y("user:N", sort=order, title=None, axis=alt.Axis(labelExpr="substring(datum.label, 0, 12)"))
    colour = alt.Color("judged:N", title=None, scale=alt.Scale(domain=["judged", "too few minutes to judge"],
                                                               range=[MODEL_COLOURS["challenger"], "#9d9d9d"]))
    bars = alt.Chart(frame).mark_rule(strokeWidth=2).encode(x="low:Q", x2="high:Q", y=y, color=colour)
    points = alt.Chart(frame).mark_point(filled=True, size=60).encode(
        x=alt.X("difference:Q", title="served macro-F1, challenger - champion (95% interval)"), y=y, color=colour,
        tooltip=["user:N", alt.Tooltip("difference:Q", format="+.4f"), alt.Tooltip("low:Q", format="+.4f"),
                 alt.Tooltip("high:Q", format="+.4f"), "minutes:Q", "judged:N"])
    rules = alt.Chart(pd.DataFrame({"x": [0.0, -tolerance], "what": ["no change", f"-tolerance ({tolerance})"]})).mark_rule(
        strokeDash=[4, 4], color="#666").encode(x="x:Q", tooltip=["what:N"])
    height = max(120, 18 * len(frame))
    return alt.LayerChart(layer=[rules, bars, points]).properties(
        title="Each person: served macro-F1 difference, worst first", width=560, height=height)


def day_timeline_chart(frame: pd.DataFrame, *, title: str) -> alt.LayerChart:
    """One person's day, minute by minute: labelled blocks, champion and challenger as served.

    Minutes where the two models serve different labels are marked under the challenger's lane.
    """
    lanes = ["labelled", "champion (served)", "challenger (served)"]
    labels = [*LABELS, "Mixed/Unknown"]
    data = frame.assign(end=frame["minute"] + pd.Timedelta(minutes=1))
    cells = alt.Chart(data).mark_bar(height=18).encode(
        x=alt.X("minute:T", title="minute (UTC)"), x2="end:T", y=alt.Y("lane:N", sort=lanes, title=None),
        color=alt.Color("label:N", scale=alt.Scale(domain=labels, scheme="tableau10"), title="label",
                        legend=alt.Legend(orient="bottom", columns=5)),
        tooltip=[alt.Tooltip("minute:T", format="%H:%M"), "lane:N", "label:N"])
    differ = data[(data["lane"] == "challenger (served)") & data["disagree"].astype(bool)].assign(lane="models differ")
    marks = alt.Chart(differ).mark_bar(height=6, color="black").encode(
        x="minute:T", x2="end:T", y=alt.Y("lane:N", sort=[*lanes, "models differ"], title=None),
        tooltip=[alt.Tooltip("minute:T", format="%H:%M"), alt.Tooltip("label:N", title="challenger")])
    return alt.LayerChart(layer=[cells, marks]).properties(title=title, width=560, height=130)


def timeline_chart(frame: pd.DataFrame) -> alt.LayerChart:
    """Champions' and runs' macro-F1 over time; promotions, rollbacks and rejected runs marked.

    ``frame`` from :func:`taskclf_core.console.read.timeline.timeline_frame`; each point links to
    its review (``href``).
    """
    shapes = alt.Shape("kind:N", title=None, scale=alt.Scale(domain=["run", "champion change"],
                                                             range=["circle", "diamond"]))
    colour = alt.Color("what:N", title="what happened", scale=alt.Scale(scheme="category10"))
    base = alt.Chart(frame).encode(
        x=alt.X("time:T", title="time (UTC)"),
        y=alt.Y("macro_f1:Q", title="macro-F1 (as judged: served where a policy is in use)", scale=alt.Scale(zero=False)),
    )
    champions = base.transform_filter(alt.datum.kind == "champion change").mark_line(
        interpolate="step-after", color="#999", strokeDash=[3, 3])
    points = base.mark_point(filled=True, size=90).encode(
        shape=shapes, color=colour, href="link:N",
        tooltip=[alt.Tooltip("time:T", format="%Y-%m-%d %H:%M"), "what:N", "id:N", alt.Tooltip("macro_f1:Q", format=".4f")])
    return alt.LayerChart(layer=[champions, points]).properties(
        title="Champions and runs over time (click a point for its review)", width=600, height=240)


# --------------------------------------------------------------------------- calibration


def reliability_chart(frame: pd.DataFrame, *, title: str = "Reliability as served: confidence vs accuracy") -> alt.LayerChart:
    """Reliability diagram: per confidence bin, the share of minutes predicted right.

    ``frame`` has ``model`` (champion, challenger; or before/after for a calibrator refit),
    ``confidence``, ``accuracy`` and ``minutes``. The diagonal is perfect calibration; a
    point below it is over-confident. Point size is the bin's minutes.
    """
    models = list(dict.fromkeys(frame["model"])) if len(frame) else ["champion", "challenger"]
    palette = {**MODEL_COLOURS, "before": MODEL_COLOURS["champion"], "after": MODEL_COLOURS["challenger"]}
    colour = alt.Color("model:N", title="model", sort=models,
                       scale=alt.Scale(domain=models, range=[palette.get(m, "#54a24b") for m in models]))
    diagonal = alt.Chart(pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0]})).mark_line(
        strokeDash=[4, 4], color="#888").encode(x="x:Q", y="y:Q")
    base = alt.Chart(frame).encode(
        x=alt.X("confidence:Q", scale=alt.Scale(domain=[0, 1]), title="mean confidence in the bin (served)"),
        y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[0, 1]), title="share predicted right"),
        color=colour,
        tooltip=["model:N", alt.Tooltip("confidence:Q", format=".3f"), alt.Tooltip("accuracy:Q", format=".3f"), "minutes:Q"],
    )
    lines = base.mark_line(point=False)
    points = base.mark_circle().encode(size=alt.Size("minutes:Q", title="minutes", scale=alt.Scale(range=[20, 300])))
    return alt.LayerChart(layer=[diagonal, lines, points]).properties(title=title, width=420, height=300)


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


#: A chart, or its Vega-Lite specification as built by :func:`to_vegalite_json` (cached specs).
ChartOrSpec: TypeAlias = AnyChart | str


def to_vegalite_dict(chart: ChartOrSpec) -> dict[str, Any]:
    """The chart's Vega-Lite specification with its data inlined (a new dict on every call)."""
    spec: dict[str, Any] = json.loads(chart) if isinstance(chart, str) else chart.to_dict()
    return spec


def to_vegalite_json(chart: ChartOrSpec) -> str:
    """The chart's Vega-Lite specification as JSON text (data inlined)."""
    if isinstance(chart, str):
        return chart
    return json.dumps(to_vegalite_dict(chart), indent=2, sort_keys=True)


def to_svg(chart: ChartOrSpec) -> str:
    """Render the chart to SVG text offline (no external data or fonts are fetched)."""
    svg: str = vl_convert.vegalite_to_svg(
        to_vegalite_dict(chart), vl_version=_VL_VERSION, allowed_base_urls=[]
    )
    return svg


def to_png(chart: ChartOrSpec, *, scale: float = 2.0) -> bytes:
    """Render the chart to PNG bytes offline."""
    png: bytes = vl_convert.vegalite_to_png(
        to_vegalite_dict(chart), vl_version=_VL_VERSION, scale=scale, allowed_base_urls=[]
    )
    return png


__all__ = [
    "BOOTSTRAP_HEIGHT",
    "METRICS",
    "MODEL_COLOURS",
    "MODEL_ORDER",
    "MODEL_TITLES",
    "PREDICTED_COLUMNS",
    "THRESHOLDS",
    "AnyChart",
    "ChartOrSpec",
    "bootstrap_chart",
    "bootstrap_frame",
    "confusion_chart",
    "confusion_frame",
    "metrics_chart",
    "metrics_frame",
    "per_class_chart",
    "per_class_frame",
    "per_user_chart",
    "per_user_frame",
    "review_charts",
    "thresholds_frame",
    "to_png",
    "to_svg",
    "to_vegalite_dict",
    "to_vegalite_json",
    "tolerance_frame",
    "undefined_frame",
    "undefined_notes",
]
