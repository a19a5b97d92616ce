"""Status (home page): champion, retrain cadence, latest runs, runs awaiting sign-off, problems."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from taskclf_core.console import status
from taskclf_core.paths import Home

st.set_page_config(page_title="Status · taskclf retrain console", layout="wide")
with st.sidebar:
    st.page_link("app.py", label="Status", icon=":material/monitor_heart:")
    st.page_link("pages/1_Retrain.py", label="Retrain", icon=":material/model_training:")
    st.page_link("pages/2_Review.py", label="Review", icon=":material/fact_check:")
    st.page_link("pages/3_History.py", label="History", icon=":material/history:")

st.title("Status")
home = Home.resolve()
summary = status.status_summary(home)
st.caption(f"Home: `{home.root}`")

for problem in summary.problems:
    st.error(f"**Problem:** {problem.what}\n\n**Fix:** {problem.fix}", icon=":material/error:")

st.subheader("Champion")
champion = summary.champion
if champion is None:
    st.info("No champion yet: no model has been promoted. Start a retrain on the Retrain page.")
else:
    cols = st.columns(4)
    cols[0].metric("Macro-F1", "n/a" if champion.macro_f1 is None else f"{champion.macro_f1:.4f}")
    cols[1].metric("Age", status.format_age(champion.age))
    cols[2].metric("Trained from", champion.train_date_from)
    cols[3].metric("Trained to", champion.train_date_to)
    st.markdown(
        f"Champion run **`{champion.run_id}`**, {champion.how} by **{champion.promoted_by}** "
        f"on {status.format_time(champion.promoted_at)}."
    )
    st.caption(f"Note: {champion.note}")
    st.page_link("pages/2_Review.py", label="Open the champion's review", query_params={"run": champion.run_id})

st.subheader("Retrain cadence")
cadence = summary.cadence
(st.warning if cadence.due else st.success)(cadence.sentence("Retrain"))
st.caption(
    f"Cadence: every {cadence.cadence_days} day(s) "
    f"(`global_retrain_cadence_days` in `{summary.config.path}`)."
)
if summary.calibrator is not None:
    (st.warning if summary.calibrator.due else st.success)(summary.calibrator.sentence("Calibrator store update"))
    st.caption(
        f"Calibrator store `{summary.calibrator_store}`, cadence every "
        f"{summary.calibrator.cadence_days} day(s) (`calibrator_update_cadence_days`)."
    )
else:
    st.caption(
        f"Calibrator store: not configured (set `{status.CALIBRATOR_STORE_ENV}` to its folder "
        "to see when its update is due)."
    )

if summary.running_job_id:
    st.info("A retrain is running.", icon=":material/sync:")
    st.page_link("pages/1_Retrain.py", label="Follow the running retrain", query_params={"job": summary.running_job_id})

st.subheader("Awaiting sign-off")
if not summary.awaiting:
    st.caption("No run is waiting for sign-off.")
for waiting in summary.awaiting:
    if waiting.promotable:
        st.warning(f"Run **`{waiting.row.run_id}`** awaits sign-off: {waiting.why}.", icon=":material/pending_actions:")
    else:
        st.caption(f"Run `{waiting.row.run_id}` awaits sign-off but cannot be promoted: {waiting.why}.")
    st.page_link("pages/2_Review.py", label=f"Review {waiting.row.run_id}", query_params={"run": waiting.row.run_id})

st.subheader("Latest runs")
if not summary.latest_runs:
    st.caption("No runs yet.")
else:
    table = pd.DataFrame(
        [
            {
                "run": r.run_id,
                "review": status.review_link(r.run_id),
                "outcome": r.shown_outcome,
                "macro-F1": r.macro_f1,
                "finished": status.format_time(r.finished_at),
                "reason": r.broken or r.reason,
            }
            for r in summary.latest_runs
        ]
    )
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "macro-F1": st.column_config.NumberColumn(format="%.4f"),
            "review": st.column_config.LinkColumn(display_text="open review"),
        },
        key="status_runs",
    )
    st.caption(f"{len(summary.latest_runs)} newest of {summary.run_count} runs; all runs are on the History page.")
