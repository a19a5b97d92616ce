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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import pandas as pd

from taskclf_core.console.access import signed_by
from taskclf_core.console.deployview import DeploymentView, deployment_view
from taskclf_core.console.formatting import first_line
from taskclf_core.console.runstate import ConfigState, RunRow, names_of, read_config, run_rows
from taskclf_core.console.timeline import timeline_frame
from taskclf_core.errors import TaskclfError
from taskclf_core.paths import Home
from taskclf_core.registry import listing as registry
from taskclf_core.registry.history import HistoryEntry
from taskclf_core.registry.installed import load_installed
from taskclf_core.registry.policy import resolve_home_path
from taskclf_core.times import format_utc
from taskclf_core.train.cadence import CadenceStatus, calibrator_cadence, parse_utc, retrain_cadence
from taskclf_core.train.config import RetrainConfig

CALIBRATOR_STORE_ENV: Final = "TASKCLF_CALIBRATOR_STORE"
#: How many runs awaiting sign-off get a promotability check on the status page.
AWAITING_CHECKED: Final = 5
#: Which rows the champion's macro-F1 on Status comes from (Review re-evaluates per run).
CHAMPION_F1_SOURCE: Final = "on the test rows of the run that produced it (from its bundle's metrics.json)"


@dataclass(frozen=True)
class Problem:
    """Something wrong in the home, in plain words, with the fix."""

    what: str
    fix: str


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


def _when(value: datetime | None) -> str:
    return format_utc(value)


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
            source = f"the store was last updated {_when(self.last_created_at)}"
        else:
            source = (
                f"the {self.cadence_days}-day cadence counts from the newest promoted model "
                f"{self.counted_from}, created {_when(self.last_created_at)}"
            )
            if self.champion is not None and self.champion != self.counted_from:
                source += f"; the champion serving now is {self.champion}"
        head = f"{what} due since {_when(self.due_at)}" if self.due else f"{what} not due until {_when(self.due_at)}"
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
    #: Champions' and runs' macro-F1 over time.
    timeline: pd.DataFrame | None = None


def calibrator_store(home: Home) -> Path | None:
    """The calibrator store folder from ``TASKCLF_CALIBRATOR_STORE`` (None when unset)."""
    value = os.environ.get(CALIBRATOR_STORE_ENV, "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else home.root / path


def retrain_cadence_view(home: Home, config: RetrainConfig, *, now: datetime | None = None) -> CadenceView:
    """Whether a retrain is due now, as the pipeline decides it (Status and the Retrain page)."""
    pointer = registry.inspect_active(home).pointer
    status = retrain_cadence(home.models_dir, config.global_retrain_cadence_days, now=now or datetime.now(UTC))
    return _cadence_view(status, pointer.model_id if pointer else None)


def _champion_view(
    home: Home, pointer: registry.ActivePointer, now: datetime, entries: list[HistoryEntry]
) -> ChampionView:
    # Resolved and checked as everywhere else (every file against its run's manifest).
    bundle = load_installed(home, pointer.model_id, parse_model=False)
    entry = next((e for e in entries if pointer.change_id and e.change_id == pointer.change_id), None)
    try:
        created = parse_utc(bundle.metadata.created_at)
        promoted_at = parse_utc(pointer.selected_at)
    except (ValueError, OverflowError):
        created = promoted_at = None
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


def _champion_problem(problem: str, head: str | None) -> Problem:
    """The broken-champion problem with the one fix that applies (no repeated sentences).

    ``problem`` is :func:`registry.champion_problem`'s text: the pointer's problem
    (``head``), then either "Fix: roll back …" or why no rollback is possible.
    """
    if head and problem.startswith(head):
        rest = problem[len(head) :].lstrip(". ")
    else:
        head, _, rest = problem.partition(". ")
    fix = rest.removeprefix("Fix: ").strip()
    fix = fix[:1].upper() + fix[1:] if fix else "Promote a run from its review, or start a retrain."
    if fix.startswith("Roll back to "):
        fix = fix.replace("Roll back to ", "Roll back on the History page to ", 1)
    return Problem(what=head, fix=fix)


def _config_problem(config: ConfigState) -> Problem:
    return Problem(
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
                    what=f"Promoted bundle models/{model.model_id} is broken: {model.broken}",
                    fix="It cannot be rolled back to. Move the folder out of models/ "
                    "(it is not the champion, so nothing else changes).",
                )
            )
    for row in rows:
        if row.broken and not row.stale_interrupted:
            problems.append(
                Problem(
                    what=f"Run artifacts/runs/{row.run_id} is broken: {row.broken}",
                    fix="It cannot be reviewed or promoted; move it out of artifacts/runs or "
                    "start a new retrain.",
                )
            )
    # With a broken pointer the history problems only repeat it; show them once it is fixed.
    for note in [] if pointer_broken else history_problems:
        problems.append(Problem(what=f"Champion history: {note}", fix="Nothing to do: ignored entries stay in the file for the record."))
    return problems


def status_summary(home: Home, *, now: datetime | None = None, latest: int = 10) -> StatusSummary:
    """The Status page: champion, cadence, calibrator, latest runs, awaiting runs, problems.

    Never raises for a broken registry: what is wrong becomes a :class:`Problem`.

    Args:
        home: The registry home.
        now: The current time (for ages and cadence; default: now, UTC).
        latest: How many of the newest runs to list.

    Returns:
        The summary.
    """
    now = now or datetime.now(UTC)
    problems: list[Problem] = []
    config = read_config(home)
    if config.error:
        problems.append(_config_problem(config))
    cfg = config.effective

    champion: ChampionView | None = None
    rows, history, _ = run_rows(home)
    pointer_problem = registry.champion_problem(home)
    if pointer_problem:
        problems.append(_champion_problem(pointer_problem, registry.inspect_active(home).problem))
    else:
        pointer = registry.inspect_active(home).pointer
        if pointer is not None:
            try:
                champion = _champion_view(home, pointer, now, history.entries)
            except TaskclfError as exc:  # changed between the two reads
                problems.append(Problem(what=str(exc), fix="Reload the page; if it stays, roll back on the History page."))

    problems.extend(_registry_problems(home, rows, history.problems, pointer_problem is not None))
    awaiting: list[AwaitingRun] = []
    pending = [r for r in rows if r.outcome == "awaiting_signoff"]
    for row in pending[:AWAITING_CHECKED]:
        ok, why = registry.promotability(home, row.run_id, auto_promote=cfg.auto_promote)
        subject = f"run {row.run_id} "  # the sentence names the run already
        awaiting.append(AwaitingRun(row, ok, "it " + why[len(subject) :] if why.startswith(subject) else why))
    auto_note = None
    if cfg.auto_promote and pending:
        auto_note = (
            f"{len(pending)} run(s) await sign-off, but auto_promote is on in {config.path}, so "
            "nothing will promote them: turn auto_promote off to sign them off on their review, "
            "or start a new retrain (it promotes automatically when every gate passes)."
        )

    deployment = deployment_view(home)
    problems[:0] = [Problem(what=p.what[:1].upper() + p.what[1:], fix=p.fix[:1].upper() + p.fix[1:] + ".")
                    for p in deployment.problems if p.severity != "note"]
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
        timeline=timeline_frame(rows, history.entries),
    )


__all__ = [
    "AWAITING_CHECKED",
    "CALIBRATOR_STORE_ENV",
    "CHAMPION_F1_SOURCE",
    "AwaitingRun",
    "CadenceView",
    "ChampionView",
    "Problem",
    "StatusSummary",
    "calibrator_store",
    "retrain_cadence_view",
    "status_summary",
]
