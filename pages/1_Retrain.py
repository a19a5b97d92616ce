"""Retrain: start a retrain in the background, follow its progress, cancel it, see its outcome."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import streamlit as st

from access_frame import actor, current_access
from page_frame import RETRAIN, REVIEW, page_frame, plain
from taskclf_core.console import access, jobs
from taskclf_core.console.jobs import JobStatus
from taskclf_core.console.read import deployview, review, status
from taskclf_core.console.request import (
    MAX_DAYS,
    MAX_SEED,
    MAX_USERS,
    MIN_DAYS,
    MIN_USERS,
    may_promote_automatically,
)
from taskclf_core.data.schema import SCHEMA_DESCRIPTIONS
from taskclf_core.errors import JobRunningError, TaskclfError
from taskclf_core.registry.requested import MAX_REASON_CHARS
from taskclf_core.synthetic.team import SCENARIOS
from taskclf_core.train.config import read_config

home = page_frame("Retrain")
config = read_config(home.config_path)


def render_job(job: JobStatus) -> None:
    """The job's state: its options, progress while it runs, then its outcome or error."""
    if job.active:
        st.info(f"{job.label} `{job.job_id}` is running: {plain(job.message)}", icon=":material/sync:")
        st.progress(job.fraction, text=f"Stage: {job.stage} ({job.fraction:.0%})")
        if job.cancel_requested:
            st.caption("Cancel requested; the job stops at the next safe point (press again to force it).")
        cancel_block = current_access().needs("operator")  # the core refuses the same
        if cancel_block:
            st.caption(f"Cancel is disabled: {plain(cancel_block)}.")
        if st.button("Cancel retrain", key="retrain_cancel", disabled=cancel_block is not None):
            try:
                access.cancel_retrain(home, job.job_id, actor=actor())
            except TaskclfError as exc:
                st.error(plain(exc))
    elif job.state == "succeeded" and job.result is not None:
        result = job.result
        shown = st.success if result.outcome in ("awaiting_signoff", "promoted") else st.warning
        produced = f" producing run `{result.run_id}`" if result.run_id else ""
        shown(f"{job.label} `{job.job_id}` finished{produced}: **{result.outcome}**. {plain(result.reason)}")
        warned = review.data_warnings_sentence(result.data_warnings)
        if warned and result.outcome != "not_due":
            st.warning(f"{plain(warned)} (listed on the review).", icon=":material/warning:")
        if result.outcome == "not_due":
            st.caption("Nothing was trained: the cadence was not due and Force was off.")
        elif result.engine == "dask":
            st.caption(f"Ran on the Dask engine ({result.workers} workers, scheduler {plain(str(result.scheduler))}).")
        else:
            st.caption("Ran on the local engine.")
        if result.run_id:
            st.page_link(REVIEW, label=f"Open the review of run {result.run_id}", query_params={"run": result.run_id}, icon=":material/fact_check:")
    elif job.state == "cancelled":
        st.warning(f"{job.label} `{job.job_id}` was cancelled. {plain(job.message)}")
    else:
        st.error(f"{job.label} `{job.job_id}` failed: {plain(job.error)}")
    with st.expander("Options of this job", expanded=job.active):
        st.json({k: v for k, v in job.request.items() if v is not None and v is not False})


@st.fragment(run_every=1.0)
def live_job(job_id: str) -> None:
    """Re-read the job every second while it runs; rerun the page once it ends."""
    try:
        job = jobs.read_job(home, job_id)
    except TaskclfError as exc:
        st.error(plain(exc))
        return
    render_job(job)
    if not job.active:
        st.rerun()


# ----------------------------------------------------------------------------- the job
job_view = jobs.jobs_view(home, st.query_params.get("job"))  # the one asked for, else running, else latest
running, shown_job = job_view.running, job_view.shown
if job_view.problem:
    st.error(plain(job_view.problem))

if shown_job is not None:
    st.subheader("Current retrain" if shown_job.active else "Last retrain")
    if shown_job.active:
        live_job(shown_job.job_id)
    else:
        render_job(shown_job)

# ----------------------------------------------------------------------------- the form
st.subheader("Start a retrain")
if running is not None:
    # While a job runs its options are shown above (read-only); a new one can start when it ends.
    st.caption("A retrain is running; a new one can start when it ends. Its options are shown above.")
    st.page_link(RETRAIN, label=f"Follow retrain job {running.job_id}", query_params={"job": running.job_id})
    st.stop()

config_label = (
    f"Configuration in use: the reference defaults (no file at {config.path})" if config.defaults
    else f"Configuration in use: {config.path}"
)
start_block = current_access().needs("operator")  # the core refuses the same (console.access)
# A person who cannot start a retrain sees the form's values but cannot change them.
locked = config.error is not None or start_block is not None
with st.expander(config_label, expanded=config.error is not None):
    if config.defaults:
        st.caption("No configuration file: the reference defaults are in use (`taskclf init` writes one).")
    if config.error:
        st.error(f"The configuration is invalid, so a retrain cannot start: {plain(config.error)}")
    st.code(config.text if config.text is not None else "(no file: reference defaults)", language="yaml")

cfg = config.effective
KINDS = {"retrain": "Retrain the model (a challenger)", "calibrate": "Refit the champion's calibrator"}
kind = st.radio(
    "What to run", list(KINDS), format_func=KINDS.__getitem__, horizontal=True, key="retrain_kind", disabled=locked
)
if kind == "calibrate":
    st.caption(plain(deployview.refit_sentence(home, cfg.calibrator_update_cadence_days)) + " The refit is its own run: fitted on the validation "
               "rows, judged before and after as served, and signed off on its review like a model.")
synthetic = st.toggle("Synthetic data", value=not home.default_data_dir.is_dir(), key="retrain_synthetic", disabled=locked)
fields: dict[str, Any] = {"synthetic": synthetic, "kind": kind}
if synthetic:
    names = list(SCENARIOS)
    scenario = st.selectbox(
        "Scenario", names, key="retrain_scenario", disabled=locked,
        format_func=lambda n: f"{n}: {SCENARIOS[n].description}",
    )
    schema_version = st.selectbox(
        "Schema", list(SCHEMA_DESCRIPTIONS), key="retrain_schema", disabled=locked,  # taskclf's current first
        format_func=lambda v: f"{v}: {SCHEMA_DESCRIPTIONS[v]}",
    )
    cols = st.columns(3)
    fields.update(
        scenario=scenario,
        schema_version=schema_version,
        users=int(cols[0].number_input("Users", min_value=MIN_USERS, max_value=MAX_USERS, value=5, key="retrain_users", disabled=locked)),
        days=int(cols[1].number_input("Days", min_value=MIN_DAYS, max_value=MAX_DAYS, value=cfg.data_lookback_days, key="retrain_days", disabled=locked)),
        seed=int(cols[2].number_input("Seed", min_value=0, max_value=MAX_SEED, value=0, key="retrain_seed", disabled=locked)),
    )
else:
    today = datetime.now(UTC).date()
    data_dir = st.text_input("Data directory", value=str(home.default_data_dir), key="retrain_data_dir", disabled=locked)
    picked = st.date_input(
        "Date range (UTC)", value=(today - timedelta(days=cfg.data_lookback_days - 1), today), key="retrain_dates", disabled=locked
    )
    user_id = st.text_input("User id (only for schema v2 files, which carry none)", key="retrain_user_id", disabled=locked)
    dates = list(picked) if isinstance(picked, tuple | list) else [picked]
    fields.update(
        data_dir=data_dir.strip() or None,
        date_from=dates[0] if dates else None,
        date_to=dates[-1] if dates else None,
        user_id=user_id.strip() or None,
    )
fields["reason"] = st.text_input(
    "Reason (optional): why start it now", key="retrain_reason", disabled=locked, max_chars=MAX_REASON_CHARS,
    help="Shown on the run's review, sent with its events and kept in the history when it becomes champion.",
)
left, right = st.columns(2)
fields["force"] = left.toggle("Force (skip the cadence check)", key="retrain_force", disabled=locked)
fields["dry_run"] = right.toggle("Dry run (evaluate only; never promotable)", key="retrain_dry_run", disabled=locked)


def start(request_fields: dict[str, Any]) -> None:
    """Submit the job (the page's one core call) and follow it."""
    try:
        started = access.start_retrain(home, request_fields, actor=actor())
    except JobRunningError as exc:
        st.error(plain(exc))
        if exc.job_id:
            st.page_link(RETRAIN, label=f"Follow retrain job {exc.job_id}", query_params={"job": exc.job_id})
    except TaskclfError as exc:
        st.error(f"Cannot start the retrain: {plain(exc)}")
    else:
        st.session_state.pop("retrain_confirm_open", None)
        st.query_params["job"] = started.job_id
        st.rerun()


def close_dialog() -> None:
    st.session_state.pop("retrain_confirm_open", None)


@st.dialog("Start a retrain that may replace the champion?", on_dismiss=close_dialog)
def confirm_start(request_fields: dict[str, Any]) -> None:
    st.markdown(
        f"`auto_promote` is on in `{config.path}`: if every gate passes, this retrain **promotes its "
        "model automatically**, replacing the champion without a sign-off."
    )
    yes, no = st.columns(2)
    if yes.button("Yes, start", type="primary", key="retrain_confirm_start"):
        start(request_fields)
    if no.button("Cancel", key="retrain_cancel_start"):
        close_dialog()
        st.rerun()


may_promote = may_promote_automatically(cfg, dry_run=fields["dry_run"])
# The pipeline's own cadence rule: without force, a retrain that is not due trains nothing.
not_due = status.retrain_cadence_view(home, cfg).start_refusal(force=fields["force"]) if kind == "retrain" else None
if config.error:
    st.caption("Start is disabled: the configuration is invalid (see above).")
elif start_block:
    st.warning(f"Start is disabled: {plain(start_block)}.", icon=":material/block:")
elif not_due:
    st.warning(f"Start is disabled: {plain(not_due)}.", icon=":material/event_busy:")
elif may_promote:
    st.caption("auto_promote is on: you will be asked to confirm, because this retrain may replace the champion.")
if st.button(
    "Start calibrator refit" if kind == "calibrate" else "Start retrain", type="primary", key="retrain_start",
    disabled=locked or not_due is not None,
):
    if may_promote:
        st.session_state["retrain_confirm_open"] = True
    else:
        start(fields)
if st.session_state.get("retrain_confirm_open"):
    confirm_start(fields)
