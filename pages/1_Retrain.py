"""Retrain: start a retrain in the background, follow its progress, cancel it, see its outcome."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from taskclf_core.console import jobs, status
from taskclf_core.console.jobs import JobRunningError, JobStatus
from taskclf_core.data.synthetic import SCENARIOS
from taskclf_core.errors import TaskclfError
from taskclf_core.paths import Home

st.set_page_config(page_title="Retrain · taskclf retrain console", layout="wide")
with st.sidebar:
    st.page_link("app.py", label="Status", icon=":material/monitor_heart:")
    st.page_link("pages/1_Retrain.py", label="Retrain", icon=":material/model_training:")
    st.page_link("pages/2_Review.py", label="Review", icon=":material/fact_check:")
    st.page_link("pages/3_History.py", label="History", icon=":material/history:")

st.title("Retrain")
home = Home.resolve()
config = status.read_config(home)


def render_job(job: JobStatus) -> None:
    """The job's state: progress while it runs, then its outcome or error."""
    if job.active:
        st.info(f"Retrain `{job.job_id}` is running: {job.message}", icon=":material/sync:")
        st.progress(job.fraction, text=f"Stage: {job.stage} ({job.fraction:.0%})")
        if job.cancel_requested:
            st.caption("Cancel requested; the job stops at the next safe point (press again to force it).")
        if st.button("Cancel retrain", key="retrain_cancel"):
            try:
                jobs.cancel_job(home, job.job_id)
            except TaskclfError as exc:
                st.error(str(exc))
    elif job.state == "succeeded" and job.result is not None:
        result = job.result
        shown = st.success if result.outcome in ("awaiting_signoff", "promoted") else st.warning
        shown(f"Retrain finished: **{result.outcome}**. {result.reason}")
        if result.run_id:
            st.page_link("pages/2_Review.py", label=f"Open the review of run {result.run_id}", query_params={"run": result.run_id}, icon=":material/fact_check:")
    elif job.state == "cancelled":
        st.warning(f"Retrain `{job.job_id}` was cancelled. {job.message}")
    else:
        st.error(f"Retrain `{job.job_id}` failed: {job.error}")


@st.fragment(run_every=1.0)
def live_job(job_id: str) -> None:
    """Re-read the job every second while it runs; rerun the page once it ends."""
    try:
        job = jobs.read_job(home, job_id)
    except TaskclfError as exc:
        st.error(str(exc))
        return
    render_job(job)
    if not job.active:
        st.rerun()


# ----------------------------------------------------------------------------- the job
requested = st.query_params.get("job")
running = jobs.running_job(home)
shown_job: JobStatus | None = None
if requested:
    try:
        shown_job = jobs.read_job(home, requested)
    except TaskclfError as exc:
        st.error(f"Cannot show retrain job: {exc}")
elif running is not None:
    shown_job = running
else:
    shown_job = jobs.latest_job(home)

if shown_job is not None:
    st.subheader("Current retrain" if shown_job.active else "Last retrain")
    if shown_job.active:
        live_job(shown_job.job_id)
    else:
        render_job(shown_job)

# ----------------------------------------------------------------------------- the form
st.subheader("Start a retrain")
with st.expander(f"Configuration in use: {config.path}", expanded=config.error is not None):
    if config.error:
        st.error(f"The configuration is invalid, so a retrain cannot start: {config.error}")
    st.code(config.text if config.text is not None else "(the file cannot be read)", language="yaml")

lookback = config.config.data_lookback_days if config.config else 30
synthetic = st.toggle("Synthetic data", value=not home.default_data_dir.is_dir(), key="retrain_synthetic")
fields: dict[str, object] = {"synthetic": synthetic}
if synthetic:
    names = list(SCENARIOS)
    scenario = st.selectbox(
        "Scenario", names, key="retrain_scenario",
        format_func=lambda n: f"{n}: {SCENARIOS[n].description}",
    )
    cols = st.columns(3)
    fields.update(
        scenario=scenario,
        users=int(cols[0].number_input("Users", min_value=1, max_value=500, value=5, key="retrain_users")),
        days=int(cols[1].number_input("Days", min_value=1, max_value=3650, value=lookback, key="retrain_days")),
        seed=int(cols[2].number_input("Seed", min_value=0, max_value=2**31 - 1, value=0, key="retrain_seed")),
    )
else:
    today = datetime.now(UTC).date()
    data_dir = st.text_input("Data directory", value=str(home.default_data_dir), key="retrain_data_dir")
    picked = st.date_input(
        "Date range (UTC)", value=(today - timedelta(days=lookback - 1), today), key="retrain_dates"
    )
    user_id = st.text_input("User id (only for schema v2 files, which carry none)", key="retrain_user_id")
    dates = list(picked) if isinstance(picked, tuple | list) else [picked]
    fields.update(
        data_dir=data_dir.strip() or None,
        date_from=dates[0] if dates else None,
        date_to=dates[-1] if dates else None,
        user_id=user_id.strip() or None,
    )
left, right = st.columns(2)
fields["force"] = left.toggle("Force (skip the cadence check)", key="retrain_force")
fields["dry_run"] = right.toggle("Dry run (evaluate only; never promotable)", key="retrain_dry_run")

if running is not None:
    st.caption("A retrain is running; a new one can start when it ends.")
    st.page_link("pages/1_Retrain.py", label=f"Follow retrain {running.job_id}", query_params={"job": running.job_id})
if st.button("Start retrain", type="primary", key="retrain_start", disabled=running is not None):
    try:
        started = jobs.submit(home, fields)
    except JobRunningError as exc:
        st.error(str(exc))
        if exc.job_id:
            st.page_link("pages/1_Retrain.py", label=f"Follow retrain {exc.job_id}", query_params={"job": exc.job_id})
    except TaskclfError as exc:
        st.error(f"Cannot start the retrain: {exc}")
    else:
        st.query_params["job"] = started.job_id
        st.rerun()
