"""Review's promotion-checklist sections: every person, the latest week, why the model changed,
and the spot check of three people (their day timelines and the ticks sign-off needs).

What depends on the run's files only is drawn once per run content (``st.cache_data`` keyed
by ``RunReview.content_key``, as ``review_frame``); the spot check's ticks are throwaway UI
flags in the session, and the core checks the list again at sign-off
(``registry.spotcheck``).
"""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from page_frame import plain
from taskclf_core.console.read import checklistview, review
from taskclf_core.console.reports import charts
from taskclf_core.model.checklist import ChecklistEvidence
from taskclf_core.model.thresholds import GateThresholds


@st.cache_data(show_spinner=False, max_entries=100)
def draw_checklist(content_key: str, _evidence: ChecklistEvidence, _thresholds: GateThresholds) -> None:
    """Every person, the latest week, why the model changed (once per run content)."""
    st.subheader("taskclf's promotion checklist")
    tolerance = _thresholds.per_user.tolerance
    if _evidence.per_user:
        frame = checklistview.per_user_frame(_evidence)
        spec = charts.to_vegalite_dict(charts.per_person_chart(frame, tolerance=tolerance))
        st.vega_lite_chart(spec, theme=None, width="content")
        too_few = checklistview.not_judged(_evidence)
        if too_few:
            st.caption("Too few minutes to judge (fewer than "
                       f"{_thresholds.per_user.min_windows}, `gates.per_user.min_windows`): "
                       + ", ".join(f"{u.user_id} ({u.rows})" for u in too_few) + ".")
    else:
        st.caption("No champion when this run was evaluated: no person could be compared.")
    rows = checklistview.recent_week_rows(_evidence, _thresholds)
    if rows:
        st.markdown("**The most recent week** (the checklist's drift test, `gates.recent_week`)")
        st.dataframe(pd.DataFrame([r.as_dict() for r in rows]), hide_index=True)
        with st.expander("PSI per feature: the challenger's training rows against the latest week"):
            st.dataframe(checklistview.psi_frame(_evidence), hide_index=True,
                         column_config={"PSI": st.column_config.NumberColumn(format="%.3f")})
    s = _evidence.stability
    st.markdown(
        f"**Stability as served:** flap rate {s.flap_rate_raw:.3f} before smoothing (≤ "
        f"{_thresholds.safety.flap_rate_raw}), {s.flap_rate_smoothed:.3f} after taskclf's smoothing (≤ "
        f"{_thresholds.safety.flap_rate_smoothed}); {s.blocks} merged blocks, {s.share_long:.0%} at least 3 minutes "
        f"(≥ {_thresholds.safety.long_blocks_min:.0%}), {s.share_under_2_minutes:.0%} under 2 minutes (≤ "
        f"{_thresholds.safety.short_blocks_max:.0%})."
    )
    frames = checklistview.explanation_frames(_evidence)
    if frames:
        with st.expander("Why the model changed"):
            for title, frame in frames.items():
                st.markdown(f"**{title}**")
                st.dataframe(frame, hide_index=True)


@st.cache_data(show_spinner=False, max_entries=300)
def _timeline_spec(content_key: str, run_dir: str, user: str) -> tuple[str, str]:
    from pathlib import Path

    day, frame = checklistview.day_timeline(Path(run_dir), user)
    chart = charts.day_timeline_chart(frame, title=f"{user[:8]}… on {day}")
    return day, json.dumps(charts.to_vegalite_dict(chart))


def spot_check(rv: review.RunReview, run_dir: str) -> tuple[list[str], str | None]:
    """The spot check: proposed people and one the reviewer picks, each a day timeline to tick.

    Returns:
        The people ticked as looked at, and why Promote is still disabled (None: complete).
    """
    evidence = rv.evidence.checklist
    proposed, everyone, needed = checklistview.spot_check_choices(evidence)
    if not needed:
        return [], None
    st.subheader("Spot check: look at the people before you sign off")
    st.caption(f"taskclf's checklist asks for a manual sanity check on {needed} people "
               "(`gates.spot_check_users`): each timeline shows one of their days, minute by minute; black marks "
               "mark the minutes where the two models serve different labels.")
    people = list(dict.fromkeys(user for user, _ in proposed))
    why = dict(proposed)
    others = [u for u in everyone if u not in people]
    while len(people) < needed and others:
        pick = st.selectbox("A person of your choice", others, index=None, placeholder="Pick someone",
                            key=f"review_spot_pick_{len(people)}")
        if pick is None:
            break
        people.append(pick)
        why[pick] = "your pick"
        others = [u for u in others if u != pick]
    ticked = []
    for user in people:
        day, spec = _timeline_spec(rv.content_key, run_dir, user)
        st.vega_lite_chart(json.loads(spec), theme=None, width="content")
        if st.checkbox(f"I looked at {user} ({why[user]}, {day})", key=f"review_spot_{rv.run_id}_{user}"):
            ticked.append(user)
    from taskclf_core.registry.spotcheck import missing_spot_checks

    missing = missing_spot_checks(evidence, ticked)
    if missing:
        st.caption(f"Promote stays disabled until the spot check is done: {plain(missing)}.")
    return ticked, missing
