"""Times and hashes shared by the registry's records: aware UTC timestamps, SHA-256."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator


def utc_now_iso() -> str:
    """The current time as an aware UTC ISO 8601 string (``2026-11-26T05:24:30.123456+00:00``)."""
    return datetime.now(UTC).isoformat()


def parse_utc(value: str) -> datetime:
    """Parse an aware ISO 8601 time and convert it to UTC.

    Args:
        value: ISO 8601 text with a UTC offset (``Z`` or ``+hh:mm``).

    Returns:
        The time as an aware ``datetime`` in UTC.

    Raises:
        ValueError: ``value`` is not ISO 8601 or has no offset.
    """
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"expected an ISO 8601 time like 2026-11-26T05:24:30+00:00; got {value!r}"
        ) from exc
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"expected an aware time with a UTC offset (e.g. +00:00); got {value!r}")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        # 0001-01-01T00:00:00+01:00 is a valid ISO text whose UTC time is not representable.
        raise ValueError(
            f"expected a time within the representable range (years 1 to 9999 in UTC); "
            f"got {value!r}"
        ) from None


def _normalise_utc(value: str) -> str:
    return parse_utc(value).isoformat()


#: An aware ISO 8601 time, stored as text normalised to UTC (offsets converted).
UtcTimestamp = Annotated[str, AfterValidator(_normalise_utc)]


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
