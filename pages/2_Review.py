"""Review one run (``?run=<run_id>``): headline, charts, gates, sign-off, share."""

from __future__ import annotations

import re
from functools import partial

import pandas as pd
import streamlit as st

from taskclf_core.console import charts, report, status
from taskclf_core.errors import TaskclfError
from taskclf_core.paths import Home

st.set_page_config(page_title="Review · taskclf retrain console", layout="wide")
with st.sidebar:
    st.page_link("app.py", label="Status", icon=":material/monitor_heart:")
    st.page_link("pages/1_Retrain.py", label="Retrain", icon=":material/model_training:")
    st.page_link("pages/2_Review.py", label="Review", icon=":material/fact_check:")
    st.page_link("pages/3_History.py", label="History", icon=":material/history:")

st.title("Review")
home = Home.resolve()
OUTCOME_COLOURS = {"awaiting_signoff": "orange", "promoted": "green", "rejected": "red", "dry_run": "gray"}


def plain(text: str) -> str:
    """Escape markdown so text from a URL or a file shows as typed."""
    return re.sub(r"([\\`*_\[\]<>#|~$])", r"\\\1", text)


# ----------------------------------------------------------------------------- which run
requested = st.query_params.get("run")
if not requested:
    choices = status.recent_run_ids(home)
    if not choices:
        st.info("No runs yet. Start one on the Retrain page.")
        st.stop()
    picked = st.selectbox("Run to review", choices, index=None, placeholder="Pick a run", key="review_pick")
    if picked:
        st.query_params["run"] = picked
        st.rerun()
    st.stop()

try:
    review = status.run_review(home, requested)
except TaskclfError as exc:
    st.error(f"Cannot show this review: {plain(str(exc))}")
    st.page_link("pages/3_History.py", label="See every run on the History page")
    st.stop()

run_id = review.run_id
decision = review.decision

# ----------------------------------------------------------------------------- headline
st.subheader(f"Run {run_id}")
st.badge(decision.outcome, color=OUTCOME_COLOURS.get(decision.outcome, "gray"))  # type: ignore[arg-type]
st.markdown(plain(decision.reason))
for note in review.notes:
    st.caption(note)
if review.intact_problem:
    st.error(f"This run's files are not intact: {review.intact_problem}")
reports = review.reports
cols = st.columns(4)
cols[0].metric("Challenger macro-F1", f"{reports['challenger'].macro_f1:.4f}" if reports["challenger"] else "n/a")
champion_report = reports["champion"]
cols[1].metric("Champion macro-F1", f"{champion_report.macro_f1:.4f}" if champion_report else "none")
cols[2].metric("Rule baseline macro-F1", f"{reports['baseline'].macro_f1:.4f}" if reports["baseline"] else "n/a")
cols[3].metric("Gates failed", sum(g.status == "failed" for g in review.gates), help=decision.gates_summary)
compared = review.compared_against.run_id if review.compared_against else "none (no champion when it ran)"
st.markdown(
    f"Compared against champion **`{compared}`**; champion now **`{review.current_champion or 'none'}`**. "
    f"Finished {status.format_time(decision.finished_at)}; regression tolerance {review.tolerance}."
)
snapshot = review.evidence.snapshot
with st.expander(
    f"Dataset snapshot: {snapshot.get('row_count')} labelled windows, {snapshot.get('user_count')} users, "
    f"{snapshot.get('date_from')} to {snapshot.get('date_to')}, hash {snapshot.get('dataset_hash')}"
):
    st.json(snapshot, expanded=1)
with st.expander("Configuration used by this run"):
    st.code(review.evidence.config_yaml, language="yaml")

# ----------------------------------------------------------------------------- charts
st.subheader("Champion vs challenger vs rule baseline")
built = charts.review_charts(reports, tolerance=review.tolerance, bootstrap=review.evidence.bootstrap)
if "bootstrap" not in built:
    st.caption("No champion when this run was evaluated: the comparative gate was skipped, so there is no macro-F1 difference to show.")
for name, chart in built.items():
    st.altair_chart(chart, key=f"review_chart_{name}", theme=None, width="content")  # as exported
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
GATE_COLOURS = {"failed": "background-color: #f8d7da; color: #a71d2a; font-weight: 600",
                "passed": "background-color: #d4edda; color: #1e7e34", "skipped": "color: #666"}
gate_table = pd.DataFrame(
    [
        {
            "gate": g.name, "kind": g.kind, "result": g.status,
            "value": "" if g.value is None else f"{g.value:.4f}", "threshold": plain(g.threshold), "detail": plain(g.detail),
        }
        for g in review.gates
    ]
).set_index("gate")
st.table(gate_table.style.map(lambda v: GATE_COLOURS.get(v, ""), subset=["result"]))

# ----------------------------------------------------------------------------- sign-off
st.subheader("Sign-off")


def close_dialog() -> None:
    st.session_state.pop("review_confirm_open", None)


@st.dialog("Promote this run?", on_dismiss=close_dialog)
def confirm_promote(approver: str, note: str) -> None:
    st.markdown(f"Run **`{run_id}`** becomes the champion, replacing `{review.current_champion or 'none'}`.")
    st.markdown(f"Approver: **{plain(approver) or '(missing)'}**  \nNote: {plain(note) or '(missing)'}")
    yes, no = st.columns(2)
    if yes.button("Yes, promote", type="primary", key="review_confirm_promote"):
        try:
            entry = status.sign_off(home, run_id, approver=approver, note=note)
        except TaskclfError as exc:
            st.error(str(exc))
        else:
            st.session_state["review_promoted"] = (entry.new_champion, entry.previous_champion, entry.approver)
            close_dialog()
            st.rerun()
    if no.button("Cancel", key="review_cancel_promote"):
        close_dialog()
        st.rerun()


done = st.session_state.pop("review_promoted", None)
if done:
    new, previous, who = done
    st.success(f"Promoted by {who}: **`{new}`** is now the champion (replacing `{previous or 'none'}`). Recorded in the history.")
    st.page_link("app.py", label="See the new champion on Status", icon=":material/monitor_heart:")

if review.can_promote:
    st.info(f"Promote is available: {review.promote_reason}.")
else:
    st.warning(f"Promote is disabled: {review.promote_reason}.", icon=":material/block:")
logged_in = status.approver_from_user(st.user.to_dict())
if logged_in:
    approver = st.text_input("Approver (signed in)", value=logged_in, disabled=True, key="review_approver_user")
else:
    approver = st.text_input("Approver (required)", key="review_approver", disabled=not review.can_promote)
note = st.text_area("Note (required): why this model should serve", key="review_note", disabled=not review.can_promote)
if st.button("Promote…", type="primary", disabled=not review.can_promote, key="review_promote"):
    st.session_state["review_confirm_open"] = run_id
if st.session_state.get("review_confirm_open") == run_id:
    confirm_promote(approver, note)

# ----------------------------------------------------------------------------- share
st.subheader("Share")
st.markdown(f"This page's address reproduces this view: `Review?run={run_id}`.")
st.download_button(
    "Download the whole review (self-contained HTML)", data=partial(report.render_report, review),
    file_name=report.report_file_name(run_id), mime="text/html", key="review_report", on_click="ignore",
    icon=":material/description:",
)
