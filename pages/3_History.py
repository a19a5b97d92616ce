"""History: champion changes, promoted models, all runs (filterable by effective state), rollback."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from access_frame import actor, current_access
from page_frame import page_frame, plain, signoff, signoff_result
from taskclf_core.console import access, formatting, notifications
from taskclf_core.console.read import deployview, history
from taskclf_core.console.read.runstate import OUTCOMES, names_of
from taskclf_core.console.reports import charts

home = page_frame("History")

requested, filter_error = history.parse_outcome_filter(st.query_params.get("outcome"))
if filter_error:
    st.warning(plain(filter_error))
options = ["all", *OUTCOMES]
choice = st.selectbox(
    "Show runs whose state is", options, index=options.index(requested or "all"), key="history_outcome",
    help="A run signed off after it finished counts as promoted; its recorded outcome is kept as evidence.",
)
wanted = None if choice == "all" else choice
if wanted != st.query_params.get("outcome"):
    if wanted is None:
        st.query_params.pop("outcome", None)
    else:
        st.query_params["outcome"] = wanted
you = current_access()
view = history.history_view(home, outcome=wanted, access=you)  # one read of the registry

done = signoff_result("history")
if done:
    st.success(
        f"Rolled back by {plain(names_of(done))}: **`{done.new_champion}`** is the champion again. Recorded in the history."
    )

# Long text columns get a fixed width and wrap (three lines; a click on a cell shows all of it).
TEXT = st.column_config.TextColumn(width="medium")
WRAP = formatting.WRAPPED_ROW_HEIGHT

# ----------------------------------------------------------------------------- champion history
if view.timeline is not None and len(view.timeline):
    st.vega_lite_chart(charts.to_vegalite_dict(charts.timeline_chart(view.timeline)), theme=None, width="content")
st.subheader("Champion history")
if not view.entries:
    st.caption("No champion change yet.")
else:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "time": formatting.format_time(e.time), "action": e.action, "new champion": e.new_champion,
                    "approver": names_of(e), "note": e.note,
                    "signed off by": access.signed_by(e), "approvals": access.approvals_of(e),
                    "evidence": formatting.review_link(e.run_id) if e.run_id in view.run_ids else None,
                    "previous": e.previous_champion or "none", "macro-F1": e.macro_f1, "gates": e.gates_summary,
                    "deployment (before → after)": deployview.describe_change(e.deployment_before, e.deployment_after),
                    "run started": e.requested.describe() if e.requested else "",
                }
                for e in view.entries
            ]
        ),
        hide_index=True,
        column_config={
            "approver": TEXT, "note": st.column_config.TextColumn(width="large"), "gates": TEXT,
            "signed off by": TEXT, "approvals": TEXT, "deployment (before → after)": TEXT, "run started": TEXT,
            "macro-F1": st.column_config.NumberColumn(format="%.4f"),
            "evidence": st.column_config.LinkColumn(display_text="open review"),
        },
        row_height=WRAP, key="history_changes",
    )
for problem in view.problems:
    st.caption(f"Note: {plain(problem)}")
serving = view.serving
if serving is not None:
    st.caption("What taskclf serves now (each serving path reads the deployment its own way):")
    st.dataframe(pd.DataFrame(serving.rows_as_dicts()), hide_index=True, row_height=WRAP, key="history_deployment")
    for problem in serving.problems:
        st.caption(f"{problem.severity.capitalize()}: {plain(problem.what)}. Fix: {plain(problem.fix)}.")
for heading, sentence in view.pending_notes:  # the two-person rule's first sign-offs (and void ones)
    st.warning(f"{heading}: {plain(sentence)}", icon=":material/pending_actions:")
for expired in view.expired:  # access.approval_expiry_days: voided, noted here
    st.caption(f"Expired approval ({formatting.format_time(expired.expired_at)}): {plain(expired.describe())}.")

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
                    "created": formatting.format_time(m.created_at) if m.created_at else "", "state": m.broken or "ok",
                }
                for m in view.models
            ]
        ),
        hide_index=True,
        column_config={"macro-F1": st.column_config.NumberColumn(format="%.4f"), "state": TEXT},
        row_height=WRAP, key="history_models",
    )

# ----------------------------------------------------------------------------- runs
st.subheader(f"Runs ({view.counts_text})")
if not view.runs:
    st.caption("No runs in this state.")
else:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "run": r.run_id, "review": formatting.review_link(r.run_id), "state": r.shown_outcome,
                    "macro-F1": r.macro_f1, "finished": formatting.format_time(r.finished_at),
                    "detail": r.detail, "compared against": r.compared_against or "none",
                    "thresholds": view.thresholds_of(r),
                }
                for r in view.runs
            ]
        ),
        hide_index=True,
        column_config={
            "macro-F1": st.column_config.NumberColumn(format="%.4f"), "detail": st.column_config.TextColumn(width="large"),
            "review": st.column_config.LinkColumn(display_text="open review"), "run": TEXT,
        },
        row_height=WRAP, key="history_runs",
    )

# ----------------------------------------------------------------------------- rollback
st.subheader("Roll back")


if not view.rollback_choices:
    st.caption("No other good promoted model to roll back to.")
else:
    labels = {o.model_id: o.label for o in view.rollback_choices}
    target = st.selectbox(
        "Make this promoted model the champion again", list(labels), index=view.rollback_default,
        format_func=labels.__getitem__, placeholder="Pick a former champion", key="history_target",
        help="Each former champion with when it served, its macro-F1 and how it left. The default is the "
        "champion most recently replaced by a promotion.",
    )
    st.caption(f"Rule: {plain(access.required_rule(you.policy))}.")
    role_block = you.needs("approver")  # the core refuses the same
    blocked = None
    summary = ""
    if target is None:
        st.caption("Pick the model to make champion again (none is suggested: the only candidates were rolled back from).")
    else:
        plan = view.rollback_plans[target]  # the core re-checks under its lock
        waiting = plan.state.waiting()
        if waiting:
            st.info(plain(waiting) + ".", icon=":material/pending_actions:")
        blocked = plan.blocked()
        summary = plain(plan.confirmation(f"{target} becomes the champion again, replacing {view.pointer_id or 'none'}"))
    if role_block or blocked:
        st.warning(f"Roll back is disabled: {plain(role_block or blocked)}.", icon=":material/block:")
    signoff(
        "history", verb="rollback", subject=target or "", note_label="Note (required): why roll back",
        title="Roll back the champion?", enabled=target is not None and role_block is None and blocked is None,
        summary=summary,
        act=lambda approver, note: history.roll_back(
            home, target or "", approver=approver, note=note, expected_champion=view.pointer_id, actor=actor()
        ),
        reauth=you.sign_in_again(),
    )

# ----------------------------------------------------------------------------- notifications
st.subheader("Notifications")
deliveries = notifications.deliveries_view(home)
for problem in deliveries.problems:
    st.caption(f"Note: {plain(problem)}")
if not deliveries.records:
    st.caption("No notification sent yet (targets and the events they want: the notify: section of "
               "configs/retrain.yaml; `taskclf notify test` tries every target).")
else:
    st.dataframe(
        pd.DataFrame(deliveries.rows()), hide_index=True,
        column_config={"error": st.column_config.TextColumn(width="large"), "target": TEXT},
        row_height=WRAP, key="history_notifications",
    )
    st.caption(f"The {len(deliveries.records)} newest deliveries (all in artifacts/notifications.jsonl).")
