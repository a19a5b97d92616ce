"""The files of a background retrain job: records, paths, the start lock and the job lock.

Shared by :mod:`taskclf_core.console.jobs` (the app's side: start, read, cancel) and
:mod:`taskclf_core.console.jobs.runner` (the job process's side). See ``jobs`` for the layout.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from taskclf_core.errors import RunIdError
from taskclf_core.fs.locks import lock_file, wait_lock
from taskclf_core.paths import Home
from taskclf_core.registry.runids import validate_run_id

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

PACKAGE_ROOT = Path(__file__).resolve().parent.parent


class JobResult(BaseModel):
    """What a finished retrain produced (a summary of ``RetrainResult``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    outcome: str
    reason: str
    run_id: str | None = None
    promoted: bool = False
    challenger_macro_f1: float | None = None
    due_at: str | None = None
    #: Where it ran: ``local``, or ``dask`` with its scheduler and the workers that trained.
    engine: str = "local"
    scheduler: str | None = None
    workers: int | None = None
    #: How many data warnings the run's data had (rows taskclf accepts that look wrong).
    data_warnings: int = 0


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

    @property
    def label(self) -> str:
        """``"Calibrator refit job"`` or ``"Retrain job"`` (what the job's request asked for)."""
        return "Calibrator refit job" if self.request.get("kind") == "calibrate" else "Retrain job"


class JobSpec(BaseModel):
    """``request.json``: the home and the retrain request of a job."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    home: str
    request: dict[str, Any]


class ProcessRecord(BaseModel):
    """``process.json`` (and the ``active.json`` lock): the job's process."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    job_id: str
    pid: int
    pid_start: int | None = None
    started_at: str


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


# --------------------------------------------------------------------------- files


def validate_job_id(value: object) -> str:
    """Return ``value`` if it is a well-formed job id, else raise :class:`RunIdError`.

    Job ids have the run id format (so they sort by time), but the message names a job id.
    """
    try:
        return validate_run_id(value)
    except RunIdError as exc:
        raise RunIdError(str(exc).replace("invalid run id", "invalid job id", 1)) from None


def job_dir(home: Home, job_id: str) -> Path:
    """``artifacts/jobs/<job_id>`` after validating ``job_id`` (it may come from a URL)."""
    return home.jobs_dir / validate_job_id(job_id)


@contextlib.contextmanager
def start_lock(home: Home) -> Iterator[None]:
    with lock_file(home.jobs_dir / START_LOCK) as fd:
        wait_lock(fd)
        yield


def read_model(path: Path, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate_json(path.read_bytes())
    except (OSError, ValidationError, ValueError):
        return None


def read_lock(home: Home) -> ProcessRecord | None:
    record: ProcessRecord | None = read_model(home.jobs_dir / ACTIVE_LOCK, ProcessRecord)
    return record


def release_lock(home: Home, job_id: str) -> None:
    """Remove the one-at-a-time lock if it still names ``job_id``."""
    with start_lock(home):
        lock = read_lock(home)
        if lock is not None and lock.job_id == job_id:
            (home.jobs_dir / ACTIVE_LOCK).unlink(missing_ok=True)
