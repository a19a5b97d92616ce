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
pipeline itself also holds its own ``flock`` (``runsave.retrain_lock``), which covers a
retrain started from the CLI.

Cancelling sends SIGTERM to the job's process group. The job turns it into an exception
that unwinds the pipeline: run folders are built under a temporary name and renamed at
the end (``atomic.atomic_folder``), so a cancelled run leaves nothing half-written. While
the run is being saved or promoted the job finishes that step first.

Run a job by hand with ``python -m taskclf_core.console.jobs run <job_dir>``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from taskclf_core.errors import BusyError, ConfigError, DataError, RegistryError, TaskclfError
from taskclf_core.fs.atomic import write_json_atomic
from taskclf_core.fs.procs import process_alive, process_start_ticks
from taskclf_core.paths import Home
from taskclf_core.registry.runids import new_run_id, validate_run_id

if TYPE_CHECKING:
    from taskclf_core.console.service import RetrainRequest

JobState = Literal["starting", "running", "succeeded", "failed", "cancelled"]
ACTIVE_STATES: tuple[str, ...] = ("starting", "running")

ACTIVE_LOCK = "active.json"
START_LOCK = ".start.lock"
REQUEST_FILE = "request.json"
STATUS_FILE = "status.json"
PROCESS_FILE = "process.json"
CANCEL_FILE = "cancel.json"
LOG_FILE = "job.log"

#: Stages during which a cancel waits for the step to finish (the run is being written).
UNINTERRUPTIBLE_STAGES = frozenset({"saving", "promoting", "done"})
#: A second cancel this many seconds after the first kills the process outright.
FORCE_KILL_AFTER_SECONDS = 5.0
#: Minimum seconds between two progress writes within one stage.
PROGRESS_WRITE_INTERVAL = 0.25
#: A job still "starting" without a process record after this long is reported as lost.
START_GRACE_SECONDS = 30.0

_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


class JobRunningError(BusyError):
    """A retrain job is already running; ``job_id`` names it (None: a CLI retrain)."""

    def __init__(self, message: str, job_id: str | None) -> None:
        super().__init__(message)
        self.job_id = job_id


class JobCancelled(BaseException):
    """Raised inside the job process when a cancel arrives (BaseException: not swallowed)."""


class JobResult(BaseModel):
    """What a finished retrain produced (a summary of ``RetrainResult``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    outcome: str
    reason: str
    run_id: str | None = None
    promoted: bool = False
    challenger_macro_f1: float | None = None
    due_at: str | None = None


class JobStatus(BaseModel):
    """``status.json`` of a job, plus what the reader adds (liveness, cancel request)."""

    model_config = ConfigDict(extra="forbid")

    job_id: str
    state: JobState
    stage: str = "starting"
    fraction: float = Field(default=0.0, ge=0.0, le=1.0)
    message: str = ""
    started_at: str
    updated_at: str
    finished_at: str | None = None
    request: dict[str, Any] = Field(default_factory=dict)
    result: JobResult | None = None
    error: str | None = None
    error_kind: str | None = None
    # Filled in by read_job (not stored by the job):
    pid: int | None = None
    cancel_requested: bool = False

    @property
    def active(self) -> bool:
        """True while the job is starting or running."""
        return self.state in ACTIVE_STATES


class _JobSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    home: str
    request: dict[str, Any]


class _ProcessRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    job_id: str
    pid: int
    pid_start: int | None = None
    started_at: str


def _now() -> str:
    return datetime.now(UTC).isoformat()


# --------------------------------------------------------------------------- files


def job_dir(home: Home, job_id: str) -> Path:
    """``artifacts/jobs/<job_id>`` after validating ``job_id`` (it may come from a URL)."""
    return home.jobs_dir / validate_run_id(job_id)


@contextlib.contextmanager
def _start_lock(home: Home) -> Iterator[None]:
    home.jobs_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(home.jobs_dir / START_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _read_model(path: Path, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate_json(path.read_bytes())
    except (OSError, ValidationError, ValueError):
        return None


def _read_lock(home: Home) -> _ProcessRecord | None:
    record: _ProcessRecord | None = _read_model(home.jobs_dir / ACTIVE_LOCK, _ProcessRecord)
    return record


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
    status: JobStatus | None = _read_model(folder / STATUS_FILE, JobStatus)
    if status is None:
        raise RegistryError(f"retrain job {job_id}: {STATUS_FILE} is missing or unreadable")
    process: _ProcessRecord | None = _read_model(folder / PROCESS_FILE, _ProcessRecord)
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
    lock = _read_lock(home)
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
    """Refuse bad input before anything is written (config, scenario, data directory)."""
    from taskclf_core.console.service import resolve_config

    resolve_config(home, request.config_path)
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
    from taskclf_core.train.runsave import retrain_running

    _precheck(home, request)
    with _start_lock(home):
        current = running_job(home)
        if current is not None:
            raise JobRunningError(
                f"a retrain is already running (job {current.job_id}, started "
                f"{current.started_at[:19].replace('T', ' ')} UTC, stage {current.stage}); "
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
        spec = _JobSpec(home=str(home.root), request=request.model_dump(mode="json"))
        write_json_atomic(folder / REQUEST_FILE, spec.model_dump(mode="json"))
        now = _now()
        status = JobStatus(
            job_id=job_id, state="starting", stage="starting", started_at=now, updated_at=now,
            request=spec.request, message=_describe_request(request),
        )
        write_json_atomic(folder / STATUS_FILE, status.model_dump(mode="json", exclude={"pid", "cancel_requested"}))
        env = {**os.environ, "TASKCLF_HOME": str(home.root)}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_PACKAGE_ROOT), env.get("PYTHONPATH", "")) if p)
        with open(folder / LOG_FILE, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "taskclf_core.console.jobs", "run", str(folder)],
                cwd=str(home.root), env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
            )
        _reap(proc)
        record = _ProcessRecord(job_id=job_id, pid=proc.pid, pid_start=process_start_ticks(proc.pid), started_at=now)
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
    process: _ProcessRecord | None = _read_model(folder / PROCESS_FILE, _ProcessRecord)
    if not job.active or process is None or not process_alive(process.pid, process.pid_start):
        raise RegistryError(f"retrain job {job_id} is not running (state {job.state}); nothing to cancel")
    cancel_path = folder / CANCEL_FILE
    sig = signal.SIGTERM
    if cancel_path.exists() and time.time() - cancel_path.stat().st_mtime >= FORCE_KILL_AFTER_SECONDS:
        sig = signal.SIGKILL
    if not cancel_path.exists():
        write_json_atomic(cancel_path, {"requested_at": _now()})
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    return read_job(home, job_id)


def wait_job(home: Home, job_id: str, *, timeout: float = 120.0, poll: float = 0.2) -> JobStatus:
    """Poll until the job is no longer active, and return its final status.

    Raises:
        TimeoutError: still active after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        job = read_job(home, job_id)
        if not job.active:
            return job
        if time.monotonic() >= deadline:
            raise TimeoutError(f"retrain job {job_id} still {job.state} ({job.stage}) after {timeout:g} s")
        time.sleep(poll)


# --------------------------------------------------------------------------- the job


class _Reporter:
    """The job process's side: writes ``status.json`` and turns SIGTERM into a cancel."""

    def __init__(self, folder: Path, status: JobStatus) -> None:
        self.folder = folder
        self.status = status
        self.cancel_requested = False
        self.writing = False
        self.finished = False
        self._last_write = 0.0

    @property
    def interruptible(self) -> bool:
        return self.status.stage not in UNINTERRUPTIBLE_STAGES

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.cancel_requested = True
        if self.interruptible and not self.writing and not self.finished:
            raise JobCancelled()

    def write(self, **update: Any) -> None:
        self.status = self.status.model_copy(update={**update, "updated_at": _now()})
        self.writing = True
        try:
            write_json_atomic(
                self.folder / STATUS_FILE,
                self.status.model_dump(mode="json", exclude={"pid", "cancel_requested"}),
            )
        finally:
            self.writing = False
        self._last_write = time.monotonic()

    def progress(self, stage: str, fraction: float) -> None:
        new_stage = stage != self.status.stage
        if new_stage or time.monotonic() - self._last_write >= PROGRESS_WRITE_INTERVAL:
            self.write(state="running", stage=stage, fraction=max(0.0, min(1.0, fraction)))
        if self.cancel_requested and self.interruptible:
            raise JobCancelled()

    def finish(self, state: JobState, **update: Any) -> None:
        self.finished = True
        self.write(state=state, finished_at=_now(), **update)


def _release_lock(home: Home, job_id: str) -> None:
    with _start_lock(home):
        lock = _read_lock(home)
        if lock is not None and lock.job_id == job_id:
            (home.jobs_dir / ACTIVE_LOCK).unlink(missing_ok=True)


def run_job(folder: Path) -> int:
    """Run the retrain of one job folder in this process (the job's entry point).

    Returns:
        0 when the retrain produced a result, 1 on an error, 2 when cancelled.
    """
    folder = Path(folder).resolve()
    spec: _JobSpec | None = _read_model(folder / REQUEST_FILE, _JobSpec)
    if spec is None:
        print(f"{folder / REQUEST_FILE} is missing or invalid", file=sys.stderr)
        return 1
    home = Home.resolve(spec.home)
    job_id = folder.name
    old = _read_model(folder / STATUS_FILE, JobStatus)
    now = _now()
    initial = old or JobStatus(job_id=job_id, state="starting", started_at=now, updated_at=now, request=spec.request)
    reporter = _Reporter(folder, initial)
    signal.signal(signal.SIGTERM, reporter.on_signal)
    signal.signal(signal.SIGINT, reporter.on_signal)
    code = 1
    # Every ending releases the job lock before writing the final status, so a reader that
    # sees the job finished never finds its lock still held.
    try:
        reporter.write(state="running", stage="loading", fraction=0.0)
        from taskclf_core.console.service import RetrainRequest, run_retrain

        request = RetrainRequest.model_validate(spec.request)
        result = run_retrain(home, request, progress=reporter.progress)
        reporter.status = reporter.status.model_copy(update={"stage": "done"})
        summary = JobResult(
            outcome=result.outcome, reason=result.reason, run_id=result.run_id, promoted=result.promoted,
            challenger_macro_f1=result.challenger_macro_f1 if result.outcome != "not_due" else None,
            due_at=result.due_at,
        )
        late = " (a cancel arrived while the run was being saved; the run completed)" if reporter.cancel_requested else ""
        _release_lock(home, job_id)
        reporter.finish("succeeded", stage="done", fraction=1.0, result=summary, message=result.reason + late)
        code = 0
    except JobCancelled:
        _release_lock(home, job_id)
        reporter.finish(
            "cancelled",
            message=(
                f"Cancelled during {reporter.status.stage}. Runs are written atomically, so no "
                "half-written run was left behind."
            ),
        )
        code = 2
    except TaskclfError as exc:
        _release_lock(home, job_id)
        reporter.finish("failed", error=str(exc), error_kind=type(exc).__name__)
    except ValidationError as exc:
        from taskclf_core.errors import describe_validation_error

        _release_lock(home, job_id)

        reporter.finish("failed", error=f"invalid retrain request: {describe_validation_error(exc)}", error_kind="ConfigError")
    except Exception as exc:  # a bug: keep the page clean, the details go to job.log
        traceback.print_exc()
        _release_lock(home, job_id)
        reporter.finish(
            "failed",
            error=(
                f"internal error ({type(exc).__name__}: {exc}); the traceback is in "
                f"artifacts/jobs/{job_id}/{LOG_FILE}"
            ),
            error_kind="InternalError",
        )
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _release_lock(home, job_id)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m taskclf_core.console.jobs run <job_dir>``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] != "run":
        print("usage: python -m taskclf_core.console.jobs run <job_dir>", file=sys.stderr)
        return 2
    return run_job(Path(args[1]))


if __name__ == "__main__":
    sys.exit(main())
