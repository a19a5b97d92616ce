"""The one way a time is shown to a person: ``2026-12-06 15:22 UTC``.

The lowest layer (it imports nothing of ours), so the access records, the registry, the
read models, the pages, the report and the CLI all show times alike.
Records on disk keep full ISO 8601 text; only what a person reads is formatted here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

#: ``strftime`` format of every time shown to a person (always UTC, to the minute).
TIME_FORMAT: Final = "%Y-%m-%d %H:%M UTC"


def utc_or_none(value: object) -> datetime | None:
    """A time as aware UTC, read leniently as files written by other tools state it: a
    ``datetime`` or ISO 8601 text (``Z`` or an offset; none means UTC); ``None`` for anything
    else (not a time, blank, malformed, beyond the representable range). Never raises.

    The strict reading of our own records is ``registry.stamps.parse_utc`` (it raises).
    """
    when: datetime
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str) and value.strip():
        try:
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    try:  # converting a time at the edge of the calendar (0001-01-01T00:00+01:00) overflows
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def format_utc(value: datetime | str | None, *, unknown: str = "unknown") -> str:
    """``"2026-12-06 15:22 UTC"`` for an aware time or ISO 8601 text (naive read as UTC).

    Args:
        value: The time; text is parsed as ISO 8601 (``Z`` or an offset; none means UTC).
        unknown: What to show for None or text that is not a time.
    """
    when = utc_or_none(value)
    return unknown if when is None else when.strftime(TIME_FORMAT)


__all__ = ["TIME_FORMAT", "format_utc", "utc_or_none"]
