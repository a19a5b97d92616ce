"""Cadence: when a global retrain or a calibrator store update is due."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from taskclf_core.fs.atomic import is_temporary
from taskclf_core.paths import Home
from taskclf_core.train.config import (
    DEFAULT_CALIBRATOR_UPDATE_CADENCE_DAYS,
    DEFAULT_RETRAIN_CADENCE_DAYS,
)

if TYPE_CHECKING:
    from taskclf_core.registry.deployment import Deployment


def parse_utc(value: object) -> datetime | None:
    """An ISO 8601 time as aware UTC (naive read as UTC), or ``None`` if unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        # Converting a time at the edge of the calendar (0001-01-01T00:00+01:00) overflows.
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


#: A created_at later than now by more than this (clock skew between machines sharing a
#: registry) is not believed: it would keep a retrain from ever being due.
FUTURE_TOLERANCE = timedelta(minutes=10)


def _believable(created: datetime | None, now: datetime) -> datetime | None:
    return created if created is not None and created <= now + FUTURE_TOLERANCE else None


def _raw_created_at(folder: Path) -> object:
    try:
        raw = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return raw.get("created_at") if isinstance(raw, dict) else None


def _created_at(folder: Path, now: datetime | None = None) -> datetime | None:
    """The bundle's creation time; None when missing, unreadable or in the future."""
    return _believable(parse_utc(_raw_created_at(folder)), now or datetime.now(UTC))


def find_latest_model(models_dir: Path) -> Path | None:
    """Return the path to the most recently created model bundle.

    Scans ``models_dir`` for subfolders holding ``metadata.json`` and picks the latest
    ``created_at`` (compared as times, not strings). Folders whose ``created_at`` is
    missing, unreadable or in the future count as oldest.

    Args:
        models_dir: Base folder of promoted model bundles.

    Returns:
        The latest bundle folder, or ``None`` if there is none.
    """
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        return None
    best: tuple[datetime, str] | None = None
    best_path: Path | None = None
    oldest = datetime.min.replace(tzinfo=UTC)
    for candidate in models_dir.iterdir():
        if is_temporary(candidate) or not (candidate / "metadata.json").is_file():
            continue
        key = (_created_at(candidate) or oldest, candidate.name)
        if best is None or key > best:
            best, best_path = key, candidate
    return best_path


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
    latest = find_latest_model(models_dir)
    if latest is None:
        return CadenceStatus(True, "no promoted model exists yet", None, None, cadence_days, None)
    created = _created_at(latest, now)
    if created is None:
        raw = parse_utc(_raw_created_at(latest))
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
        raw = json.loads(store.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        raw = None
    stated = parse_utc(raw.get("created_at")) if isinstance(raw, dict) else None
    created = _believable(stated, now)
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
