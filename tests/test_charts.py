"""Chart builders, checked by their Vega-Lite spec (marks, encodings, data), and their export."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from taskclf_core.console.reports import charts
from taskclf_core.data.schema import LABELS
from taskclf_core.model.evaluation import (
    REJECT_CODE,
    BootstrapInterval,
    EvaluationReport,
    evaluate_predictions,
)

USERS = np.array(["u1", "u2", "u3"] * 100)


def fake_report(name: str, accuracy: float, seed: int, *, reject: float = 0.1, never: int | None = None) -> EvaluationReport:
    """An evaluation of ``accuracy``-ish predictions on 300 seeded rows."""
    rng = np.random.default_rng(seed)
    y = np.arange(300) % len(LABELS)
    pred = np.where(rng.random(300) < accuracy, y, rng.integers(0, len(LABELS), 300))
    pred = np.where(rng.random(300) < reject, REJECT_CODE, pred)
    if never is not None:  # a class that is never predicted and has no rows
        keep = y != never
        y, pred = y[keep], np.where(pred[keep] == never, REJECT_CODE, pred[keep])
        return evaluate_predictions(name, y, pred, USERS[keep])
    return evaluate_predictions(name, y, pred, USERS)


@pytest.fixture(scope="module")
def reports() -> dict[str, EvaluationReport | None]:
    return {
        "champion": fake_report("champion", 0.8, 1),
        "challenger": fake_report("challenger", 0.85, 2),
        "baseline": fake_report("baseline", 0.3, 3, reject=0.5),
    }


def spec(chart: Any) -> dict[str, Any]:
    return charts.to_vegalite_dict(chart)


def dataset(spec_: dict[str, Any], layer: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = spec_["datasets"][layer["data"]["name"]]
    return rows


def test_metrics_chart_layers_bars_thresholds_and_tolerance_band(reports: dict[str, EvaluationReport | None]) -> None:
    s = spec(charts.metrics_chart(reports, tolerance=0.02))
    band, bars, labels, rules = s["layer"]
    assert [band["mark"]["type"], bars["mark"]["type"], labels["mark"]["type"], rules["mark"]["type"]] == [
        "bar", "bar", "text", "tick",
    ]
    assert bars["encoding"]["x"]["field"] == "metric" and bars["encoding"]["x"]["sort"] == list(charts.METRICS)
    assert bars["encoding"]["xOffset"]["field"] == "model"
    assert bars["encoding"]["y"] == {"field": "value", "type": "quantitative", "scale": {"domain": [0, 1]}, "title": "value"}
    assert bars["encoding"]["color"]["scale"]["range"] == ["#4c78a8", "#f58518", "#9d9d9d"]
    rows = dataset(s, bars)
    assert len(rows) == 15  # 5 metrics x 3 models
    champion = reports["champion"]
    assert champion is not None
    assert {"metric": "macro-F1", "model": "champion", "value": champion.macro_f1} in rows
    assert {"metric": "reject rate", "model": "baseline", "value": reports["baseline"].reject_rate} in rows  # type: ignore[union-attr]
    thresholds = {(r["metric"], r["threshold"]) for r in dataset(s, rules)}
    assert thresholds == {
        ("macro-F1", 0.65), ("weighted-F1", 0.7), ("reject rate", 0.05), ("reject rate", 0.3),
        ("BreakIdle precision", 0.95), ("BreakIdle recall", 0.9),
    }
    (row,) = dataset(s, band)
    assert row["metric"] == "macro-F1"
    assert row["low"] == pytest.approx(champion.macro_f1 - 0.02) and row["high"] == pytest.approx(champion.macro_f1 + 0.02)
    assert band["encoding"]["y2"] == {"field": "high"}


def test_metrics_chart_without_champion_has_no_band(reports: dict[str, EvaluationReport | None]) -> None:
    s = spec(charts.metrics_chart({**reports, "champion": None}, tolerance=0.02))
    band, bars, _, _ = s["layer"]
    assert dataset(s, band) == []
    assert {r["model"] for r in dataset(s, bars)} == {"challenger", "baseline"}


def test_per_class_chart_groups_precision_and_recall_and_leaves_out_undefined(reports: dict[str, EvaluationReport | None]) -> None:
    frame = charts.per_class_frame({**reports, "challenger": fake_report("challenger", 0.9, 4, never=3)})
    never = LABELS[3]
    assert frame[(frame["class"] == never) & (frame["model"] == "challenger")].empty  # n/a, never 0
    s = spec(charts.per_class_chart(reports))
    assert s["facet"]["row"]["field"] == "measure"
    bars, whiskers, missing = s["spec"]["layer"]
    assert bars["mark"]["type"] == "bar" and whiskers["mark"]["type"] == "rule" and missing["mark"]["type"] == "text"
    assert bars["encoding"]["x"]["field"] == "class" and bars["encoding"]["xOffset"]["field"] == "model"
    assert whiskers["encoding"]["y"]["field"] == "ci_low" and whiskers["encoding"]["y2"]["field"] == "ci_high"
    rows = s["datasets"][s["data"]["name"]]
    assert len(rows) == 3 * len(LABELS) * 2
    precision = next(r for r in rows if r["measure"] == "precision" and r["model"] == "challenger" and r["class"] == "Build")
    build = reports["challenger"].per_class["Build"]  # type: ignore[union-attr]
    assert (precision["value"], precision["n"], precision["ci_low"]) == (build.precision, build.predicted, build.precision_ci_low)


def test_confusion_chart_is_row_normalised_with_a_reject_column(reports: dict[str, EvaluationReport | None]) -> None:
    frame = charts.confusion_frame(reports)
    assert len(frame) == 3 * len(LABELS) * (len(LABELS) + 1)
    sums = frame.groupby(["model", "true"])["share"].sum()
    assert np.allclose(sums, 1.0)
    challenger = reports["challenger"]
    assert challenger is not None
    rejected = frame[(frame["model"] == "challenger") & (frame["predicted"] == "Mixed/Unknown")].set_index("true")["count"]
    assert rejected.to_dict() == {label: challenger.per_class[label].rejected for label in LABELS}
    s = spec(charts.confusion_chart(reports))
    # two panels per row (champion | challenger, then the baseline): it fits a 1280-pixel window
    assert s["facet"]["field"] == "model" and s["columns"] == 2
    cells, text = s["spec"]["layer"]
    assert cells["mark"]["type"] == "rect" and text["mark"]["type"] == "text"
    assert cells["encoding"]["color"]["field"] == "share" and text["encoding"]["text"]["field"] == "count"
    assert cells["encoding"]["x"]["sort"][-1] == "Mixed/Unknown"


def test_bootstrap_chart_draws_the_interval_against_the_tolerance() -> None:
    interval = BootstrapInterval(difference=-0.01, low=-0.03, high=0.012, resamples=1000, seed=0)
    s = spec(charts.bootstrap_chart(interval, tolerance=0.02))
    edge, zero, rule, point = s["layer"]
    assert (edge["mark"]["type"], rule["mark"]["type"], point["mark"]["type"]) == ("rule", "rule", "point")
    assert rule["encoding"]["x"]["field"] == "low" and rule["encoding"]["x2"]["field"] == "high"
    (row,) = dataset(s, point)
    assert (row["difference"], row["low"], row["high"], row["tolerance_edge"]) == (-0.01, -0.03, 0.012, -0.02)
    assert edge["encoding"]["x"]["field"] == "tolerance_edge"


def test_per_user_chart_has_one_bar_per_user_and_model(reports: dict[str, EvaluationReport | None]) -> None:
    s = spec(charts.per_user_chart(reports))
    assert s["mark"]["type"] == "bar"
    assert (s["encoding"]["x"]["field"], s["encoding"]["y"]["field"]) == ("user", "macro_f1")
    rows = s["datasets"][s["data"]["name"]]
    assert {(r["user"], r["model"]) for r in rows} == {(u, m) for u in ("u1", "u2", "u3") for m in charts.MODEL_ORDER}


def test_review_charts_leaves_out_the_bootstrap_without_a_champion(reports: dict[str, EvaluationReport | None]) -> None:
    interval = BootstrapInterval(difference=0.01, low=-0.01, high=0.03, resamples=100, seed=0)
    assert list(charts.review_charts(reports, tolerance=0.02, bootstrap=interval)) == [
        "metrics", "per_class", "confusion", "bootstrap", "per_user",
    ]
    assert "bootstrap" not in charts.review_charts({**reports, "champion": None}, tolerance=0.02, bootstrap=None)


def test_export_renders_png_svg_and_vegalite_offline(reports: dict[str, EvaluationReport | None]) -> None:
    chart = charts.metrics_chart(reports, tolerance=0.02)
    png = charts.to_png(chart, scale=1)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000
    svg = charts.to_svg(chart)
    assert svg.lstrip().startswith("<svg") and "Headline metrics" in svg
    assert "http://" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
        'xmlns:xlink="http://www.w3.org/1999/xlink"', ""
    )
    spec_ = json.loads(charts.to_vegalite_json(chart))
    assert spec_["$schema"].startswith("https://vega.github.io/schema/vega-lite/v6")
    assert len(spec_["layer"]) == 4


def test_metrics_chart_draws_the_thresholds_the_run_was_judged_by(reports: dict[str, EvaluationReport | None]) -> None:
    """Issue 10: a team's own ``gates:`` thresholds are the rules drawn, not the reference values."""
    from taskclf_core.model.thresholds import GateThresholds

    challenger = reports["challenger"]
    assert challenger is not None
    own = GateThresholds(macro_f1=0.5, breakidle_recall=0.8, reject_rate_max=0.4)
    judged = {**reports, "challenger": challenger.model_copy(update={"thresholds": own})}
    s = spec(charts.metrics_chart(judged, tolerance=0.02))
    rules = s["layer"][3]
    thresholds = {(r["metric"], r["threshold"]) for r in dataset(s, rules)}
    assert thresholds == {
        ("macro-F1", 0.5), ("weighted-F1", 0.7), ("reject rate", 0.05), ("reject rate", 0.4),
        ("BreakIdle precision", 0.95), ("BreakIdle recall", 0.8),
    }


def test_the_legend_lists_only_the_models_the_run_has(reports: dict[str, EvaluationReport | None]) -> None:
    """Issue 21 item 13: "champion" was in the legend of a run evaluated without one."""
    for build in (charts.metrics_chart, lambda r: charts.per_class_chart(r), charts.per_user_chart):
        s = spec(build({**reports, "champion": None}) if build is not charts.metrics_chart
                 else build({**reports, "champion": None}, tolerance=0.02))
        layers = s.get("layer") or s.get("spec", {}).get("layer") or [s]
        colours = [layer["encoding"]["color"] for layer in layers if "color" in layer.get("encoding", {})
                   and layer["encoding"]["color"].get("field") == "model"]
        assert colours and all(c["scale"]["domain"] == ["challenger", "baseline"] for c in colours)
        assert all(c["scale"]["range"] == ["#f58518", "#9d9d9d"] for c in colours)


def test_classes_a_model_never_predicts_say_why_they_have_no_bar(reports: dict[str, EvaluationReport | None]) -> None:
    """Issue 21 item 13: a class the baseline never predicts showed no bar and no word why."""
    never = fake_report("baseline", 0.9, 5, never=2)  # LABELS[2] has no rows and is never predicted
    s = spec(charts.per_class_chart({**reports, "baseline": never}))
    label = LABELS[2]
    assert s["title"]["subtitle"] == [
        f"n/a: the rule baseline never predicts {label}, so its precision there is undefined (no bar)",
        f"n/a: the rule baseline has no test rows of {label}, so its recall there is undefined (no bar)",
    ]
    rows = s["datasets"][s["data"]["name"]]
    stand_ins = [r for r in rows if r.get("why")]
    assert {(r["measure"], r["class"], r["model"]) for r in stand_ins} == {
        ("precision", label, "baseline"), ("recall", label, "baseline")}
    assert not [r for r in rows if r["class"] == label and r["model"] == "baseline" and r.get("value") is not None]
    _, _, missing = s["spec"]["layer"]
    assert missing["encoding"]["text"] == {"value": "n/a"} and missing["transform"] == [{"filter": "isValid(datum.why)"}]
    assert "subtitle" not in json.dumps(spec(charts.per_class_chart(reports))["title"])  # every bar there: no note
