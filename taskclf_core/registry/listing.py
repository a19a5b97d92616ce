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
from datetime import UTC, datetime
from pathlib import Path

from taskclf_core.errors import BundleError
from taskclf_core.paths import Home
from taskclf_core.registry.bundle import LoadedBundle, bundle_created_at, load_bundle
from taskclf_core.registry.cleanup import cleanup_stale_temp
from taskclf_core.registry.history import (
    HistoryEntry,
    HistoryReport,
    inspect_history,
    read_history,
)
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
from taskclf_core.registry.runids import RUN_ID_PATTERN, run_id_time
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
from taskclf_core.registry.verdict import ANY_CHAMPION, FROM_RUN, promotability

__all__ = [
    "ANY_CHAMPION",
    "FROM_RUN",
    "ActivePointer",
    "ActiveState",
    "ChampionRef",
    "HistoryEntry",
    "HistoryReport",
    "ModelSummary",
    "PointerReason",
    "RunDecision",
    "RunRecord",
    "RunSummary",
    "champion_problem",
    "champion_ref",
    "cleanup_stale_temp",
    "find_latest_promoted",
    "inspect_active",
    "inspect_history",
    "list_models",
    "list_runs",
    "load_champion",
    "promotability",
    "promote",
    "promote_auto",
    "read_active",
    "read_history",
    "read_run",
    "registry_lock",
    "rollback",
    "verify_run",
    "write_run",
]


@dataclass(frozen=True)
class ModelSummary:
    """One promoted bundle in ``models/``; ``broken`` says why it cannot be used."""

    model_id: str
    path: Path
    is_champion: bool
    broken: str | None
    metadata: BundleMetadata | None
    metrics: BundleMetrics | None


def list_models(home: Home, *, parse_model: bool = False) -> list[ModelSummary]:
    """Every bundle in ``models/``, newest first, broken ones flagged, champion marked.

    Args:
        home: The registry home.
        parse_model: Also parse each ``model.txt`` with LightGBM (slow).

    Returns:
        One summary per folder (hidden and ``.tmp-*`` folders ignored); never raises for
        a broken bundle.
    """
    champion = inspect_active(home).pointer
    models: list[ModelSummary] = []
    for name in folder_names_newest_first(home.models_dir):
        path = home.models_dir / name
        is_champion = champion is not None and champion.model_id == name
        if not RUN_ID_PATTERN.match(name):
            broken = f"folder name {name!r} is not a run id"
            models.append(ModelSummary(name, path, False, broken, None, None))
            continue
        try:
            bundle = load_bundle(path, parse_model=parse_model, label=f"models/{name}")
        except BundleError as exc:
            models.append(ModelSummary(name, path, is_champion, str(exc), None, None))
            continue
        models.append(ModelSummary(name, path, is_champion, None, bundle.metadata, bundle.metrics))
    return models


def find_latest_promoted(models_dir: Path) -> Path | None:
    """The most recently created promoted bundle (the reference's ``find_latest_model``).

    Scans ``models_dir`` for sub-folders holding ``metadata.json`` and picks the latest
    ``created_at`` (naive read as UTC). A bundle whose ``created_at`` is missing or
    unreadable is placed by the time in its run id, so the caller still finds it and can
    report its ``created_at`` as unreadable (cadence: a retrain is then due).

    Args:
        models_dir: ``home.models_dir``.

    Returns:
        The bundle folder, or None when there is none.
    """
    best: tuple[datetime, str] | None = None
    for name in folder_names_newest_first(Path(models_dir)):
        folder = Path(models_dir) / name
        if not (folder / "metadata.json").is_file():
            continue
        when = bundle_created_at(folder)
        if when is None:
            when = (
                run_id_time(name)
                if RUN_ID_PATTERN.match(name)
                else datetime.min.replace(tzinfo=UTC)
            )
        if best is None or (when, name) > best:
            best = (when, name)
    return Path(models_dir) / best[1] if best else None


def champion_ref(home: Home) -> ChampionRef | None:
    """The current champion as recorded in a run's ``champion_compared``.

    Args:
        home: The registry home.

    Returns:
        The champion's run id and model hash, or None when there is no champion.

    Raises:
        RegistryError: ``active.json`` is invalid or names a missing or broken bundle.
    """
    pointer = read_active(home)
    if pointer is None:
        return None
    return ChampionRef(run_id=pointer.model_id, model_sha256=pointer.model_sha256)


def load_champion(home: Home, *, parse_model: bool = True) -> LoadedBundle | None:
    """The champion's bundle, or None when there is no champion.

    Args:
        home: The registry home.
        parse_model: Also parse ``model.txt`` with LightGBM (``booster`` ready).

    Returns:
        The loaded bundle, or None.

    Raises:
        RegistryError: ``active.json`` is invalid or names a missing or broken bundle.
    """
    pointer = read_active(home)
    if pointer is None:
        return None
    return load_bundle(
        home.models_dir / pointer.model_id, parse_model=parse_model, label=pointer.model_dir
    )


def champion_problem(home: Home) -> str | None:
    """What is wrong with the champion pointer, in plain words with the fix; None if fine.

    Args:
        home: The registry home.

    Returns:
        None when there is no ``active.json`` or it names a good bundle; else the problem
        and the fix (roll back to a listed good bundle).
    """
    state = inspect_active(home)
    if state.problem is None:
        return None
    good = [m.model_id for m in list_models(home) if m.broken is None]
    if good:
        return (
            f"{state.problem}. Fix: roll back to a listed good bundle (for example {good[0]}); "
            "active.json is never replaced automatically."
        )
    return (
        f"{state.problem}. There is no good bundle in models/ to roll back to: move "
        "models/active.json aside by hand (the registry then has no champion) and run a retrain."
    )
