"""Cadence: when a global retrain or a calibrator store update is due.

The newest promoted model and how its ``created_at`` is read and believed are the
registry's one rule (:mod:`taskclf_core.registry.latest`); this module decides from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from taskclf_core.fs.jsonfile import read_json
from taskclf_core.paths import Home
from taskclf_core.registry.latest import believed, find_latest_model, stated_created_at
from taskclf_core.times import utc_or_none
from taskclf_core.train.config import (
    DEFAULT_CALIBRATOR_UPDATE_CADENCE_DAYS,
    DEFAULT_RETRAIN_CADENCE_DAYS,
)

if TYPE_CHECKING:
    from taskclf_core.registry.deployment import Deployment


@dataclass(frozen=True)
class CadenceStatus:
    """Whether a retrain is due, since or until when, and why."""

    due: bool
    reason: str
    last_created_at: datetime | None
    due_at: datetime | None  # when it became or becomes due; None when due for lack of a model
    cadence_days: int
    latest_model: Path | None


def retrain_cadence(
    models_dir: Path, cadence_days: int = DEFAULT_RETRAIN_CADENCE_DAYS, *, now: datetime | None = None
) -> CadenceStatus:
    """Cadence status of the global retrain (see :func:`check_retrain_due`)."""
    now = now or datetime.now(UTC)
    latest = find_latest_model(models_dir, now=now)
    if latest is None:
        return CadenceStatus(True, "no promoted model exists yet", None, None, cadence_days, None)
    raw = stated_created_at(latest)
    created = believed(raw, now)
    if created is None:
        what = f"created_at {raw.isoformat()} is in the future" if raw else "has no readable created_at"
        return CadenceStatus(True, f"{latest.name}/metadata.json {what}", None, None, cadence_days, latest)
    due_at = created + timedelta(days=cadence_days)
    if now >= due_at:
        reason = f"latest model {latest.name} is {(now - created).days} day(s) old (cadence {cadence_days})"
        return CadenceStatus(True, reason, created, due_at, cadence_days, latest)
    reason = f"latest model {latest.name} is younger than {cadence_days} day(s); due at {due_at:%Y-%m-%d %H:%M} UTC"
    return CadenceStatus(False, reason, created, due_at, cadence_days, latest)


def check_retrain_due(models_dir: Path, cadence_days: int = DEFAULT_RETRAIN_CADENCE_DAYS) -> bool:
    """Check whether a global retrain is due based on the last model's age.

    Due when no promoted model exists, when the latest one's ``created_at`` is missing
    or unreadable, or when it is at least ``cadence_days`` old.

    Args:
        models_dir: Base folder of promoted model bundles.
        cadence_days: Maximum age in days before a retrain is needed.

    Returns:
        ``True`` if a retrain is due.
    """
    return retrain_cadence(models_dir, cadence_days).due


def calibrator_cadence(
    calibrator_store_dir: Path,
    cadence_days: int = DEFAULT_CALIBRATOR_UPDATE_CADENCE_DAYS,
    *,
    now: datetime | None = None,
) -> CadenceStatus:
    """Cadence status of the calibrator store (``<store>/store.json`` ``created_at``)."""
    now = now or datetime.now(UTC)
    store = Path(calibrator_store_dir) / "store.json"
    if not store.is_file():
        return CadenceStatus(True, f"{store} does not exist", None, None, cadence_days, None)
    try:
        raw = read_json(store)
    except (OSError, ValueError):
        raw = None
    stated = utc_or_none(raw.get("created_at")) if isinstance(raw, dict) else None
    created = believed(stated, now)
    if created is None:
        what = f"created_at {stated.isoformat()} is in the future" if stated else "has no readable created_at"
        return CadenceStatus(True, f"{store} {what}", None, None, cadence_days, None)
    due_at = created + timedelta(days=cadence_days)
    due = now >= due_at
    reason = f"calibrator store updated {created:%Y-%m-%d %H:%M} UTC; {'due since' if due else 'due at'} {due_at:%Y-%m-%d %H:%M} UTC"
    return CadenceStatus(due, reason, created, due_at, cadence_days, None)


def check_calibrator_update_due(
    calibrator_store_dir: Path,
    cadence_days: int = DEFAULT_CALIBRATOR_UPDATE_CADENCE_DAYS,
) -> bool:
    """Check whether a calibrator store update is due.

    Args:
        calibrator_store_dir: Folder of the calibrator store (with ``store.json``
            holding ``created_at``).
        cadence_days: Maximum age in days before an update is needed.

    Returns:
        ``True`` if an update is due (or no store exists).
    """
    return calibrator_cadence(calibrator_store_dir, cadence_days).due


def served_store_cadence(
    home: Home, deployment: Deployment | None, cadence_days: int, *, now: datetime | None = None
) -> CadenceStatus | None:
    """The calibrator cadence of the store a deployment serves (None: it serves no store).

    The one rule for "the calibrator refit is due": the refit pipeline and the schedule call it.
    """
    from taskclf_core.registry.policy import resolve_home_path

    if deployment is None or not deployment.uses_policy or deployment.served.store is None:
        return None
    return calibrator_cadence(resolve_home_path(home, deployment.served.store.folder), cadence_days, now=now)
