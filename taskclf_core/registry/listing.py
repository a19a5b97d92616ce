"""The file registry under a home: one import for runs, champion, history, promotion, listings.

Layout (``spec/registry.md``)::

    models/<run_id>/             promoted bundles, never modified after they land
    models/active.json           the champion pointer            (taskclf_core.registry.pointer)
    models/active_history.jsonl  append-only champion history    (taskclf_core.registry.history)
    artifacts/runs/<run_id>/     every run that trained a challenger (taskclf_core.registry.runs)

Champion changes live in ``taskclf_core.registry.promotion``; this module adds the listings of
promoted models and the champion's status, and re-exports the public names of the
others so that callers import from one place. Every run id from outside is validated
before it touches a path; listings never raise for a broken bundle or run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from taskclf_core.errors import BundleError, Problem
from taskclf_core.paths import Home
from taskclf_core.registry.cleanup import cleanup_stale_temp
from taskclf_core.registry.history import (
    HistoryEntry,
    HistoryReport,
    inspect_history,
    read_history,
)
from taskclf_core.registry.installed import load_installed
from taskclf_core.registry.latest import in_future
from taskclf_core.registry.metadata import BundleMetadata, BundleMetrics
from taskclf_core.registry.pointer import (
    ActivePointer,
    ActiveState,
    PointerReason,
    inspect_active,
    read_active,
    registry_lock,
)
from taskclf_core.registry.promotion import promote, promote_auto, rollback
from taskclf_core.registry.runids import is_model_id
from taskclf_core.registry.runs import (
    ChampionRef,
    RunDecision,
    RunRecord,
    RunSummary,
    folder_names_newest_first,
    list_runs,
    read_run,
    verify_run,
    write_run,
)
from taskclf_core.registry.snapshot import remembered
from taskclf_core.registry.stamps import parse_utc
from taskclf_core.registry.verdict import ANY_CHAMPION, FROM_RUN, promotability, promotion_check

__all__ = [
    "ANY_CHAMPION",
    "FROM_RUN",
    "ActivePointer",
    "ActiveState",
    "ChampionRef",
    "HistoryEntry",
    "HistoryReport",
    "ModelSummary",
    "ModelsReport",
    "PointerReason",
    "RunDecision",
    "RunRecord",
    "RunSummary",
    "champion_problem",
    "cleanup_stale_temp",
    "inspect_active",
    "inspect_history",
    "inspect_models",
    "list_models",
    "list_runs",
    "promotability",
    "promotion_check",
    "promote",
    "promote_auto",
    "read_active",
    "read_history",
    "read_run",
    "registry_lock",
    "rollback",
    "rollback_targets",
    "verify_run",
    "write_run",
]


#: ``ModelSummary.leftover``: a bundle that was never champion in the applied history.
LEFTOVER = (
    "left over: never champion in the applied history (a promotion that did not take "
    "effect, or a bundle copied in by hand); not a rollback target"
)


@dataclass(frozen=True)
class ModelSummary:
    """One promoted bundle in ``models/``; ``broken`` says why it cannot be used."""

    model_id: str
    path: Path
    is_champion: bool
    broken: str | None
    metadata: BundleMetadata | None
    metrics: BundleMetrics | None
    #: ``"trained by taskclf"`` or this console's; None when the bundle is broken.
    origin: str | None = None
    #: What could be verified (``INTEGRITY_*`` of ``registry.bundle``); None when broken.
    integrity: str | None = None
    #: :data:`LEFTOVER` when the model was never champion in the applied history.
    leftover: str | None = None

    @property
    def rollback_target(self) -> bool:
        """Whether a rollback may make this model champion again."""
        return self.broken is None and self.leftover is None and not self.is_champion


@dataclass(frozen=True)
class ModelsReport:
    """:func:`inspect_models`: the models, plus the registry files that could not be read."""

    models: list[ModelSummary]
    #: One sentence per problem, each naming the file (pointer, history lines, bundles).
    problems: list[str]


def inspect_models(home: Home, *, parse_model: bool = False) -> ModelsReport:
    """Every bundle in ``models/`` (newest first) and every problem met reading the registry.

    Read once per ``registry.snapshot.one_read`` block (a render's snapshot).

    Each bundle is loaded and checked file by file against its run's manifest (taskclf's
    bundles, which have no run, read as "no recorded hash"). Symbolic links are refused
    and listed as broken. A bundle that was never champion in the applied history is
    marked as left over.

    Args:
        home: The registry home.
        parse_model: Also parse each ``model.txt`` with LightGBM (slow).

    Returns:
        The report; never raises for a broken bundle, pointer or history line.
    """
    return remembered(("models", home, parse_model), lambda: _inspect_models(home, parse_model=parse_model))


def _inspect_models(home: Home, *, parse_model: bool = False) -> ModelsReport:
    """:func:`inspect_models` without the snapshot's memory."""
    state = inspect_active(home)
    history = inspect_history(home)
    problems = ([state.problem] if state.problem else []) + list(history.problems)
    champion = state.pointer
    models: list[ModelSummary] = []
    for name in folder_names_newest_first(home.models_dir):
        path = home.models_dir / name
        shown = f"{home.models_dir.name}/{name}"
        is_champion = champion is not None and champion.model_id == name
        if path.is_symlink():
            broken = f"{shown} is a symbolic link; refused (never loaded, promoted or rolled back to)"
        elif not is_model_id(name):
            broken = f"folder name {name!r} is not a model id"
        else:
            try:
                bundle = load_installed(home, name, parse_model=parse_model)
            except BundleError as exc:
                broken = str(exc)
            else:
                leftover = None if name in history.applied else LEFTOVER
                if in_future(parse_utc(bundle.metadata.created_at)):
                    problems.append(
                        f"{shown}/metadata.json: created_at {bundle.metadata.created_at} is in "
                        "the future; the retrain cadence cannot count from it (clock wrong, or "
                        "the file was edited)"
                    )
                models.append(
                    ModelSummary(
                        name, path, is_champion, None, bundle.metadata, bundle.metrics,
                        origin=bundle.origin, integrity=bundle.integrity, leftover=leftover,
                    )
                )
                continue
        models.append(ModelSummary(name, path, is_champion, broken, None, None))
        problems.append(broken)
    return ModelsReport(models=models, problems=problems)


def list_models(home: Home, *, parse_model: bool = False) -> list[ModelSummary]:
    """Every bundle in ``models/``, newest first, broken ones flagged, champion marked.

    See :func:`inspect_models`, which also returns the problems met.
    """
    return inspect_models(home, parse_model=parse_model).models


def rollback_targets(home: Home) -> list[str]:
    """Models a rollback may make champion now: former champions with a good bundle, newest first.

    Args:
        home: The registry home.

    Returns:
        Model ids (never the current champion, a broken or symlinked bundle, or a
        left-over bundle that was never champion in the applied history).
    """
    return [m.model_id for m in list_models(home) if m.rollback_target]


def champion_problem(home: Home) -> Problem | None:
    """What is wrong with the champion pointer, and the fix; None when it is fine.

    Args:
        home: The registry home.

    Returns:
        None when there is no ``active.json`` or it names a good bundle; else the problem
        (the pointer's) and the one fix that applies: roll back to a listed good bundle, or
        set the pointer aside when there is none. ``active.json`` is never replaced here.
    """
    state = inspect_active(home)
    if state.problem is None:
        return None
    good = [m.model_id for m in list_models(home) if m.rollback_target]
    if good:
        fix = (
            f"roll back on the History page to a former champion whose bundle is good (for example {good[0]}); "
            "active.json is never replaced automatically"
        )
    else:
        fix = (
            "there is no good bundle in models/ to roll back to: move models/active.json aside by hand (the "
            "registry then has no champion) and run a retrain"
        )
    return Problem("champion_pointer", state.problem, fix, "error")
