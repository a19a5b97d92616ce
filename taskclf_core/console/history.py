"""The History page's read model: champion changes, promoted models, runs, rollback targets.

Also the page's one action, :func:`roll_back`. Runs are counted and filtered by their
effective state (:mod:`taskclf_core.console.runstate`): a run signed off after it
finished counts as ``promoted``.
"""

from __future__ import annotations

from dataclasses import dataclass

from taskclf_core.access.identity import Identity
from taskclf_core.console.runstate import OUTCOMES, RunRow, run_rows
from taskclf_core.paths import Home
from taskclf_core.registry import listing as registry
from taskclf_core.registry.history import HistoryEntry


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


def history_view(home: Home, *, outcome: str | None = None) -> HistoryView:
    """Promoted models, runs (optionally of one effective outcome) and the champion history.

    Args:
        home: The registry home.
        outcome: Show only runs with this effective outcome (one of :data:`OUTCOMES`), or all.

    Returns:
        The view; broken bundles and runs are listed with their reason.
    """
    models, targets = _model_rows(home)
    runs, report, _ = run_rows(home)
    counts = {o: sum(r.outcome == o for r in runs) for o in OUTCOMES}
    shown = [r for r in runs if outcome is None or r.outcome == outcome]
    state = registry.inspect_active(home)
    champion_id = state.pointer.model_id if state.pointer and state.problem is None else None
    return HistoryView(
        models=models, runs=shown, outcome_filter=outcome, outcome_counts=counts,
        entries=report.entries, problems=list(report.problems), champion_id=champion_id,
        pointer_id=state.pointer.model_id if state.pointer else None, rollback_targets=targets,
        run_ids=frozenset(r.run_id for r in runs),
    )


def roll_back(
    home: Home, model_id: str, *, approver: str, note: str, expected_champion: str | None,
    actor: Identity | None = None,
) -> HistoryEntry:
    """Make a previously promoted model the champion again (the History page's one call).

    ``expected_champion`` is the champion shown to the person deciding: if it changed
    meanwhile the rollback is refused (``ChampionChanged``).

    Raises:
        RunIdError, PromotionRefused, ChampionChanged, BusyError: see ``registry.rollback``.
    """
    from taskclf_core.console.access import roll_back_as

    # The signed-in person (approvers only) or, with actor None, the typed approver (local).
    return roll_back_as(
        home, model_id, approver=approver, note=note, expected_champion=expected_champion, actor=actor
    )


__all__ = ["HistoryView", "ModelRow", "history_view", "parse_outcome_filter", "roll_back"]
