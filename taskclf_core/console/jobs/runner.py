"""The job process: runs one retrain job folder and reports to its ``status.json``.

Started by :func:`taskclf_core.console.jobs.start_job` as
``python -m taskclf_core.console.jobs.runner run <job_dir>``. SIGTERM becomes
:class:`JobCancelled`, which unwinds the pipeline; while the run is being saved or
promoted the job finishes that step first. Tracebacks of internal errors go to
``job.log``, never to the page.
"""

from __future__ import annotations

import signal
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from pydantic import ValidationError

from taskclf_core.console.jobs.files import (
    LOG_FILE,
    PROGRESS_WRITE_INTERVAL,
    REQUEST_FILE,
    STATUS_FILE,
    UNINTERRUPTIBLE_STAGES,
    JobResult,
    JobSpec,
    JobState,
    JobStatus,
    now_iso,
    read_model,
    release_lock,
)
from taskclf_core.errors import JobCancelled, TaskclfError
from taskclf_core.fs.atomic import write_json_atomic
from taskclf_core.paths import Home


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
        self.status = self.status.model_copy(update={**update, "updated_at": now_iso()})
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
        self.write(state=state, finished_at=now_iso(), **update)


def run_job(folder: Path) -> int:
    """Run the retrain of one job folder in this process (the job's entry point).

    Returns:
        0 when the retrain produced a result, 1 on an error, 2 when cancelled.
    """
    folder = Path(folder).resolve()
    spec: JobSpec | None = read_model(folder / REQUEST_FILE, JobSpec)
    if spec is None:
        print(f"{folder / REQUEST_FILE} is missing or invalid", file=sys.stderr)
        return 1
    home = Home.resolve(spec.home)
    job_id = folder.name
    old = read_model(folder / STATUS_FILE, JobStatus)
    now = now_iso()
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
            engine=str(result.dataset_snapshot.source.get("engine", "local")),
            scheduler=result.dataset_snapshot.source.get("scheduler"),
            workers=result.dataset_snapshot.source.get("workers"),
            data_warnings=len(result.dataset_snapshot.data_warnings),
        )
        late = " (a cancel arrived while the run was being saved; the run completed)" if reporter.cancel_requested else ""
        release_lock(home, job_id)
        reporter.finish("succeeded", stage="done", fraction=1.0, result=summary, message=result.reason + late)
        code = 0
    except JobCancelled:
        release_lock(home, job_id)
        reporter.finish(
            "cancelled",
            message=(
                f"Cancelled during {reporter.status.stage}. Runs are written atomically, so no "
                "half-written run was left behind."
            ),
        )
        code = 2
    except TaskclfError as exc:
        release_lock(home, job_id)
        if reporter.cancel_requested:  # asked to stop, and it stopped: say so, with what it stopped on
            reporter.finish("cancelled", message=f"Cancelled during {reporter.status.stage}; it stopped with: {exc}")
            code = 2
        else:
            reporter.finish("failed", error=str(exc), error_kind=type(exc).__name__)
    except ValidationError as exc:
        from taskclf_core.errors import describe_validation_error

        release_lock(home, job_id)

        reporter.finish("failed", error=f"invalid retrain request: {describe_validation_error(exc)}", error_kind="ConfigError")
    except Exception as exc:  # a bug: keep the page clean, the details go to job.log
        traceback.print_exc()
        release_lock(home, job_id)
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
        release_lock(home, job_id)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m taskclf_core.console.jobs.runner run <job_dir>``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] != "run":
        print("usage: python -m taskclf_core.console.jobs.runner run <job_dir>", file=sys.stderr)
        return 2
    return run_job(Path(args[1]))


if __name__ == "__main__":
    sys.exit(main())
