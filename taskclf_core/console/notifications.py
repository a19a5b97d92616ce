"""The console's events (a run's outcome, a failed run, a due cadence) and the deliveries view.

The registry announces champion changes and approvals itself (``registry.events``); a
run's outcome, a failure and a due cadence are known here, where a retrain is started
(``service.run_retrain``, ``schedule``). Every event goes out with ``notify.emit``: queued,
never waited for.
"""

from __future__ import annotations

from dataclasses import dataclass

from taskclf_core.console.request import RetrainRequest
from taskclf_core.notify import Event, EventKind, emit
from taskclf_core.notify.log import DeliveryRecord, read_records
from taskclf_core.notify.probe import ProbeResult, send_test
from taskclf_core.paths import Home
from taskclf_core.registry.events import review_page
from taskclf_core.train.cadence import CadenceStatus
from taskclf_core.train.records import RetrainResult


def _what(request: RetrainRequest) -> str:
    return "Calibrator refit" if request.kind == "calibrate" else "Retrain"


def run_event(result: RetrainResult, request: RetrainRequest) -> Event | None:
    """``run_awaiting_signoff`` or ``run_rejected`` for a saved run (None for other outcomes:
    a promotion is announced by the registry, a dry run and not_due by nobody)."""
    if result.run_id is None or result.outcome not in ("awaiting_signoff", "rejected"):
        return None
    requested = request.requested()
    failed = [g.name for g in result.gates if g.status == "failed"]
    figures: dict[str, float | None] = {"challenger_macro_f1": result.challenger_macro_f1,
                                        "champion_macro_f1": result.champion_macro_f1}
    if result.baseline_macro_f1 is not None:
        figures["baseline_macro_f1"] = result.baseline_macro_f1
    if result.bootstrap is not None:
        figures["difference"] = result.bootstrap.difference
    what = _what(request)
    kind: EventKind
    if result.outcome == "awaiting_signoff":
        kind, title = "run_awaiting_signoff", f"{what} run {result.run_id} awaits sign-off"
        summary = f"Every gate passed; an approver signs it off on its review. {result.reason}"
    else:
        kind, title = "run_rejected", f"{what} run {result.run_id} rejected"
        summary = f"Gates failed: {', '.join(failed) or 'see the review'}. {result.reason}"
    return Event(
        kind=kind, title=title, summary=summary, run_id=result.run_id, model_id=result.champion_source,
        outcome=result.outcome, figures=figures, gates_failed=failed,
        actor=requested.by if requested else None, reason=requested.reason if requested else None,
        page=review_page(result.run_id),
    )


def failed_event(request: RetrainRequest, error: BaseException) -> Event:
    """``run_failed``: a retrain (or refit) that stopped with an error, nothing saved."""
    requested = request.requested()
    what = _what(request)
    return Event(
        kind="run_failed", title=f"{what} failed",
        summary=f"The {what.lower()} stopped before saving a run: {str(error)[:500]}",
        outcome="failed", actor=requested.by if requested else None,
        reason=requested.reason if requested else None, page="Retrain",
    )


def due_event(kind: str, status: CadenceStatus, *, starting: bool) -> Event:
    """``retrain_due`` or ``calibrator_due``, sent once per due period (its key)."""
    what = "A retrain" if kind == "retrain" else "A calibrator refit"
    then = " The scheduled one starts now." if starting else " Start it on the Retrain page or with `taskclf train " + (
        "retrain`." if kind == "retrain" else "calibrate`.")
    since = status.due_at.isoformat(timespec="minutes") if status.due_at else "no model"
    latest = status.latest_model.name if status.latest_model else "none"
    return Event(
        kind="retrain_due" if kind == "retrain" else "calibrator_due",
        title=f"{what} is due", summary=f"{what} is due: {status.reason}.{then}",
        outcome="due", page="Retrain", key=f"{kind}_due:{latest}:{since}",
    )


def announce(home: Home, event: Event | None) -> None:
    """Send ``event`` (when there is one) to the home's targets, in the background."""
    if event is not None:
        emit(home, event)


@dataclass(frozen=True)
class DeliveriesView:
    """The History page's notifications: the newest deliveries and what could not be read."""

    records: list[DeliveryRecord]
    problems: list[str]

    def rows(self) -> list[dict[str, object]]:
        """One row per delivery (no secret is ever in a record)."""
        return [
            {"time": r.at, "event": r.event, "run": r.run_id or "", "target": f"{r.target} ({r.target_kind})",
             "attempts": r.attempts, "status": r.status, "error": r.error or ""}
            for r in self.records
        ]


def deliveries_view(home: Home, *, limit: int = 50) -> DeliveriesView:
    """The newest ``limit`` deliveries, newest first."""
    records, problems = read_records(home, limit=limit)
    return DeliveriesView(records, problems)


def probe_targets(home: Home) -> list[ProbeResult]:
    """``taskclf notify test``: a test event to every target, waited for (see ``notify.probe``)."""
    return send_test(home)


__all__ = ["DeliveriesView", "announce", "deliveries_view", "due_event", "failed_event", "probe_targets", "run_event"]
