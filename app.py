"""Status (home page): champion, retrain cadence, latest runs, runs awaiting sign-off, problems."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from access_frame import current_access
from page_frame import HISTORY, RETRAIN, REVIEW, page_frame, plain
from taskclf_core.console import charts, formatting, status

home = page_frame("Status")
# One read of the registry; expired approvals (access.approval_expiry_days) voided before it.
summary = status.status_summary(home, access=current_access())
inbox = summary.inbox
assert inbox is not None

st.subheader("Waiting for you")
if inbox.note:
    st.caption(plain(inbox.note))
for item in inbox.items:
    st.warning(plain(item.line()), icon=":material/pending_actions:")
    if item.page == "Review":
        st.page_link(REVIEW, label=f"Review {item.subject}", query_params=item.query, icon=":material/fact_check:")
    else:
        st.page_link(HISTORY, label="Roll back on History", icon=":material/history:")

st.caption(f"Home: `{home.root}`")
if summary.config.defaults:
    st.caption(
        f"No configuration file at `{summary.config.path}`: the reference defaults are in use "
        "(`taskclf init` writes the commented default file)."
    )

for problem in summary.problems:
    st.error(f"**Problem:** {plain(problem.what)}\n\n**Fix:** {plain(problem.fix)}", icon=":material/error:")

st.subheader("Champion")
champion = summary.champion
if champion is None:
    st.info("No champion yet: no model has been promoted.")
    st.page_link(RETRAIN, label="Start a retrain on the Retrain page", icon=":material/model_training:")
else:
    cols = st.columns(4)
    cols[0].metric(
        "Macro-F1", "n/a" if champion.macro_f1 is None else f"{champion.macro_f1:.4f}",
        help=f"The champion's macro-F1 {status.CHAMPION_F1_SOURCE}. A review re-evaluates it on that run's test rows.",
    )
    cols[1].metric("Age", formatting.format_age(champion.age))
    cols[2].metric("Trained from", champion.train_date_from)
    cols[3].metric("Trained to", champion.train_date_to)
    st.caption(f"Macro-F1 measured {status.CHAMPION_F1_SOURCE}.")
    by = f" by **{plain(champion.approver_shown)}**" if champion.approver_shown else ""
    st.markdown(
        f"Champion run **`{champion.run_id}`**, {champion.how}{by} on {formatting.format_time(champion.promoted_at)}."
    )
    if champion.signed_off_by:  # every approver, when and how each was authenticated
        st.caption(f"Signed off by {plain(champion.signed_off_by)}")
    preview, longer = champion.note_preview  # a long note: its first line, the whole note expands
    st.caption(f"Note: {plain(preview)}")
    if longer:
        with st.expander("The whole note"):
            st.text(champion.note)
    st.page_link(REVIEW, label="Open the champion's review", query_params={"run": champion.run_id})

st.subheader("What taskclf serves")
deployment = summary.deployment
if deployment is not None:
    if deployment.uses_policy:
        st.caption("taskclf's deployment is `models/inference_policy.json` (model, calibrator store, reject "
                   "threshold); its paths read it differently, so each is shown.")
    else:
        st.caption("No inference policy: every taskclf path serves the model `models/active.json` names, "
                   "uncalibrated, at its default reject threshold.")
    st.dataframe(pd.DataFrame(deployment.rows_as_dicts()), hide_index=True, key="status_deployment",
                 row_height=formatting.WRAPPED_ROW_HEIGHT)  # paths and names wrap
    for note in (p for p in deployment.problems if p.severity == "note"):
        st.caption(f"Note: {plain(note.what)}. {plain(note.fix[:1].upper() + note.fix[1:])}.")

st.subheader("Retrain cadence")
cadence = summary.cadence
(st.warning if cadence.due else st.success)(cadence.sentence("Retrain"))
st.caption(
    f"Cadence: every {cadence.cadence_days} day(s) ("
    + ("the reference default of `global_retrain_cadence_days`)." if summary.config.defaults
       else f"`global_retrain_cadence_days` in `{summary.config.path}`).")
)
if summary.calibrator is not None:
    (st.warning if summary.calibrator.due else st.success)(summary.calibrator.sentence("Calibrator store update"))
    st.caption(
        f"Calibrator store `{summary.calibrator_store}`, cadence every "
        f"{summary.calibrator.cadence_days} day(s) (`calibrator_update_cadence_days`). "
        "Refit it on the Retrain page (a reviewed change, signed off like a model)."
    )
else:
    st.caption(
        f"Calibrator store: none in the deployment (set `{status.CALIBRATOR_STORE_ENV}` to a store "
        "folder to see when its update is due)."
    )

if summary.running_job_id:
    st.info("A retrain is running.", icon=":material/sync:")
    st.page_link(RETRAIN, label="Follow the running retrain", query_params={"job": summary.running_job_id})

st.subheader("Awaiting sign-off")
if summary.auto_promote_note:
    st.warning(summary.auto_promote_note, icon=":material/block:")
if not summary.awaiting:
    st.caption("No run is waiting for sign-off.")
for heading, sentence in summary.pending_notes:  # the two-person rule's first sign-offs (and void ones)
    st.warning(f"{heading}: {plain(sentence)}", icon=":material/pending_actions:")
for waiting in summary.awaiting:
    if waiting.promotable:
        st.warning(f"Run **`{waiting.row.run_id}`** awaits sign-off: {plain(waiting.why)}.", icon=":material/pending_actions:")
    else:
        st.caption(f"Run `{waiting.row.run_id}` awaits sign-off but cannot be promoted: {plain(waiting.why)}.")
    st.page_link(REVIEW, label=f"Review {waiting.row.run_id}", query_params={"run": waiting.row.run_id})

if summary.timeline is not None and len(summary.timeline):
    st.subheader("Over time")
    st.vega_lite_chart(charts.to_vegalite_dict(charts.timeline_chart(summary.timeline)), theme=None, width="content")

st.subheader("Latest runs")
if not summary.latest_runs:
    st.caption("No runs yet.")
else:
    table = pd.DataFrame(
        [
            {
                "run": r.run_id,
                "review": formatting.review_link(r.run_id),
                "state": r.shown_outcome,
                "macro-F1": r.macro_f1,
                "finished": formatting.format_time(r.finished_at),
                "detail": r.detail,
            }
            for r in summary.latest_runs
        ]
    )
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "run": st.column_config.TextColumn(width="medium"),
            "macro-F1": st.column_config.NumberColumn(format="%.4f", help="The challenger's macro-F1 on the run's test rows"),
            "review": st.column_config.LinkColumn(display_text="open review"),
            "detail": st.column_config.TextColumn(width="large", help="Click a cell for its whole text"),
        },
        row_height=formatting.WRAPPED_ROW_HEIGHT,  # text wraps (three lines); a click shows all of it
        key="status_runs",
    )
    st.caption(f"{len(summary.latest_runs)} newest of {summary.run_count} runs; all runs are on the History page.")
