"""Review one run (``?run=<run_id>``): headline, charts, gates, sign-off, share."""

from __future__ import annotations

from functools import partial

import streamlit as st

import checklist_frame
import review_frame
from access_frame import actor, current_access
from page_frame import (
    HISTORY,
    RETRAIN,
    STATUS,
    hide_chart_toolbar,
    page_frame,
    plain,
    signoff,
    signoff_result,
)
from taskclf_core.console import access, formatting
from taskclf_core.console.access import audit_rows
from taskclf_core.console.read import checklistview, review
from taskclf_core.console.read.runstate import names_of
from taskclf_core.console.reports import charts, report
from taskclf_core.errors import TaskclfError
from taskclf_core.model.thresholds import GateThresholds

home = page_frame("Review")
hide_chart_toolbar()
STATE_COLOURS = {"awaiting_signoff": "orange", "promoted": "green", "rejected": "red", "dry_run": "gray", "broken": "red"}

# ----------------------------------------------------------------------------- which run
requested = st.query_params.get("run")
if not requested:
    choices = review.run_choices(home)
    if not choices:
        st.info("No runs yet.")
        st.page_link(RETRAIN, label="Start one on the Retrain page", icon=":material/model_training:")
        st.stop()
    labels = {c.run_id: c.label for c in choices}
    picked = st.selectbox(
        "Run to review", list(labels), index=None, placeholder="Pick a run", key="review_pick",
        format_func=labels.__getitem__,
    )
    if picked:
        st.query_params["run"] = picked
        st.rerun()
    st.stop()

try:
    rv = review.run_review(home, requested, access=current_access())  # one registry snapshot, the sign-off plan too
except TaskclfError as exc:
    st.error(f"Cannot show this review: {plain(exc)}")
    st.page_link(HISTORY, label="See every run on the History page")
    st.stop()

run_id = rv.run_id
decision = rv.decision
run_gates = (rv.run_config.gates if rv.run_config is not None else GateThresholds())  # the run's own thresholds
state = rv.effective

# ----------------------------------------------------------------------------- headline
refit_of = decision.calibrated_model if decision.kind == "calibration" else None
st.subheader(f"Calibrator refit {run_id}" if refit_of else f"Run {run_id}")
if refit_of:
    st.info(f"A refit of the calibrator of **`{refit_of}`** (the model does not change). Below, *champion* is "
            "its deployment now (before) and *challenger* the same model with the refitted calibrator and "
            "threshold (after).", icon=":material/tune:")
st.badge(state.label, color=STATE_COLOURS.get(state.outcome, "gray"))  # type: ignore[arg-type]
if decision.requested is not None:  # who started the run, and the reason they gave
    st.info(plain(decision.requested.describe()), icon=":material/person:")
for sentence in state.sentences(run_id):
    st.markdown(plain(formatting.end_sentence(sentence)))
for what, full_note in state.full_notes():  # a long note: its first line above, the whole note here
    with st.expander(what):
        st.text(full_note)
if state.recorded_differs:
    st.caption(f"Recorded outcome when the run finished (evidence): {decision.outcome}. {plain(decision.reason)}")
elif rv.reason_now:
    st.markdown(plain(rv.reason_now))
    st.caption(f"Recorded outcome when the run finished (evidence): {decision.outcome}.")
else:
    st.markdown(plain(decision.reason))
if rv.data_warnings_sentence:
    st.warning(f"{plain(rv.data_warnings_sentence)} (listed under Gates below).", icon=":material/warning:")
for note in rv.notes:
    st.caption(plain(note))
if rv.intact_problem:
    st.error(f"This run's files are not intact: {plain(rv.intact_problem)}")
reports = rv.reports
cols = st.columns(4)
cols[0].metric("Challenger macro-F1", f"{reports['challenger'].macro_f1:.4f}" if reports["challenger"] else "n/a")
champion_report = reports["champion"]
cols[1].metric("Champion macro-F1", f"{champion_report.macro_f1:.4f}" if champion_report else "none")
cols[2].metric("Rule baseline macro-F1", f"{reports['baseline'].macro_f1:.4f}" if reports["baseline"] else "n/a")
cols[3].metric("Gates failed", rv.failed_gate_count, help=decision.gates_summary)
st.caption(f"Macro-F1: {review.REVIEW_F1_SOURCE}.")
worst = checklistview.worst_off_sentence(rv.evidence.checklist, run_gates.per_user.tolerance)
if worst:
    st.markdown(f"**{plain(worst)}.**")
compared = rv.compared_against.run_id if rv.compared_against else "none (no champion when it ran)"
st.markdown(
    f"Compared against champion **`{compared}`**; champion now **`{rv.current_champion or 'none'}`**. "
    f"Finished {formatting.format_time(decision.finished_at)}; regression tolerance {rv.tolerance}."
)
if rv.thresholds_note:
    st.caption(plain(rv.thresholds_note))
review_frame.draw_inputs(rv.content_key, rv.evidence.snapshot, rv.evidence.config_yaml)

# ----------------------------------------------------------------------------- as served

if rv.served is not None:
    review_frame.draw_served(rv.content_key, refit_of, rv.served, review.reliability_spec(rv))

if rv.evidence.checklist is not None:
    checklist_frame.draw_checklist(rv.content_key, rv.evidence.checklist, run_gates)

# ----------------------------------------------------------------------------- charts
st.subheader("Champion vs challenger vs rule baseline")

built = review.chart_specs(rv)  # built once per run content, shared by every reader
if rv.interval_sentence is None:
    st.caption("No champion when this run was evaluated: the comparative gate was skipped, so there is no macro-F1 difference to show.")
for name, chart in built.items():
    if name == "bootstrap" and rv.interval_sentence:
        st.markdown(rv.interval_sentence)
    review_frame.draw_chart(rv.content_key, name, chart)
    png, svg, spec, _ = st.columns([1, 1, 2, 5])
    png.download_button(
        "PNG", data=partial(charts.to_png, chart), file_name=f"{run_id}-{name}.png", mime="image/png",
        key=f"review_png_{name}", on_click="ignore", icon=":material/download:",
    )
    svg.download_button(
        "SVG", data=partial(charts.to_svg, chart), file_name=f"{run_id}-{name}.svg", mime="image/svg+xml",
        key=f"review_svg_{name}", on_click="ignore", icon=":material/download:",
    )
    spec.download_button(
        "Vega-Lite JSON", data=partial(charts.to_vegalite_json, chart), file_name=f"{run_id}-{name}.vl.json",
        mime="application/json", key=f"review_json_{name}", on_click="ignore", icon=":material/download:",
    )

# ----------------------------------------------------------------------------- gates
st.subheader("Gates")
review_frame.draw_gate_table(rv.content_key, rv.gates)
review_frame.draw_checks(rv.content_key, rv)

# ----------------------------------------------------------------------------- sign-off
st.subheader("Sign-off")


done = signoff_result("review")
if done:
    st.success(
        f"Promoted by {plain(names_of(done))}: **`{done.new_champion}`** is now the champion "
        f"(replacing `{done.previous_champion or 'none'}`). Recorded in the history."
    )
    st.page_link(STATUS, label="See the new champion on Status", icon=":material/monitor_heart:")

for label, text in audit_rows(rv.effective.promotion, rv.pending):  # who, how, approvals (issue 14)
    st.caption(f"{plain(label)}: {plain(text)}")
you = current_access()
looked_at, spot_missing = checklist_frame.spot_check(rv, str(home.runs_dir / run_id)) if rv.can_promote else ([], None)
plan = rv.plan  # read in the review's snapshot (run_review was given the access); the core re-checks under its lock
assert plan is not None
st.caption(f"Rule: {plain(access.required_rule(you.policy))}.")
waiting = plan.state.waiting()
if waiting and rv.can_promote:
    st.info(plain(waiting) + ".", icon=":material/pending_actions:")
role_block = you.needs("approver")
blocked = plan.blocked()
if not rv.can_promote:
    st.warning(f"Promote is disabled: {plain(rv.promote_reason)}.", icon=":material/block:")
elif role_block is not None:
    st.warning(f"Promote is disabled: {plain(role_block)}.", icon=":material/block:")
elif blocked is not None:
    st.warning(f"Promote is disabled: {plain(blocked)}.", icon=":material/block:")
elif spot_missing is not None:
    st.warning(f"Promote is disabled: the spot check is not done ({plain(spot_missing)}).", icon=":material/block:")
else:
    st.info(f"Promote is available: {plain(rv.promote_reason)}.")
signoff(
    "review", verb="promote", subject=run_id, note_label="Note (required): why this model should serve",
    enabled=rv.can_promote and role_block is None and blocked is None and spot_missing is None,
    title="Promote this run?",
    summary=plain(plan.confirmation(
        f"refit {run_id} is applied: {refit_of} keeps serving, with the refitted calibrator and threshold" if refit_of
        else f"run {run_id} becomes the champion, replacing {rv.current_champion or 'none'}"
    )),
    act=lambda approver, note: review.sign_off(home, run_id, approver=approver, note=note, actor=actor(),
                                               looked_at=looked_at if rv.evidence.checklist is not None else None),
    reauth=you.sign_in_again(),
)

# ----------------------------------------------------------------------------- share
st.subheader("Share")
st.markdown("This address reproduces this view (hover it for the copy button):")
st.code(formatting.review_url(st.context.url, run_id), language=None, wrap_lines=True)
st.download_button(
    "Download the whole review (self-contained HTML)", data=partial(report.render_report, rv),
    file_name=report.report_file_name(run_id), mime="text/html", key="review_report", on_click="ignore",
    icon=":material/description:",
)
