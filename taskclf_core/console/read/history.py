"""The History page's read model: champion changes, promoted models, runs, rollback targets.

Also the page's one action, :func:`roll_back`. Runs are counted and filtered by their
effective state (:mod:`taskclf_core.console.read.runstate`): a run signed off after it
finished counts as ``promoted``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from taskclf_core.access.identity import Identity
from taskclf_core.console.access import Access, pending_notes, plan_signoff, void_expired
from taskclf_core.console.formatting import format_time
from taskclf_core.console.read.deployview import DeploymentView, deployment_view
from taskclf_core.console.read.runstate import OUTCOMES, RunRow, run_rows
from taskclf_core.console.read.timeline import timeline_frame
from taskclf_core.paths import Home
from taskclf_core.registry import listing as registry
from taskclf_core.registry.approve import PendingApproval
from taskclf_core.registry.expiry import ExpiredApproval, read_expired
from taskclf_core.registry.history import HistoryEntry
from taskclf_core.registry.pending import SignoffPlan
from taskclf_core.registry.snapshot import registry_snapshot
from taskclf_core.train.config import read_config


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
class RollbackOption:
    """A model the champion may be rolled back to, as the picker shows it."""

    model_id: str
    #: ``"<id> · champion 2026-… to 2026-… · macro-F1 0.8123 · left: replaced by promotion of <id>"``.
    label: str
    #: When it stopped being champion the last time (ISO), and whether a rollback ended it.
    left_at: str | None = None
    left_by_rollback: bool = False


_LEFT = {"promote": "replaced by the promotion of", "auto_promote": "replaced by the automatic promotion of",
         "rollback": "rolled back from, to", "set_active": "replaced by taskclf with"}


def rollback_options(
    targets: list[str], entries: list[HistoryEntry], f1: dict[str, float | None]
) -> tuple[list[RollbackOption], int | None]:
    """The picker's options (each: when it was champion, its macro-F1, how it left) and the default.

    The default is the champion most recently replaced by a promotion (the one a rollback
    would normally restore), never a model that was itself rolled back from; None when
    every target left by a rollback.

    Args:
        targets: The models a rollback may reach (the registry's rule).
        entries: The effective champion history, newest first.
        f1: Each model's macro-F1 (from its bundle).
    """
    oldest_first = list(reversed(entries))
    options = []
    for model_id in targets:
        start = end = None
        for e in oldest_first:
            if e.new_champion == model_id:
                start, end = e, None
            elif start is not None and end is None and e.previous_champion == model_id:
                end = e
        score = f1.get(model_id)
        parts = [model_id]
        if start is not None:
            until = f"to {format_time(end.time)}" if end is not None else "(still pointed to)"
            parts.append(f"champion {format_time(start.time)} {until}")
        parts.append(f"macro-F1 {score:.4f}" if score is not None else "macro-F1 n/a")
        if end is not None:
            parts.append(f"left: {_LEFT.get(end.action, end.action)} {end.new_champion}")
        options.append(
            RollbackOption(model_id, " · ".join(parts), end.time if end else None, bool(end and end.action == "rollback"))
        )
    candidates = [(o.left_at, i) for i, o in enumerate(options) if o.left_at and not o.left_by_rollback]
    default = max(candidates)[1] if candidates else None
    return options, default


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
    #: The picker's options in :attr:`rollback_targets` order, and the default's index.
    rollback_choices: tuple[RollbackOption, ...] = ()
    rollback_default: int | None = None
    #: What taskclf serves now (each serving path), from the same read.
    serving: DeploymentView | None = None
    #: The two-person rule's first sign-offs (and void ones): ``(heading, sentence)``.
    pending_notes: list[tuple[str, str]] = field(default_factory=list)
    #: What a rollback sign-off by the session's person would do, per target.
    rollback_plans: dict[str, SignoffPlan] = field(default_factory=dict)
    #: Champions' and runs' macro-F1 over time (every run, whatever the filter).
    timeline: pd.DataFrame | None = None
    #: Approvals voided by ``access.approval_expiry_days``, newest first (noted on the page).
    expired: list[ExpiredApproval] = field(default_factory=list)
    #: The thresholds version the champion's run was judged by (None: unknown).
    champion_thresholds: str | None = None

    def thresholds_of(self, row: RunRow) -> str:
        """``"3f2a…"``, with ``" (not the champion's)"`` when the champion was judged by others."""
        if row.thresholds_version is None:
            return "not recorded"
        if self.champion_thresholds and row.thresholds_version != self.champion_thresholds:
            return f"{row.thresholds_version} (not the champion's {self.champion_thresholds})"
        return row.thresholds_version

    @property
    def counts_text(self) -> str:
        """``"2 awaiting_signoff, 1 promoted, …"`` (``broken`` only when there are some)."""
        return ", ".join(f"{n} {o}" for o, n in self.outcome_counts.items() if n or o != "broken")


def parse_outcome_filter(value: object) -> tuple[str | None, str | None]:
    """``(outcome or None for all, error message or None)`` for a filter from a URL."""
    if value in (None, "", "all"):
        return None, None
    if isinstance(value, str) and value in OUTCOMES:
        return value, None
    shown = repr(value)[:60]
    return None, f"unknown outcome filter {shown}; expected one of: all, {', '.join(OUTCOMES)}"


def _model_rows(home: Home) -> tuple[list[ModelRow], list[str]]:
    """The promoted models as rows, and those a rollback may reach (the registry's rule)."""
    rows, targets = [], []
    for m in registry.list_models(home):
        if m.rollback_target:
            targets.append(m.model_id)
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
    return rows, targets


def history_view(home: Home, *, outcome: str | None = None, access: Access | None = None) -> HistoryView:
    """Promoted models, runs (optionally of one effective outcome), the champion history, what
    taskclf serves and the pending approvals, from one read of the registry.

    Args:
        home: The registry home.
        outcome: Show only runs with this effective outcome (one of :data:`OUTCOMES`), or all.
        access: The session's access: the view then carries what a rollback sign-off by its
            person would do for each target (:attr:`HistoryView.rollback_plans`).

    Returns:
        The view; broken bundles and runs are listed with their reason.
    """
    policy = access.policy if access is not None else read_config(home.config_path).effective.access
    void_expired(home, policy)  # a write: before the read
    with registry_snapshot(home) as snap:  # one read of the registry for the whole page
        models, targets = _model_rows(home)
        runs, report, _ = run_rows(snap)
        counts = {o: sum(r.outcome == o for r in runs) for o in OUTCOMES}
        shown = [r for r in runs if outcome is None or r.outcome == outcome]
        choices, default = rollback_options(targets, report.entries, {m.model_id: m.macro_f1 for m in models})
        plans = {} if access is None else {
            target: plan_signoff(home, target, kind="rollback", access=access) for target in targets
        }
        return HistoryView(
            models=models, runs=shown, outcome_filter=outcome, outcome_counts=counts,
            entries=report.entries, problems=list(report.problems), champion_id=snap.champion_id,
            pointer_id=snap.pointer_id, rollback_targets=targets,
            run_ids=frozenset(r.run_id for r in runs), rollback_choices=tuple(choices), rollback_default=default,
            serving=deployment_view(snap), pending_notes=pending_notes(snap, policy), rollback_plans=plans,
            timeline=timeline_frame(runs, report.entries),
            champion_thresholds=next((r.thresholds_version for r in runs if r.run_id == snap.champion_id), None),
            expired=read_expired(home),
        )


def roll_back(
    home: Home, model_id: str, *, approver: str, note: str, expected_champion: str | None,
    actor: Identity | None = None,
) -> HistoryEntry | PendingApproval:
    """Make a previously promoted model the champion again (the History page's one call).

    ``expected_champion`` is the champion shown to the person deciding: if it changed
    meanwhile the rollback is refused (``ChampionChanged``). Under the two-person rule a
    first approval is returned as a :class:`PendingApproval`.

    Raises:
        RunIdError, PromotionRefused, ChampionChanged, BusyError: see ``registry.rollback``.
    """
    from taskclf_core.console.service import rollback_model

    # The signed-in person (approvers only) or, with actor None, the typed approver (local).
    return rollback_model(
        home, model_id, approver=approver, note=note, expected_champion=expected_champion, actor=actor
    )


__all__ = [
    "HistoryView", "ModelRow", "RollbackOption", "history_view", "parse_outcome_filter", "roll_back", "rollback_options",
]
