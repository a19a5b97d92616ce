"""Background retrain jobs for the app: a separate process, its state on disk, one at a time.

A job is a folder ``artifacts/jobs/<job_id>/`` (job ids have the run id format, so they
sort by time and are validated before they touch a path):

* ``request.json``: the home and the :class:`~taskclf_core.console.service.RetrainRequest`;
* ``status.json``: state, stage, progress, result or error, written atomically by the
  job process only (the app just reads it, so it survives reloads and navigation);
* ``process.json``: the job's pid and process start time, written by the starter;
* ``cancel.json``: present once someone asked to cancel;
* ``job.log``: the process's stdout and stderr (tracebacks of internal errors go here,
  never to the page).

Only one job runs at a time: ``artifacts/jobs/active.json`` names the running job with
its pid and process start time. A lock whose process is gone (killed, crashed, machine
restarted) is stale and is replaced by the next start, so it never blocks forever. The
pipeline itself also holds its own ``flock`` (``train.lock.retrain_lock``), which covers a
retrain started from the CLI.

Cancelling sends SIGTERM to the job's process group. The job turns it into an exception
that unwinds the pipeline: run folders are built under a temporary name and renamed at
the end (``atomic.atomic_folder``), so a cancelled run leaves nothing half-written. While
the run is being saved or promoted the job finishes that step first.

The job process itself is :mod:`taskclf_core.console.jobrunner` (run a job by hand with
``python -m taskclf_core.console.jobrunner run <job_dir>``); the records and locks shared
by both sides are in :mod:`taskclf_core.console.jobfiles`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from taskclf_core.console.jobfiles import (
    ACTIVE_LOCK,
    ACTIVE_STATES,
    CANCEL_FILE,
    FORCE_KILL_AFTER_SECONDS,
    LOG_FILE,
    PACKAGE_ROOT,
    PROCESS_FILE,
    REQUEST_FILE,
    START_GRACE_SECONDS,
    STATUS_FILE,
    JobResult,
    JobSpec,
    JobState,
    JobStatus,
    ProcessRecord,
    job_dir,
    now_iso,
    read_lock,
    read_model,
    start_lock,
    validate_job_id,
)
from taskclf_core.errors import (
    ConfigError,
    DataError,
    JobRunningError,
    RegistryError,
    TaskclfError,
)
from taskclf_core.fs.atomic import write_json_atomic
from taskclf_core.fs.procs import process_alive, process_start_ticks
from taskclf_core.paths import Home
from taskclf_core.registry.runids import new_run_id
from taskclf_core.times import format_utc

if TYPE_CHECKING:
    from taskclf_core.console.service import RetrainRequest


def read_job(home: Home, job_id: str) -> JobStatus:
    """A job's state as the page shows it.

    A job whose status says it is running but whose process is gone is reported as
    ``failed`` (or ``cancelled`` when a cancel was asked for), so a killed job never
    looks like it runs forever.

    Raises:
        RunIdError: ``job_id`` is malformed.
        RegistryError: there is no such job, or its status cannot be read.
    """
    folder = job_dir(home, job_id)
    if not folder.is_dir():
        raise RegistryError(f"no retrain job {job_id} in artifacts/jobs")
    status: JobStatus | None = read_model(folder / STATUS_FILE, JobStatus)
    if status is None:
        raise RegistryError(f"retrain job {job_id}: {STATUS_FILE} is missing or unreadable")
    process: ProcessRecord | None = read_model(folder / PROCESS_FILE, ProcessRecord)
    cancel = (folder / CANCEL_FILE).exists()
    status = status.model_copy(update={"pid": process.pid if process else None, "cancel_requested": cancel})
    if not status.active:
        return status
    if process is None:
        age = time.time() - (folder / STATUS_FILE).stat().st_mtime
        if age < START_GRACE_SECONDS:
            return status
        alive = False
    else:
        alive = process_alive(process.pid, process.pid_start)
    if alive:
        return status
    if cancel:
        return status.model_copy(
            update={"state": "cancelled", "message": f"cancelled during {status.stage}", "finished_at": status.updated_at}
        )
    return status.model_copy(
        update={
            "state": "failed",
            "error": (
                f"the job process ended without reporting a result (killed or crashed) during "
                f"{status.stage}; details may be in artifacts/jobs/{job_id}/{LOG_FILE}. Runs are "
                "written atomically, so nothing half-written was left behind"
            ),
            "error_kind": "JobLost",
        }
    )


def list_jobs(home: Home, *, limit: int = 20) -> list[JobStatus]:
    """The most recent jobs, newest first (unreadable job folders are skipped)."""
    if not home.jobs_dir.is_dir():
        return []
    names = sorted((p.name for p in home.jobs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")), reverse=True)
    jobs: list[JobStatus] = []
    for name in names:
        try:
            jobs.append(read_job(home, name))
        except TaskclfError:
            continue
        if len(jobs) >= limit:
            break
    return jobs


def latest_job(home: Home) -> JobStatus | None:
    """The newest job, or None when none was ever started."""
    jobs = list_jobs(home, limit=1)
    return jobs[0] if jobs else None


def running_job(home: Home) -> JobStatus | None:
    """The job holding the one-at-a-time lock if its process is alive, else None."""
    lock = read_lock(home)
    if lock is None or not process_alive(lock.pid, lock.pid_start):
        return None
    try:
        job = read_job(home, lock.job_id)
    except TaskclfError:
        return None
    return job if job.active else None


# --------------------------------------------------------------------------- starting


def _describe_request(request: RetrainRequest) -> str:
    if request.synthetic:
        what = f"synthetic {request.scenario!r} ({request.users} users, seed {request.seed})"
    else:
        what = f"data directory {request.data_dir or 'data/processed'}"
    flags = [name for name in ("force", "dry_run") if getattr(request, name)]
    return what + (f", {', '.join(flags)}" if flags else "")


def _precheck(home: Home, request: RetrainRequest) -> None:
    """Refuse bad input before anything is written (config, engine, scenario, data directory)."""
    from taskclf_core.console.service import resolve_config, retrain_compute

    _, config = resolve_config(home, request.config_path)
    retrain_compute(config, request)
    if request.synthetic:
        from taskclf_core.data.synthetic import SCENARIOS

        if request.scenario not in SCENARIOS:
            raise ConfigError(
                f"unknown synthetic scenario {request.scenario!r}; known: {', '.join(SCENARIOS)}"
            )
    else:
        data_dir = Path(request.data_dir) if request.data_dir is not None else home.default_data_dir
        if not data_dir.is_dir():
            raise DataError(f"data directory {data_dir} does not exist or is not a folder")


def _reap(proc: subprocess.Popen[bytes]) -> None:
    # Wait for the child in the background so it never lingers as a zombie of this process.
    threading.Thread(target=proc.wait, name=f"reap-job-{proc.pid}", daemon=True).start()


def start_job(home: Home, request: RetrainRequest) -> JobStatus:
    """Start a retrain in a separate process and return its initial status.

    Args:
        home: The registry home (the job runs on the same home).
        request: A :class:`~taskclf_core.console.service.RetrainRequest`.

    Returns:
        The new job's status (state ``starting``).

    Raises:
        JobRunningError: a job (or a CLI retrain) is already running; names the job.
        ConfigError, DataError: the config, scenario or data directory is invalid
            (nothing is written then).
    """
    from taskclf_core.train.lock import retrain_running

    _precheck(home, request)
    with start_lock(home):
        current = running_job(home)
        if current is not None:
            raise JobRunningError(
                f"a retrain is already running (job {current.job_id}, started "
                f"{format_utc(current.started_at)}, stage {current.stage}); "
                "wait for it to finish or cancel it",
                current.job_id,
            )
        holder = retrain_running(home.artifacts_dir)
        if holder is not None:
            raise JobRunningError(
                f"a retrain started outside the app is running ({holder}); wait for it to finish",
                None,
            )
        job_id = new_run_id()
        folder = home.jobs_dir / job_id
        folder.mkdir(parents=True)
        spec = JobSpec(home=str(home.root), request=request.model_dump(mode="json"))
        write_json_atomic(folder / REQUEST_FILE, spec.model_dump(mode="json"))
        now = now_iso()
        status = JobStatus(
            job_id=job_id, state="starting", stage="starting", started_at=now, updated_at=now,
            request=spec.request, message=_describe_request(request),
        )
        write_json_atomic(folder / STATUS_FILE, status.model_dump(mode="json", exclude={"pid", "cancel_requested"}))
        env = {**os.environ, "TASKCLF_HOME": str(home.root)}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_ROOT), env.get("PYTHONPATH", "")) if p)
        with open(folder / LOG_FILE, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "taskclf_core.console.jobrunner", "run", str(folder)],
                cwd=str(home.root), env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
            )
        _reap(proc)
        record = ProcessRecord(job_id=job_id, pid=proc.pid, pid_start=process_start_ticks(proc.pid), started_at=now)
        write_json_atomic(folder / PROCESS_FILE, record.model_dump(mode="json"))
        write_json_atomic(home.jobs_dir / ACTIVE_LOCK, record.model_dump(mode="json"))
    return read_job(home, job_id)


def submit(home: Home, fields: Mapping[str, Any]) -> JobStatus:
    """Validate a retrain request from a form and start it (the Retrain page's one call).

    Args:
        home: The registry home.
        fields: :class:`~taskclf_core.console.service.RetrainRequest` fields.

    Returns:
        The new job's status.

    Raises:
        ConfigError: a field is invalid (names the field and what is allowed).
        JobRunningError, DataError: see :func:`start_job`.
    """
    from taskclf_core.console.service import RetrainRequest
    from taskclf_core.errors import describe_validation_error

    try:
        request = RetrainRequest.model_validate(dict(fields))
    except ValidationError as exc:
        raise ConfigError(f"invalid retrain request: {describe_validation_error(exc)}") from None
    return start_job(home, request)


def cancel_job(home: Home, job_id: str) -> JobStatus:
    """Ask a running job to stop (SIGTERM to its process group).

    A second cancel at least :data:`FORCE_KILL_AFTER_SECONDS` after the first kills the
    process group (SIGKILL); a stale lock left by that is ignored by the next start.

    Raises:
        RunIdError: ``job_id`` is malformed.
        RegistryError: no such job, or it is not running.
    """
    job = read_job(home, job_id)
    folder = job_dir(home, job_id)
    process: ProcessRecord | None = read_model(folder / PROCESS_FILE, ProcessRecord)
    if not job.active or process is None or not process_alive(process.pid, process.pid_start):
        raise RegistryError(f"retrain job {job_id} is not running (state {job.state}); nothing to cancel")
    cancel_path = folder / CANCEL_FILE
    sig = signal.SIGTERM
    if cancel_path.exists() and time.time() - cancel_path.stat().st_mtime >= FORCE_KILL_AFTER_SECONDS:
        sig = signal.SIGKILL
    if not cancel_path.exists():
        write_json_atomic(cancel_path, {"requested_at": now_iso()})
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    return read_job(home, job_id)


__all__ = [
    "ACTIVE_LOCK",
    "ACTIVE_STATES",
    "JobResult",
    "JobState",
    "JobStatus",
    "cancel_job",
    "job_dir",
    "latest_job",
    "list_jobs",
    "process_alive",
    "process_start_ticks",
    "read_job",
    "running_job",
    "start_job",
    "submit",
    "validate_job_id",
]
