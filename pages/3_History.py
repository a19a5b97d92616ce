"""History: champion changes, promoted models, all runs (filterable by outcome), rollback."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from taskclf_core.console import status
from taskclf_core.errors import TaskclfError
from taskclf_core.paths import Home

st.set_page_config(page_title="History · taskclf retrain console", layout="wide")
with st.sidebar:
    st.page_link("app.py", label="Status", icon=":material/monitor_heart:")
    st.page_link("pages/1_Retrain.py", label="Retrain", icon=":material/model_training:")
    st.page_link("pages/2_Review.py", label="Review", icon=":material/fact_check:")
    st.page_link("pages/3_History.py", label="History", icon=":material/history:")

st.title("History")
home = Home.resolve()

requested, filter_error = status.parse_outcome_filter(st.query_params.get("outcome"))
if filter_error:
    st.warning(filter_error)
options = ["all", *status.OUTCOMES]
choice = st.selectbox(
    "Show runs with outcome", options, index=options.index(requested or "all"), key="history_outcome"
)
wanted = None if choice == "all" else choice
if wanted != st.query_params.get("outcome"):
    if wanted is None:
        st.query_params.pop("outcome", None)
    else:
        st.query_params["outcome"] = wanted
view = status.history_view(home, outcome=wanted)

done = st.session_state.pop("history_rolled_back", None)
if done:
    st.success(f"Rolled back by {done[1]}: **`{done[0]}`** is the champion again. Recorded in the history.")

# ----------------------------------------------------------------------------- champion history
st.subheader("Champion history")
if not view.entries:
    st.caption("No champion change yet.")
else:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "time": status.format_time(e.time), "action": e.action, "approver": e.approver, "note": e.note,
                    "new champion": e.new_champion,
                    "evidence": status.review_link(e.run_id) if e.run_id in view.run_ids else None,
                    "previous": e.previous_champion or "none", "macro-F1": e.macro_f1, "gates": e.gates_summary,
                }
                for e in view.entries
            ]
        ),
        hide_index=True,
        column_config={
            "macro-F1": st.column_config.NumberColumn(format="%.4f"),
            "evidence": st.column_config.LinkColumn(display_text="open review"),
        },
    )
for problem in view.problems:
    st.caption(f"Note: {problem}")

# ----------------------------------------------------------------------------- models
st.subheader("Promoted models")
if not view.models:
    st.caption("No promoted model yet.")
else:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "model": m.model_id, "champion": "★" if m.is_champion else "", "macro-F1": m.macro_f1,
                    "trained": f"{m.train_date_from} to {m.train_date_to}" if m.train_date_from else "",
                    "created": status.format_time(m.created_at) if m.created_at else "", "state": m.broken or "ok",
                }
                for m in view.models
            ]
        ),
        hide_index=True,
        column_config={"macro-F1": st.column_config.NumberColumn(format="%.4f")},
    )

# ----------------------------------------------------------------------------- runs
counts = ", ".join(f"{n} {o}" for o, n in view.outcome_counts.items())
st.subheader(f"Runs ({counts})")
if not view.runs:
    st.caption("No runs with this outcome.")
else:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "run": r.run_id, "review": status.review_link(r.run_id), "outcome": r.shown_outcome,
                    "macro-F1": r.macro_f1, "finished": status.format_time(r.finished_at),
                    "reason": r.broken or r.signed_off or r.reason, "compared against": r.compared_against or "none",
                }
                for r in view.runs
            ]
        ),
        hide_index=True,
        column_config={
            "macro-F1": st.column_config.NumberColumn(format="%.4f"),
            "review": st.column_config.LinkColumn(display_text="open review"),
        },
    )

# ----------------------------------------------------------------------------- rollback
st.subheader("Roll back")


def close_dialog() -> None:
    st.session_state.pop("history_confirm_open", None)


@st.dialog("Roll back the champion?", on_dismiss=close_dialog)
def confirm_rollback(target: str, approver: str, note: str) -> None:
    st.markdown(f"**`{target}`** becomes the champion again, replacing `{view.pointer_id or 'none'}`.")
    st.markdown(f"Approver: **{approver or '(missing)'}**  \nNote: {note or '(missing)'}")
    yes, no = st.columns(2)
    if yes.button("Yes, roll back", type="primary", key="history_confirm_rollback"):
        try:
            entry = status.roll_back(home, target, approver=approver, note=note, expected_champion=view.pointer_id)
        except TaskclfError as exc:
            st.error(str(exc))
        else:
            st.session_state["history_rolled_back"] = (entry.new_champion, entry.approver)
            close_dialog()
            st.rerun()
    if no.button("Cancel", key="history_cancel_rollback"):
        close_dialog()
        st.rerun()


if not view.rollback_targets:
    st.caption("No other good promoted model to roll back to.")
else:
    target = st.selectbox("Make this promoted model the champion again", view.rollback_targets, key="history_target")
    logged_in = status.approver_from_user(st.user.to_dict())
    approver = st.text_input(
        "Approver" + (" (signed in)" if logged_in else " (required)"), value=logged_in or "",
        disabled=bool(logged_in), key="history_approver",
    )
    note = st.text_area("Note (required): why roll back", key="history_note")
    if st.button("Roll back…", key="history_rollback"):
        st.session_state["history_confirm_open"] = target
    if st.session_state.get("history_confirm_open") == target:
        confirm_rollback(target, approver, note)
