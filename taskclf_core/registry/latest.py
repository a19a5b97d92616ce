"""A bundle's ``created_at`` and the newest promoted bundle: one rule for cadence and listings.

``created_at`` is read leniently here (naive times read as UTC, offsets converted, ``None``
when missing or unreadable), so bundles written by other tools still count. A time later
than this machine's clock by more than :data:`FUTURE_TOLERANCE` (clock skew between
machines sharing a registry) is not believed: the cadence would never become due from
it, and listings report it as a problem.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from taskclf_core.fs.jsonfile import read_json
from taskclf_core.registry.metadata import METADATA_FILE
from taskclf_core.registry.runids import is_model_id, model_id_time
from taskclf_core.registry.runs import folder_names_newest_first
from taskclf_core.times import utc_or_none

#: How far ahead of this machine's clock a ``created_at`` may be and still be believed.
FUTURE_TOLERANCE: Final = timedelta(minutes=5)
_OLDEST: Final = datetime.min.replace(tzinfo=UTC)


def stated_created_at(folder: Path) -> datetime | None:
    """The ``created_at`` a bundle's ``metadata.json`` states, as aware UTC; None when the file
    or the field is missing or unreadable (read leniently: naive is UTC)."""
    try:
        raw = read_json(Path(folder) / METADATA_FILE)
    except (OSError, ValueError):
        return None
    return utc_or_none(raw.get("created_at")) if isinstance(raw, dict) else None


def in_future(created: datetime, now: datetime | None = None) -> bool:
    """Whether ``created`` is later than ``now`` by more than :data:`FUTURE_TOLERANCE`."""
    return created > (now or datetime.now(UTC)) + FUTURE_TOLERANCE


def believed(created: datetime | None, now: datetime | None = None) -> datetime | None:
    """``created`` when it is a time and not in the future; else None."""
    return created if created is not None and not in_future(created, now) else None


def bundle_created_at(folder: Path, now: datetime | None = None) -> datetime | None:
    """A bundle's creation time as the cadence counts it: stated and believed, else None."""
    return believed(stated_created_at(folder), now)


def find_latest_model(models_dir: Path, *, now: datetime | None = None) -> Path | None:
    """The most recently created promoted bundle (the reference's ``find_latest_model``).

    Scans ``models_dir`` for sub-folders holding ``metadata.json`` (symbolic links and
    leftovers of interrupted writes are skipped) and picks the latest believed
    ``created_at``, compared as times. A bundle whose ``created_at`` is missing,
    unreadable or in the future is placed by the time in its model id (the oldest when
    its name is not one), so the caller still finds it and reports it (cadence: a
    retrain is then due). Ties go to the later name.

    Args:
        models_dir: Base folder of promoted model bundles.
        now: The current time (default: now, UTC).

    Returns:
        The bundle folder, or None when there is none.
    """
    models_dir = Path(models_dir)
    best: tuple[datetime, str] | None = None
    for name in folder_names_newest_first(models_dir):
        folder = models_dir / name
        if folder.is_symlink() or not (folder / METADATA_FILE).is_file():
            continue
        when = bundle_created_at(folder, now)
        if when is None:
            try:
                when = model_id_time(name) if is_model_id(name) else _OLDEST
            except ValueError:  # a model id whose date does not exist
                when = _OLDEST
        if best is None or (when, name) > best:
            best = (when, name)
    return models_dir / best[1] if best else None


__all__ = ["FUTURE_TOLERANCE", "believed", "bundle_created_at", "find_latest_model", "in_future", "stated_created_at"]
