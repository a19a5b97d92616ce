"""The Status page's read model: champion, cadence, calibrator, latest runs, problems.

Pure functions over the registry and the run folders (no streamlit): the page renders
the returned record as it is. Decisions (promotability, cadence, what is broken) come
from the core modules; nothing here re-derives a rule.

The calibrator store is optional: set ``TASKCLF_CALIBRATOR_STORE`` to its folder
(absolute, or relative to the home) and the status shows whether its update is due
(``<store>/store.json`` ``created_at`` against ``calibrator_update_cadence_days``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import pandas as pd

from taskclf_core.console.access import Access, pending_notes, signed_by, void_expired
from taskclf_core.console.formatting import first_line
from taskclf_core.console.read.deployview import DeploymentView, deployment_view
from taskclf_core.console.read.inbox import Inbox, waiting_for
from taskclf_core.console.read.runstate import RunRow, names_of, run_rows
from taskclf_core.console.read.timeline import timeline_frame
from taskclf_core.errors import Problem
from taskclf_core.paths import Home
from taskclf_core.registry import listing as registry
from taskclf_core.registry.history import HistoryEntry
from taskclf_core.registry.installed import load_installed
from taskclf_core.registry.policy import resolve_home_path
from taskclf_core.registry.snapshot import RegistrySnapshot, registry_snapshot
from taskclf_core.registry.stamps import parse_utc
from taskclf_core.times import format_utc
from taskclf_core.train.cadence import CadenceStatus, calibrator_cadence, retrain_cadence
from taskclf_core.train.config import ConfigState, RetrainConfig, read_config

CALIBRATOR_STORE_ENV: Final = "TASKCLF_CALIBRATOR_STORE"
#: How many runs awaiting sign-off get a promotability check on the status page.
AWAITING_CHECKED: Final = 5
#: Which rows the champion's macro-F1 on Status comes from (Review re-evaluates per run).
CHAMPION_F1_SOURCE: Final = "on the test rows of the run that produced it (from its bundle's metrics.json)"


@dataclass(frozen=True)
class ChampionView:
    """The current champion as the status page shows it."""

    run_id: str
    train_date_from: str
    train_date_to: str
    macro_f1: float | None
    created_at: datetime | None
    age: timedelta | None
    promoted_by: str
    promoted_at: datetime | None
    action: str
    note: str
    #: Every approver with when and how each was authenticated (None: no history entry found).
    signed_off_by: str | None = None

    @property
    def how(self) -> str:
        """``"promoted (signed off)"``, ``"promoted automatically"`` or ``"made champion again by rollback"``."""
        return {
            "promote": "promoted (signed off)",
            "auto_promote": "promoted automatically",
            "rollback": "made champion again by rollback",
            "set_active": "made champion by taskclf",
        }.get(self.action, self.action)

    @property
    def approver_shown(self) -> str | None:
        """Who made it champion, when a person did (None for an automatic promotion or taskclf)."""
        return self.promoted_by if self.action in ("promote", "rollback") else None

    @property
    def note_preview(self) -> tuple[str, bool]:
        """The note's first line (cut) and whether the whole note is longer (the page expands it)."""
        return first_line(self.note)


@dataclass(frozen=True)
class CadenceView:
    """Whether a retrain (or calibrator update) is due, since or until when, and why.

    ``counted_from`` is the model the retrain cadence counts from (the newest promoted
    one, by the reference rule); ``champion`` the model serving now, named separately
    when they differ (after a rollback).
    """

    due: bool
    reason: str
    cadence_days: int
    due_at: datetime | None
    last_created_at: datetime | None
    counted_from: str | None = None
    champion: str | None = None

    def sentence(self, what: str = "Retrain") -> str:
        """One sentence, each date once: ``"Retrain not due until D: the 7-day cadence counts …"``."""
        if self.last_created_at is None or self.due_at is None:
            return f"{what} due: {self.reason}."
        if self.counted_from is None:  # the calibrator store
            source = f"the store was last updated {format_utc(self.last_created_at)}"
        else:
            source = (
                f"the {self.cadence_days}-day cadence counts from the newest promoted model "
                f"{self.counted_from}, created {format_utc(self.last_created_at)}"
            )
            if self.champion is not None and self.champion != self.counted_from:
                source += f"; the champion serving now is {self.champion}"
        head = f"{what} due since {format_utc(self.due_at)}" if self.due else f"{what} not due until {format_utc(self.due_at)}"
        return f"{head}: {source}."

    def start_refusal(self, *, force: bool) -> str | None:
        """Why starting a retrain now would only record ``not_due`` (the pipeline's cadence
        rule: without force it trains only when due), or None when it would train."""
        if self.due or force:
            return None
        return f"{self.sentence('Retrain')} Without Force a retrain started now stops at once as not_due: turn on Force to retrain anyway"


@dataclass(frozen=True)
class AwaitingRun:
    """A run awaiting sign-off with whether it can still be promoted."""

    row: RunRow
    promotable: bool
    why: str


@dataclass(frozen=True)
class StatusSummary:
    """Everything on the Status page."""

    champion: ChampionView | None
    cadence: CadenceView
    calibrator: CadenceView | None
    calibrator_store: Path | None
    config: ConfigState
    latest_runs: list[RunRow]
    run_count: int
    awaiting: list[AwaitingRun]
    problems: list[Problem]
    running_job_id: str | None = None
    #: With ``auto_promote`` on nothing promotes runs awaiting sign-off: what to do.
    auto_promote_note: str | None = None
    #: What each taskclf serving path serves now (model, calibrator, thresholds).
    deployment: DeploymentView | None = None
    #: The two-person rule's first sign-offs (and void ones): ``(heading, sentence)``.
    pending_notes: list[tuple[str, str]] = field(default_factory=list)
    #: Champions' and runs' macro-F1 over time.
    timeline: pd.DataFrame | None = None
    #: "Waiting for you": what the session's person may sign off now (with ``access`` given).
    inbox: Inbox | None = None


def calibrator_store(home: Home) -> Path | None:
    """The calibrator store folder from ``TASKCLF_CALIBRATOR_STORE`` (None when unset)."""
    value = os.environ.get(CALIBRATOR_STORE_ENV, "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else home.root / path


def retrain_cadence_view(home: Home, config: RetrainConfig, *, now: datetime | None = None) -> CadenceView:
    """Whether a retrain is due now, as the pipeline decides it (Status and the Retrain page)."""
    with registry_snapshot(home) as snap:
        status = retrain_cadence(home.models_dir, config.global_retrain_cadence_days, now=now or datetime.now(UTC))
        return _cadence_view(status, snap.pointer_id)


def _champion_view(
    home: Home, pointer: registry.ActivePointer, now: datetime, entries: list[HistoryEntry]
) -> ChampionView:
    # Resolved and checked as everywhere else (every file against its run's manifest).
    bundle = load_installed(home, pointer.model_id, parse_model=False)
    entry = next((e for e in entries if pointer.change_id and e.change_id == pointer.change_id), None)
    created = parse_utc(bundle.metadata.created_at)  # both validated when read
    promoted_at = parse_utc(pointer.selected_at)
    return ChampionView(
        run_id=pointer.model_id,
        train_date_from=bundle.metadata.train_date_from,
        train_date_to=bundle.metadata.train_date_to,
        macro_f1=bundle.metrics.macro_f1,
        created_at=created,
        age=now - created if created else None,
        promoted_by=names_of(entry) if entry is not None else pointer.reason.approver,
        promoted_at=promoted_at,
        action=pointer.reason.action,
        note=pointer.reason.note,
        signed_off_by=signed_by(entry) if entry is not None and entry.action in ("promote", "rollback") else None,
    )


def _cadence_view(status: CadenceStatus, champion: str | None = None, *, retrain: bool = True) -> CadenceView:
    return CadenceView(
        due=status.due,
        reason=status.reason,
        cadence_days=status.cadence_days,
        due_at=status.due_at,
        last_created_at=status.last_created_at,
        counted_from=status.latest_model.name if retrain and status.latest_model else None,
        champion=champion,
    )


def _shown(problem: Problem, *, capitalise_what: bool = True) -> Problem:
    """A problem as the page shows it: the fix a sentence (capitalised, one final stop), and
    ``what`` capitalised unless it starts with a file name (``models/active.json …``)."""
    fix = problem.fix[:1].upper() + problem.fix[1:]
    what = problem.what[:1].upper() + problem.what[1:] if capitalise_what else problem.what
    return replace(problem, what=what, fix=fix if fix.endswith(".") else fix + ".")


def _config_problem(config: ConfigState) -> Problem:
    return Problem(
        "config_invalid",
        what=f"The retrain configuration cannot be used: {config.error}",
        fix=f"Correct {config.path} (see configs/retrain.yaml in the project for every key "
        "and its allowed values). Until then retrains refuse to start and the status "
        "uses the default cadence.",
    )


def _registry_problems(home: Home, rows: list[RunRow], history_problems: list[str], pointer_broken: bool) -> list[Problem]:
    problems: list[Problem] = []
    for model in registry.list_models(home):
        if model.broken and not model.is_champion:
            problems.append(
                Problem(
                    "bundle_broken",
                    what=f"Promoted bundle models/{model.model_id} is broken: {model.broken}",
                    fix="It cannot be rolled back to. Move the folder out of models/ "
                    "(it is not the champion, so nothing else changes).",
                )
            )
    for row in rows:
        if row.broken and not row.stale_interrupted:
            problems.append(
                Problem(
                    "run_broken",
                    what=f"Run artifacts/runs/{row.run_id} is broken: {row.broken}",
                    fix="It cannot be reviewed or promoted; move it out of artifacts/runs or "
                    "start a new retrain.",
                )
            )
    # With a broken pointer the history problems only repeat it; show them once it is fixed.
    for note in [] if pointer_broken else history_problems:
        problems.append(Problem("history_ignored", what=f"Champion history: {note}",
                                fix="Nothing to do: ignored entries stay in the file for the record.", severity="note"))
    return problems


def status_summary(
    home: Home, *, access: Access | None = None, now: datetime | None = None, latest: int = 10
) -> StatusSummary:
    """The Status page: what waits for the session's person, champion, cadence, calibrator,
    latest runs, awaiting runs, problems; from one read of the registry.

    Never raises for a broken registry: what is wrong becomes a :class:`Problem`.

    Args:
        home: The registry home.
        access: The session's access: the summary then carries its person's inbox.
        now: The current time (for ages and cadence; default: now, UTC).
        latest: How many of the newest runs to list.

    Returns:
        The summary.
    """
    now = now or datetime.now(UTC)
    config = read_config(home.config_path)
    void_expired(home, access.policy if access is not None else config.effective.access, now=now)  # a write: first
    with registry_snapshot(home) as snap:  # one read of the registry for the whole page
        summary = _summary(snap, config, now, latest)
        if access is None:
            return summary
        promotable = [(w.row.run_id, w.row.finished_at) for w in summary.awaiting if w.promotable]
        return replace(summary, inbox=waiting_for(home, access, awaiting=promotable, now=now, expire=False))


def _summary(snap: RegistrySnapshot, config: ConfigState, now: datetime, latest: int) -> StatusSummary:
    home = snap.home
    problems: list[Problem] = []
    if config.error:
        problems.append(_config_problem(config))
    cfg = config.effective

    champion: ChampionView | None = None
    rows, history, _ = run_rows(snap)
    pointer_problem = registry.champion_problem(home)
    if pointer_problem:
        problems.append(_shown(pointer_problem, capitalise_what=False))
    elif snap.active.pointer is not None:  # checked in the snapshot: its bundle loads
        champion = _champion_view(home, snap.active.pointer, now, history.entries)

    problems.extend(_registry_problems(home, rows, history.problems, pointer_problem is not None))
    awaiting: list[AwaitingRun] = []
    pending = [r for r in rows if r.outcome == "awaiting_signoff"]
    for row in pending[:AWAITING_CHECKED]:
        check = registry.promotion_check(home, row.run_id, auto_promote=cfg.auto_promote)
        # The page names the run already: a reason about the run says "it".
        awaiting.append(AwaitingRun(row, check.ok, f"it {check.why}" if check.subject else check.why))
    auto_note = None
    if cfg.auto_promote and pending:
        auto_note = (
            f"{len(pending)} run(s) await sign-off, but auto_promote is on in {config.path}, so "
            "nothing will promote them: turn auto_promote off to sign them off on their review, "
            "or start a new retrain (it promotes automatically when every gate passes)."
        )

    deployment = deployment_view(snap)
    problems[:0] = [_shown(p) for p in deployment.problems if p.severity != "note"]
    # The store the deployment serves, else the one TASKCLF_CALIBRATOR_STORE names.
    store = resolve_home_path(home, deployment.store_folder) if deployment.store_folder else calibrator_store(home)
    calibrator = (
        _cadence_view(calibrator_cadence(store, cfg.calibrator_update_cadence_days, now=now), retrain=False)
        if store is not None
        else None
    )
    from taskclf_core.console.jobs import running_job

    job = running_job(home)
    return StatusSummary(
        champion=champion,
        cadence=retrain_cadence_view(home, cfg, now=now),
        calibrator=calibrator,
        calibrator_store=store,
        config=config,
        latest_runs=rows[:latest],
        run_count=len(rows),
        awaiting=awaiting,
        problems=problems,
        running_job_id=job.job_id if job else None,
        auto_promote_note=auto_note,
        deployment=deployment,
        pending_notes=pending_notes(snap, cfg.access),
        timeline=timeline_frame(rows, history.entries),
    )


__all__ = [
    "AWAITING_CHECKED",
    "CALIBRATOR_STORE_ENV",
    "CHAMPION_F1_SOURCE",
    "AwaitingRun",
    "CadenceView",
    "ChampionView",
    "StatusSummary",
    "calibrator_store",
    "retrain_cadence_view",
    "status_summary",
]
