"""Retrains that start themselves: ``taskclf train retrain --if-due`` (and ``calibrate --if-due``).

Meant for a timer (``docs/SCHEDULING.md``): each tick either starts nothing and says why
in one line, or runs the retrain (or refit) with its normal outcome and events. It starts
nothing when:

* another scheduled command is deciding or running (``artifacts/runs/.schedule.lock``,
  an ``flock``: two ticks at once start one retrain);
* a retrain runs already (the CLI's or a console job);
* the cadence is not due (``train.cadence``, the rule Status shows);
* a run of the same kind finished after the cadence came due and awaits sign-off: it is
  this period's answer, and starting another would only pile up runs nobody signed.

Each tick also voids the pending approvals past ``access.approval_expiry_days``
(``registry.expiry``), so they expire on time even when nobody opens the console.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from taskclf_core.access.identity import os_user
from taskclf_core.console.notifications import announce, due_event
from taskclf_core.console.request import RetrainRequest
from taskclf_core.errors import BusyError, ConfigError
from taskclf_core.fs.locks import lock_file, try_lock
from taskclf_core.paths import Home
from taskclf_core.train.cadence import CadenceStatus, retrain_cadence, served_store_cadence
from taskclf_core.train.config import RetrainConfig

if TYPE_CHECKING:
    from taskclf_core.train.retrain import ProgressCallback, RetrainResult

SCHEDULE_LOCK: Final = ".schedule.lock"


@dataclass(frozen=True)
class ScheduledRun:
    """What one tick did: the run's result, or why nothing started (one line)."""

    result: RetrainResult | None
    skipped: str | None = None


@contextmanager
def _schedule_lock(home: Home) -> Iterator[bool]:
    """Hold ``artifacts/runs/.schedule.lock`` (True), or learn another tick holds it (False)."""
    with lock_file(home.runs_dir / SCHEDULE_LOCK) as fd:
        yield try_lock(fd)


def _running(home: Home) -> str | None:
    from taskclf_core.console.jobs import running_job
    from taskclf_core.train.lock import retrain_running

    holder = retrain_running(home.artifacts_dir)
    if holder:
        return holder
    job = running_job(home)
    return f"console job {job.job_id}" if job is not None else None


def _cadence(home: Home, config: RetrainConfig, kind: str) -> tuple[CadenceStatus | None, str | None]:
    """The cadence of ``kind``, or why a scheduled ``kind`` has nothing to do."""
    if kind == "retrain":
        return retrain_cadence(home.models_dir, config.global_retrain_cadence_days), None
    from taskclf_core.registry.deployment import inspect_deployment

    deployment = inspect_deployment(home)
    if deployment.champion_id is None:
        return None, "no champion, so no calibrator to refit"
    status = served_store_cadence(home, deployment, config.calibrator_update_cadence_days)
    if status is None:
        return None, ("the deployment has no calibrator store (a refit on demand, `taskclf train calibrate`, "
                      "writes the first one)")
    return status, None


def _answered(home: Home, kind: str, due_at: datetime | None) -> str | None:
    """A run of ``kind`` that finished since the cadence came due and awaits sign-off, in words."""
    from taskclf_core.console.read.runstate import run_rows
    from taskclf_core.registry.runs import list_runs
    from taskclf_core.registry.snapshot import registry_snapshot

    kinds = {s.run_id: s.decision.kind for s in list_runs(home) if s.decision is not None}
    wanted = "calibration" if kind == "calibrate" else "retrain"
    with registry_snapshot(home) as snap:
        rows = run_rows(snap)[0]
    for row in rows:
        if row.outcome != "awaiting_signoff" or kinds.get(row.run_id) != wanted or row.finished_at is None:
            continue
        if due_at is None or row.finished_at >= due_at:
            return (f"run {row.run_id} (finished {row.finished_at:%Y-%m-%d %H:%M} UTC) answers this due period and "
                    "awaits sign-off; nothing started")
    return None


def run_if_due(home: Home, request: RetrainRequest, *, progress: ProgressCallback | None = None) -> ScheduledRun:
    """Run the retrain (``request.kind``) when it is due, else say in one line why not.

    Raises:
        ConfigError: ``--force`` with ``--if-due`` (they contradict).
        TaskclfError: as ``service.run_retrain`` for the run itself.
    """
    from taskclf_core.console.service import resolve_config, run_retrain
    from taskclf_core.registry.expiry import expire_pending

    if request.force:
        raise ConfigError("--if-due and --force contradict each other: --if-due runs only when due; drop one")
    _, config = resolve_config(home, request.config_path)
    expire_pending(home, config.access.approval_expiry_days)
    what = "calibrator refit" if request.kind == "calibrate" else "retrain"
    with _schedule_lock(home) as held:
        if not held:
            return ScheduledRun(None, f"Nothing started: another scheduled {what} is deciding or running.")
        running = _running(home)
        if running:
            return ScheduledRun(None, f"Nothing started: a retrain is already running ({running}).")
        status, nothing = _cadence(home, config, request.kind)
        if status is None:
            return ScheduledRun(None, f"Nothing started: {nothing}.")
        if not status.due:
            return ScheduledRun(None, f"Not due: {status.reason}.")
        answered = _answered(home, request.kind, status.due_at)
        if answered:
            return ScheduledRun(None, f"Due ({status.reason}), but {answered}.")
        announce(home, due_event("retrain" if request.kind == "retrain" else "calibrator", status, starting=True))
        scheduled = request.model_copy(update={
            "started_by": request.started_by or f"schedule (OS user {os_user()})", "started_how": "schedule",
            "reason": request.reason or f"scheduled: {what} due ({status.reason})",
        })
        try:
            return ScheduledRun(run_retrain(home, scheduled, progress=progress))
        except BusyError as exc:  # a retrain started between the check and the lock
            return ScheduledRun(None, f"Nothing started: {exc}.")


def announce_due(home: Home, config: RetrainConfig, *, now: datetime | None = None) -> None:
    """Send ``retrain_due`` / ``calibrator_due`` when due (once per due period): ``check-retrain``."""
    now = now or datetime.now(UTC)
    status = retrain_cadence(home.models_dir, config.global_retrain_cadence_days, now=now)
    if status.due:
        announce(home, due_event("retrain", status, starting=False))
    calibrator, _ = _cadence(home, config, "calibrate")
    if calibrator is not None and calibrator.due:
        announce(home, due_event("calibrator", calibrator, starting=False))


__all__ = ["SCHEDULE_LOCK", "ScheduledRun", "announce_due", "run_if_due"]
