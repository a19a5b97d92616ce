"""What the Review page draws from a run's files alone, drawn once per run content.

Each function is cached with ``st.cache_data`` keyed by the run's content hash
(``RunReview.content_key``, the SHA-256 of its evidence files): the first reader's render
draws the elements, every later reader (any session) gets them replayed, until the files
change. Arguments named with a leading underscore are the data (not hashed: the key says
which content they are). Kept in a module, not in the page, so they are decorated once per
process. Nothing here reads the registry: what changes without the run's files changing
(champion, promotability, approvals) stays in the page.
"""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from page_frame import plain
from taskclf_core.console import formatting, review, servingview
from taskclf_core.train.records import DatasetSnapshot


@st.cache_data(show_spinner=False, max_entries=100)
def draw_chart(content_key: str, name: str, _spec: str) -> None:
    """One chart, drawn once per run content; later readers get the element replayed."""
    st.vega_lite_chart(json.loads(_spec), theme=None, width="content")  # as exported


@st.cache_data(show_spinner=False, max_entries=100)
def draw_inputs(content_key: str, _snapshot: DatasetSnapshot, _config_yaml: str) -> None:
    """The dataset snapshot and the run's configuration, drawn once per run content."""
    with st.expander(
        f"Dataset snapshot: {_snapshot.row_count} labelled windows, {_snapshot.user_count} users, "
        f"{_snapshot.date_from} to {_snapshot.date_to}, hash {_snapshot.dataset_hash}"
    ):
        st.json(_snapshot.model_dump(mode="json"), expanded=1)
    with st.expander("Configuration used by this run"):
        st.code(_config_yaml, language="yaml")


@st.cache_data(show_spinner=False, max_entries=100)
def draw_served(content_key: str, refit_of: str | None, _served: servingview.ServedComparison, _chart: str | None) -> None:
    """The "as served" section, drawn once per run content (it depends on the run's files only)."""
    st.subheader("As taskclf will serve it")
    st.markdown(plain(_served.judged_sentence))
    st.dataframe(
        pd.DataFrame([{"": d.what, ("before (now)" if refit_of else "champion now"): d.champion,
                       ("after the refit" if refit_of else "challenger if promoted"): d.challenger,
                       "changes": "yes" if d.changed else ""} for d in _served.diff]),
        hide_index=True,
    )
    four = st.column_config.NumberColumn(format="%.4f")
    st.dataframe(
        pd.DataFrame([f.as_dict() for f in _served.figures]), hide_index=True,
        column_config={k: four for k in ("macro-F1 after reject", "reject rate", "accuracy on accepted", "coverage", "ECE", "Brier")},
    )
    if len(_served.per_user):
        with st.expander("Reject rate and macro-F1 per user, raw and served"):
            st.dataframe(_served.per_user, hide_index=True,
                         column_config={c: four for c in _served.per_user.columns if c != "user"})
    if _chart is not None:
        st.vega_lite_chart(json.loads(_chart), theme=None, width="content")


GATE_COLOURS = {"failed": "background-color: #f8d7da; color: #a71d2a; font-weight: 600",
                "passed": "background-color: #d4edda; color: #1e7e34", "skipped": "color: #666"}


@st.cache_data(show_spinner=False, max_entries=100)
def draw_gate_table(content_key: str, _gates: list[review.GateRow]) -> None:
    """The gate table, drawn once per run content (it depends on the run's files only)."""
    gate_table = pd.DataFrame(
        [
            {
                "gate": g.name, "kind": g.kind, "result": g.status,
                "value": formatting.format_gate_value(g.value, g.threshold), "threshold": plain(g.threshold),
                "config key": plain(g.config_key), "detail": plain(g.detail),
            }
            for g in _gates
        ]
    ).set_index("gate")
    # st.table renders its cells as Markdown (">= 0.95" would become a quote): cells are escaped.
    st.table(gate_table.style.map(lambda v: GATE_COLOURS.get(v, ""), subset=["result"]))


@st.cache_data(show_spinner=False, max_entries=100)
def draw_checks(content_key: str, _review: review.RunReview) -> None:
    """The challenger's acceptance checks and the data warnings, drawn once per run content."""
    challenger_report = _review.reports["challenger"]
    if challenger_report is not None and challenger_report.acceptance:
        with st.expander("Acceptance checks of the challenger: each threshold and where it is set"):
            st.dataframe(
                pd.DataFrame(
                    [
                        {"check": c.name, "result": "passed" if c.passed else "failed",
                         "value": formatting.format_gate_value(c.value, c.threshold), "threshold": c.threshold,
                         "config key": c.config_key}
                        for c in challenger_report.acceptance
                    ]
                ),
                hide_index=True,
            )
            st.caption("Thresholds are set in the `gates:` section of the configuration; the run records those it was judged by.")
    if _review.data_warnings:
        st.warning(
            f"{len(_review.data_warnings)} data warning(s): rows taskclf accepts but that look wrong were kept in this run's data.",
            icon=":material/warning:",
        )
        st.dataframe(pd.DataFrame(_review.data_warning_rows), hide_index=True)
