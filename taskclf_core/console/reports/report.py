"""The review of one run as one self-contained HTML file.

Everything is inline: CSS in a ``<style>`` element, every chart as an SVG rendered
offline by vl-convert, tables as HTML. No scripts, no fonts, no images or styles from
anywhere else, so the file opens offline and can be attached to a ticket or an email.
Every text from the run is HTML-escaped.
"""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime

from taskclf_core import __version__
from taskclf_core.console.access import audit_rows
from taskclf_core.console.formatting import end_sentence, format_gate_value, format_time
from taskclf_core.console.read import checklistview
from taskclf_core.console.read.review import GateRow, RunReview, chart_specs
from taskclf_core.console.reports import charts
from taskclf_core.data.schema import LABELS
from taskclf_core.model.reports import EvaluationReport
from taskclf_core.model.thresholds import GateThresholds

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2rem auto;
       max-width: 1100px; color: #222; line-height: 1.4; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.2rem; margin-top: 2rem;
       border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .9rem; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.outcome { display: inline-block; padding: .1rem .6rem; border-radius: .8rem; font-weight: 600; }
.awaiting_signoff { background: #fff3cd; } .promoted { background: #d4edda; }
.rejected { background: #f8d7da; } .dry_run { background: #e2e3e5; }
.failed { color: #a71d2a; font-weight: 600; } .passed { color: #1e7e34; } .skipped { color: #666; }
.chart { margin: 1rem 0; overflow-x: auto; } pre { background: #f7f7f7; padding: .6rem; overflow-x: auto; }
.muted { color: #666; font-size: .85rem; } table.keys th { width: 14rem; }
.warning { background: #f8d7da; color: #a71d2a; font-weight: 600; padding: .5rem .8rem; border-radius: .3rem; }
"""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _num(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _table(header: list[str] | None, rows: list[list[str]], numeric: set[int] | None = None) -> str:
    """An HTML table; ``header`` None for a two-column key/value table (row headers, no header row)."""
    numeric = numeric or set()
    if header is None:
        body = "".join(f'<tr><th scope="row">{row[0]}</th><td>{row[1]}</td></tr>' for row in rows)
        return f'<table class="keys"><tbody>{body}</tbody></table>'
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _headline(review: RunReview) -> str:
    d = review.decision
    state = review.effective
    compared = review.compared_against.run_id if review.compared_against else "none (no champion when it ran)"
    rows = [
        ["Run", _e(review.run_id)],
        ["State", f'<span class="outcome {_e(state.outcome)}">{_e(state.label)}</span>'],
    ]
    rows += [["What happened", _e(end_sentence(s))] for s in state.sentences(review.run_id, full_notes=True)]
    if state.recorded_differs:
        rows.append(["Recorded outcome (evidence)", _e(f"{d.outcome}: {d.reason}")])
    elif review.reason_now:
        rows += [["Reason", _e(review.reason_now)], ["Recorded outcome (evidence)", _e(d.outcome)]]
    else:
        rows.append(["Reason", _e(d.reason)])
    rows += [
        ["Champion compared against", _e(compared)],
        ["Champion now", _e(review.current_champion or "none")],
        ["Promotable now", _e(("yes: " if review.can_promote else "no: ") + review.promote_reason)],
        ["Started / finished", f"{_e(format_time(d.started_at))} / {_e(format_time(d.finished_at))}"],
        ["Gates", _e(d.gates_summary)],
    ]
    if review.data_warnings_sentence:
        rows.append(["Data warnings", _e(end_sentence(review.data_warnings_sentence) + " See Dataset snapshot.")])
    return _table(None, rows)


def _run_history(review: RunReview) -> str:
    """Every champion change involving the run (to it, from it, back to it), oldest first."""
    lines = review.effective.history(review.run_id)
    if not lines:
        return "<p>No champion change involves this run.</p>"
    return "<ol>" + "".join(f"<li>{_e(end_sentence(line))}</li>" for line in lines) + "</ol>"


def _data_warnings(review: RunReview) -> str:
    rows = review.data_warning_rows
    if not rows:
        return ""
    header = list(rows[0])
    return "<h3>Data warnings</h3>" + _table(header, [[_e(r[h]) for h in header] for r in rows])


def _signoff(review: RunReview) -> str:
    """Who signed the run off and how that was established, its approvals, pending ones."""
    rows = audit_rows(review.effective.promotion, review.pending)
    if not rows:
        return "<p>Not signed off.</p>"
    return _table(None, [[_e(k), _e(v)] for k, v in rows])


def _checklist(review: RunReview) -> str:
    """The promotion checklist: every person, the latest week, the spot check's proposed people."""
    evidence = review.evidence.checklist
    if evidence is None:
        return "<p>This run predates the promotion checklist.</p>"
    th = review.run_config.gates if review.run_config is not None else GateThresholds()
    out = ""
    worst = checklistview.worst_off_sentence(evidence, th.per_user.tolerance)
    if worst:
        out += f"<p><strong>{_e(worst)}.</strong></p>"
    if evidence.per_user:
        out += _table(["person", "difference", "low", "high", "test minutes", "judged"],
                      [[_e(u.user_id), _num(u.difference), _num(u.low), _num(u.high), _e(u.rows),
                        "judged" if u.judged else "too few minutes to judge"]
                       for u in sorted(evidence.per_user, key=lambda u: u.difference)], numeric={1, 2, 3, 4})
    week = checklistview.recent_week_rows(evidence, th)
    if week:
        out += "<h3>The most recent week</h3>" + _table(
            ["figure", "value", "checklist threshold", "within?"], [[_e(v) for v in r.as_dict().values()] for r in week])
    if evidence.spot_check:
        out += "<p>Spot check proposed: " + _e(", ".join(f"{c.user_id} ({c.why}, {c.day})" for c in evidence.spot_check)) + \
            f"; {evidence.spot_check_required} people in all. Who each approver looked at is under Sign-off.</p>"
    return out


def _snapshot(review: RunReview) -> str:
    snap = review.evidence.snapshot
    rows = [
        ["Dataset hash", _e(snap.dataset_hash)],
        ["Date range", f"{_e(snap.date_from)} to {_e(snap.date_to)}"],
        ["Labelled windows", _e(snap.row_count)],
        ["Users", _e(snap.user_count)],
        ["Train / validation / test rows", f"{_e(snap.train_rows)} / {_e(snap.val_rows)} / {_e(snap.test_rows)}"],
        ["Data source", _e(json.dumps(snap.source, sort_keys=True))],
        ["Class counts", _e(", ".join(f"{k} {v}" for k, v in snap.class_distribution.items()))],
    ]
    return _table(None, rows)


def _scores(reports: dict[str, EvaluationReport | None]) -> str:
    rows = []
    for name in charts.MODEL_ORDER:
        r = reports.get(name)
        if r is None:
            continue
        bi = r.per_class.get("BreakIdle")
        rows.append(
            [
                _e(charts.MODEL_TITLES[name]), _num(r.macro_f1), _num(r.weighted_f1), _num(r.reject_rate),
                _num(bi.precision if bi else None), _num(bi.recall if bi else None), _e(r.n_rows),
            ]
        )
    return _table(
        ["model", "macro-F1", "weighted-F1", "reject rate", "BreakIdle precision", "BreakIdle recall", "rows"],
        rows,
        numeric={1, 2, 3, 4, 5, 6},
    )


def _gates(gates: list[GateRow]) -> str:
    rows = [
        [
            _e(g.name), _e(g.kind), f'<span class="{_e(g.status)}">{_e(g.status)}</span>',
            _e(format_gate_value(g.value, g.threshold) or "n/a"), _e(g.threshold), _e(g.config_key), _e(g.detail),
        ]
        for g in gates
    ]
    return _table(["gate", "kind", "result", "value", "threshold", "config key", "detail"], rows, numeric={3})


def _per_class(report: EvaluationReport) -> str:
    rows = []
    for label in LABELS:
        cm = report.per_class.get(label)
        if cm is None:
            continue
        ci = (
            f"[{cm.precision_ci_low:.3f}, {cm.precision_ci_high:.3f}]"
            if cm.precision_ci_low is not None and cm.precision_ci_high is not None
            else "n/a"
        )
        precision = "n/a (no support, never predicted)" if cm.precision is None else _num(cm.precision)
        rows.append(
            [_e(label), precision, _e(cm.predicted), ci, _num(cm.recall), _e(cm.support), _e(cm.rejected)]
        )
    return _table(
        ["class", "precision", "predicted rows", "95% Wilson CI", "recall", "support", "rejected"],
        rows,
        numeric={1, 2, 4, 5, 6},
    )


def _scope_ids(svg: str, prefix: str) -> str:
    """Prefix the SVG's element ids (and references to them) so several inline SVGs never clash."""
    svg = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}-{m.group(1)}"', svg)
    svg = svg.replace("url(#", f"url(#{prefix}-")
    return re.sub(r'href="#', f'href="#{prefix}-', svg)


def render_report(review: RunReview, *, generated_at: datetime | None = None) -> str:
    """Render the review of one run as a self-contained HTML document.

    Args:
        review: The run review (see :func:`taskclf_core.console.read.review.run_review`).
        generated_at: The time written in the footer (default: now, UTC).

    Returns:
        The HTML text (UTF-8); it references nothing outside itself.
    """
    generated_at = generated_at or datetime.now(UTC)
    svgs = "".join(
        f'<div class="chart" id="chart-{_e(name)}">{_scope_ids(charts.to_svg(spec), name)}</div>'
        for name, spec in chart_specs(review).items()
    )
    sentence = review.interval_sentence
    interval = f"<p>{_e(sentence)}</p>" if sentence else (
        "<p>No champion when this run was evaluated: the comparative gate was skipped.</p>"
    )
    notes = "".join(f'<p class="muted">{_e(n)}</p>' for n in review.notes)
    if review.intact_problem:  # first thing a reader sees, as on the page
        notes = f'<p class="warning">This run\'s files are not intact: {_e(review.intact_problem)}</p>' + notes
    title = f"taskclf review: run {review.run_id}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_e(title)}</h1>{notes}"
        f"<h2>Headline</h2>{_headline(review)}{_scores(review.reports)}"
        f"<h2>Sign-off</h2>{_signoff(review)}"
        f"<h2>History of this run</h2>{_run_history(review)}"
        f"<h2>Gates</h2>{_gates(review.gates)}"
        f"<h2>Promotion checklist</h2>{_checklist(review)}"
        f"<h2>Champion vs challenger</h2>{interval}{svgs}"
        f"<h2>Challenger per class</h2>{_per_class(review.evidence.challenger)}"
        f"<h2>Dataset snapshot</h2>{_snapshot(review)}{_data_warnings(review)}"
        f"<h2>Configuration used</h2><pre>{_e(review.evidence.config_yaml)}</pre>"
        f'<p class="muted">Generated {format_time(generated_at)} by taskclf_core {_e(__version__)}. '
        "This file is self-contained and opens offline.</p>"
        "</body></html>\n"
    )


def report_file_name(run_id: str) -> str:
    """``taskclf-review-<run_id>.html``."""
    return f"taskclf-review-{run_id}.html"
