"""Read models for the front ends: status summary, run review, history view.

Pure functions over the registry and the run folders (no streamlit): each returns a
small frozen record the pages render as they are. Decisions (promotability, cadence,
what is broken) come from the core modules; nothing here re-derives a rule. The two
sign-off actions (:func:`sign_off`, :func:`roll_back`) read the configuration and call
the registry once, so a page action is one call.

The calibrator store is optional: set ``TASKCLF_CALIBRATOR_STORE`` to its folder
(absolute, or relative to the home) and the status shows whether its update is due
(``<store>/store.json`` ``created_at`` against ``calibrator_update_cadence_days``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import yaml

from taskclf_core.errors import ConfigError, TaskclfError
from taskclf_core.model.evaluation import EvaluationReport
from taskclf_core.model.gates import RegressionGate
from taskclf_core.paths import Home
from taskclf_core.registry import listing as registry
from taskclf_core.registry.bundle import load_bundle
from taskclf_core.registry.history import HistoryEntry
from taskclf_core.registry.runids import validate_run_id
from taskclf_core.registry.runs import ChampionRef, RunDecision, RunSummary
from taskclf_core.train.cadence import calibrator_cadence, parse_utc, retrain_cadence
from taskclf_core.train.config import RetrainConfig, load_retrain_config, parse_retrain_config
from taskclf_core.train.runsave import RunEvidence, read_evidence

CALIBRATOR_STORE_ENV: Final = "TASKCLF_CALIBRATOR_STORE"
#: Every outcome a saved run can have (``not_due`` runs are never saved).
OUTCOMES: Final[tuple[str, ...]] = ("awaiting_signoff", "promoted", "rejected", "dry_run")
#: How many runs awaiting sign-off get a promotability check on the status page.
AWAITING_CHECKED: Final = 5


@dataclass(frozen=True)
class Problem:
    """Something wrong in the home, in plain words, with the fix."""

    what: str
    fix: str


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class ConfigState:
    """The configuration file in use: its path, text, parsed value or error."""

    path: Path
    text: str | None
    config: RetrainConfig | None
    error: str | None


def read_config(home: Home) -> ConfigState:
    """Read ``configs/retrain.yaml`` without raising (the error is in ``error``)."""
    path = home.config_path
    try:
        text: str | None = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = None
    try:
        return ConfigState(path, text, load_retrain_config(path), None)
    except ConfigError as exc:
        return ConfigState(path, text, None, str(exc))


# --------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class RunRow:
    """One run as listed on the pages."""

    run_id: str
    outcome: str | None
    reason: str
    macro_f1: float | None
    finished_at: datetime | None
    compared_against: str | None
    broken: str | None
    #: Set when the run was later made champion by sign-off: ``"promoted by alice"``.
    signed_off: str | None = None

    @property
    def shown_outcome(self) -> str:
        """The outcome, plus ``(signed off)`` for an awaiting run that was promoted since."""
        if self.outcome is None:
            return "broken"
        return f"{self.outcome} (signed off)" if self.signed_off else self.outcome

    @classmethod
    def from_summary(cls, summary: RunSummary, promotions: Mapping[str, HistoryEntry] | None = None) -> RunRow:
        """Build a row from :func:`registry.list_runs` output.

        Args:
            summary: One listed run.
            promotions: Run id -> the history entry that promoted it by sign-off.
        """
        d: RunDecision | None = summary.decision
        entry = (promotions or {}).get(summary.run_id)
        return cls(
            run_id=summary.run_id,
            outcome=d.outcome if d else None,
            reason=d.reason if d else "",
            macro_f1=d.macro_f1 if d else None,
            finished_at=parse_utc(d.finished_at) if d else None,
            compared_against=d.champion_compared.run_id if d and d.champion_compared else None,
            broken=summary.broken,
            signed_off=f"promoted by {entry.approver} at {entry.time[:16].replace('T', ' ')} UTC" if entry else None,
        )


def _promotions(entries: list[HistoryEntry]) -> dict[str, HistoryEntry]:
    """Run id -> the (oldest effective) history entry that promoted it by sign-off."""
    return {e.run_id: e for e in reversed(entries) if e.action == "promote"}


def review_link(run_id: str) -> str:
    """The URL of a run's review, relative to a page of the app (``Review?run=<id>``)."""
    return f"Review?run={run_id}"


def format_age(age: timedelta | None) -> str:
    """``"3 d 4 h"``, ``"5 h 12 min"``, ``"42 s"``; ``"unknown"`` for None."""
    if age is None:
        return "unknown"
    seconds = int(max(age.total_seconds(), 0))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def format_time(value: datetime | str | None) -> str:
    """``"2026-11-26 05:24 UTC"`` (strings are parsed as ISO 8601); ``"unknown"`` for None."""
    when = parse_utc(value) if isinstance(value, str) else value
    return f"{when:%Y-%m-%d %H:%M} UTC" if when else "unknown"


# --------------------------------------------------------------------------- status


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

    @property
    def how(self) -> str:
        """``"promoted (signed off)"``, ``"promoted automatically"`` or ``"rolled back to"``."""
        return {"promote": "promoted (signed off)", "auto_promote": "promoted automatically", "rollback": "made champion again by rollback"}.get(
            self.action, self.action
        )


@dataclass(frozen=True)
class CadenceView:
    """Whether a retrain (or calibrator update) is due, since or until when, and why."""

    due: bool
    reason: str
    cadence_days: int
    due_at: datetime | None
    last_created_at: datetime | None

    def sentence(self, what: str = "Retrain") -> str:
        """``"Retrain due since 2026-11-20 05:24 UTC"`` or ``"… not due until …"``."""
        if self.due:
            when = f" since {self.due_at:%Y-%m-%d %H:%M} UTC" if self.due_at else ""
            return f"{what} due{when}: {self.reason}."
        return f"{what} not due until {self.due_at:%Y-%m-%d %H:%M} UTC: {self.reason}."


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


def calibrator_store(home: Home) -> Path | None:
    """The calibrator store folder from ``TASKCLF_CALIBRATOR_STORE`` (None when unset)."""
    value = os.environ.get(CALIBRATOR_STORE_ENV, "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else home.root / path


def _champion_view(home: Home, pointer: registry.ActivePointer, now: datetime) -> ChampionView:
    bundle = load_bundle(home.root / pointer.model_dir, parse_model=False, label=pointer.model_dir)
    created = parse_utc(bundle.metadata.created_at)
    return ChampionView(
        run_id=pointer.model_id,
        train_date_from=bundle.metadata.train_date_from,
        train_date_to=bundle.metadata.train_date_to,
        macro_f1=bundle.metrics.macro_f1,
        created_at=created,
        age=now - created if created else None,
        promoted_by=pointer.reason.approver,
        promoted_at=parse_utc(pointer.selected_at),
        action=pointer.reason.action,
        note=pointer.reason.note,
    )


def _cadence_view(status: Any) -> CadenceView:
    return CadenceView(
        due=status.due,
        reason=status.reason,
        cadence_days=status.cadence_days,
        due_at=status.due_at,
        last_created_at=status.last_created_at,
    )


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
        problems.append(
            Problem(
                what=f"The retrain configuration cannot be used: {config.error}",
                fix=f"Correct {config.path} (see configs/retrain.yaml in the project for every key "
                "and its allowed values). Until then retrains refuse to start and the status "
                "uses the default cadence.",
            )
        )
    cfg = config.config or RetrainConfig.model_validate({})

    champion: ChampionView | None = None
    problem = registry.champion_problem(home)
    if problem:
        head, _, fix = problem.partition(". Fix: ")
        fix = fix[:1].upper() + fix[1:] if fix else "Roll back to a good bundle on the History page."
        problems.append(Problem(what=head, fix=fix + " Rollback is on the History page."))
    else:
        pointer = registry.inspect_active(home).pointer
        if pointer is not None:
            try:
                champion = _champion_view(home, pointer, now)
            except TaskclfError as exc:  # changed between the two reads
                problems.append(Problem(what=str(exc), fix="Reload the page; if it stays, roll back."))

    for model in registry.list_models(home):
        if model.broken and not model.is_champion:
            problems.append(
                Problem(
                    what=f"Promoted bundle models/{model.model_id} is broken: {model.broken}",
                    fix="It cannot be rolled back to. Move the folder out of models/ "
                    "(it is not the champion, so nothing else changes).",
                )
            )

    runs = registry.list_runs(home)
    for run in runs:
        if run.broken:
            problems.append(
                Problem(
                    what=f"Run artifacts/runs/{run.run_id} is broken: {run.broken}",
                    fix="It cannot be reviewed or promoted; move it out of artifacts/runs or "
                    "start a new retrain.",
                )
            )
    history = registry.inspect_history(home)
    # With a broken pointer the history problems only repeat it; show them once it is fixed.
    for note in history.problems if problem is None else []:
        problems.append(Problem(what=f"Champion history: {note}", fix="Nothing to do: ignored entries stay in the file for the record."))

    promotions = _promotions(history.entries)
    rows = [RunRow.from_summary(r, promotions) for r in runs]
    awaiting: list[AwaitingRun] = []
    pending = [r for r in rows if r.outcome == "awaiting_signoff" and not r.broken and not r.signed_off]
    for row in pending[:AWAITING_CHECKED]:
        ok, why = registry.promotability(home, row.run_id, auto_promote=cfg.auto_promote)
        awaiting.append(AwaitingRun(row, ok, why))

    store = calibrator_store(home)
    calibrator = (
        _cadence_view(calibrator_cadence(store, cfg.calibrator_update_cadence_days, now=now))
        if store is not None
        else None
    )
    from taskclf_core.console.jobs import running_job

    job = running_job(home)
    return StatusSummary(
        champion=champion,
        cadence=_cadence_view(retrain_cadence(home.models_dir, cfg.global_retrain_cadence_days, now=now)),
        calibrator=calibrator,
        calibrator_store=store,
        config=config,
        latest_runs=rows[:latest],
        run_count=len(rows),
        awaiting=awaiting,
        problems=problems,
        running_job_id=job.job_id if job else None,
    )


# --------------------------------------------------------------------------- review


@dataclass(frozen=True)
class GateRow:
    """One gate as shown in the gate table."""

    name: str
    kind: str
    status: str
    value: float | None
    threshold: str
    detail: str


#: Gate table order: failed first, then passed, then skipped.
_STATUS_ORDER: Final = {"failed": 0, "passed": 1, "skipped": 2}


def gate_rows(evidence: RunEvidence) -> list[GateRow]:
    """Every gate of a run, failed first (then passed, then skipped), stable within."""
    gates: list[RegressionGate] = [
        g for kind in ("candidate", "baseline", "comparative") if (group := evidence.gates.get(kind)) for g in group.gates
    ]
    rows = [GateRow(g.name, g.kind, g.status, g.value, g.threshold, g.detail) for g in gates]
    return sorted(rows, key=lambda r: _STATUS_ORDER.get(r.status, 3))


@dataclass(frozen=True)
class RunReview:
    """Everything on the Review page for one run."""

    run_id: str
    decision: RunDecision
    evidence: RunEvidence
    run_config: RetrainConfig | None
    tolerance: float
    gates: list[GateRow]
    can_promote: bool
    promote_reason: str
    compared_against: ChampionRef | None
    current_champion: str | None
    intact_problem: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def reports(self) -> dict[str, EvaluationReport | None]:
        """``challenger``, ``champion`` (None without one) and ``baseline`` reports."""
        return {
            "champion": self.evidence.champion,
            "challenger": self.evidence.challenger,
            "baseline": self.evidence.baseline,
        }


def _run_config(evidence: RunEvidence) -> tuple[RetrainConfig | None, str | None]:
    try:
        return parse_retrain_config(yaml.safe_load(evidence.config_yaml), source="config.yaml of the run"), None
    except (ConfigError, yaml.YAMLError) as exc:
        return None, f"the run's config.yaml cannot be read ({exc}); the default tolerance is shown"


def run_review(home: Home, run_id: object) -> RunReview:
    """The review of one run: decision, evidence, gates, promotability.

    Args:
        home: The registry home.
        run_id: The run id as given (e.g. from the URL); validated before any path use.

    Returns:
        The review.

    Raises:
        RunIdError: the run id is malformed or names no run.
        RegistryError: the run's decision or evidence files cannot be read.
    """
    run_id = validate_run_id(run_id)
    record = registry.read_run(home, run_id)
    evidence = read_evidence(record.path, run_id)
    run_config, note = _run_config(evidence)
    notes = [note] if note else []
    config = read_config(home)
    if config.config is None:
        can, why = False, f"cannot decide whether this run may be promoted: {config.error}"
    else:
        can, why = registry.promotability(home, run_id, auto_promote=config.config.auto_promote)
    state = registry.inspect_active(home)
    return RunReview(
        run_id=run_id,
        decision=record.decision,
        evidence=evidence,
        run_config=run_config,
        tolerance=(run_config or RetrainConfig.model_validate({})).regression_tolerance,
        gates=gate_rows(evidence),
        can_promote=can,
        promote_reason=why,
        compared_against=record.decision.champion_compared,
        current_champion=state.pointer.model_id if state.pointer else None,
        intact_problem=registry.verify_run(home, run_id),
        notes=notes,
    )


def recent_run_ids(home: Home, *, limit: int = 50) -> list[str]:
    """The newest run ids (for a run picker), newest first."""
    return [r.run_id for r in registry.list_runs(home)[:limit] if r.decision is not None]


# --------------------------------------------------------------------------- history


@dataclass(frozen=True)
class ModelRow:
    """One promoted bundle on the History page."""

    model_id: str
    is_champion: bool
    broken: str | None
    created_at: str | None
    train_date_from: str | None
    train_date_to: str | None
    macro_f1: float | None
    dataset_hash: str | None


@dataclass(frozen=True)
class HistoryView:
    """Everything on the History page."""

    models: list[ModelRow]
    runs: list[RunRow]
    outcome_filter: str | None
    outcome_counts: dict[str, int]
    entries: list[HistoryEntry]
    problems: list[str]
    champion_id: str | None
    #: The model ``active.json`` names even when it is broken (what a rollback replaces).
    pointer_id: str | None
    rollback_targets: list[str]
    run_ids: frozenset[str]


def parse_outcome_filter(value: object) -> tuple[str | None, str | None]:
    """``(outcome or None for all, error message or None)`` for a filter from a URL."""
    if value in (None, "", "all"):
        return None, None
    if isinstance(value, str) and value in OUTCOMES:
        return value, None
    shown = repr(value)[:60]
    return None, f"unknown outcome filter {shown}; expected one of: all, {', '.join(OUTCOMES)}"


def history_view(home: Home, *, outcome: str | None = None) -> HistoryView:
    """Promoted models, runs (optionally of one outcome) and the champion history.

    Args:
        home: The registry home.
        outcome: Show only runs with this outcome (one of :data:`OUTCOMES`), or all.

    Returns:
        The view; broken bundles and runs are listed with their reason.
    """
    models = registry.list_models(home)
    rows = []
    for m in models:
        md = m.metadata
        rows.append(
            ModelRow(
                model_id=m.model_id, is_champion=m.is_champion, broken=m.broken,
                created_at=md.created_at if md else None,
                train_date_from=md.train_date_from if md else None,
                train_date_to=md.train_date_to if md else None,
                macro_f1=m.metrics.macro_f1 if m.metrics else None,
                dataset_hash=md.dataset_hash if md else None,
            )
        )
    report = registry.inspect_history(home)
    runs = [RunRow.from_summary(r, _promotions(report.entries)) for r in registry.list_runs(home)]
    counts = {o: sum(r.outcome == o for r in runs) for o in OUTCOMES}
    shown = [r for r in runs if outcome is None or r.outcome == outcome]
    state = registry.inspect_active(home)
    champion_id = state.pointer.model_id if state.pointer and state.problem is None else None
    targets = [m.model_id for m in rows if m.broken is None and m.model_id != champion_id]
    return HistoryView(
        models=rows, runs=shown, outcome_filter=outcome, outcome_counts=counts,
        entries=report.entries, problems=list(report.problems), champion_id=champion_id,
        pointer_id=state.pointer.model_id if state.pointer else None, rollback_targets=targets, run_ids=frozenset(r.run_id for r in runs),
    )


# --------------------------------------------------------------------------- actions


def approver_from_user(info: Mapping[str, Any]) -> str | None:
    """The signed-in person's identity (email, else name), or None when nobody is signed in.

    Args:
        info: ``st.user.to_dict()`` (empty or ``is_logged_in`` false without authentication).
    """
    if not info.get("is_logged_in"):
        return None
    for key in ("email", "name", "preferred_username", "sub"):
        value = info.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def sign_off(home: Home, run_id: str, *, approver: str, note: str) -> HistoryEntry:
    """Promote a run awaiting sign-off (the Review page's one call).

    The same call as ``taskclf train promote``: :func:`service.promote_run` reads
    ``auto_promote`` from the config and :func:`registry.promote` re-checks everything
    under the registry lock.

    Raises:
        ConfigError: the configuration is invalid.
        RunIdError, PromotionRefused, ChampionChanged, BusyError: see ``registry.promote``.
    """
    from taskclf_core.console.service import promote_run

    return promote_run(home, run_id, approver=approver, note=note)


def roll_back(
    home: Home, model_id: str, *, approver: str, note: str, expected_champion: str | None
) -> HistoryEntry:
    """Make a previously promoted model the champion again (the History page's one call).

    ``expected_champion`` is the champion shown to the person deciding: if it changed
    meanwhile the rollback is refused (``ChampionChanged``).

    Raises:
        RunIdError, PromotionRefused, ChampionChanged, BusyError: see ``registry.rollback``.
    """
    return registry.rollback(home, model_id, approver=approver, note=note, expected_champion=expected_champion)


__all__ = [
    "CALIBRATOR_STORE_ENV",
    "OUTCOMES",
    "AwaitingRun",
    "CadenceView",
    "ChampionView",
    "ConfigState",
    "GateRow",
    "HistoryView",
    "ModelRow",
    "Problem",
    "RunReview",
    "RunRow",
    "StatusSummary",
    "approver_from_user",
    "format_age",
    "format_time",
    "gate_rows",
    "history_view",
    "parse_outcome_filter",
    "read_config",
    "recent_run_ids",
    "review_link",
    "roll_back",
    "run_review",
    "sign_off",
    "status_summary",
]
