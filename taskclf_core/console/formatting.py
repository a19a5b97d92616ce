"""Formatting shared by the read models, the pages and the HTML report (no rules here)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from taskclf_core.train.cadence import parse_utc


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
    try:
        when = parse_utc(value) if isinstance(value, str) else value
    except (ValueError, OverflowError):
        return "unknown"
    return f"{when:%Y-%m-%d %H:%M} UTC" if when else "unknown"


def format_gate_value(value: float | None, threshold: str = "") -> str:
    """A gate's value: counts as whole numbers (``"6"``), scores with four decimals.

    A value is a count when it is whole and its threshold has no decimal point
    (``"6 of 6 checks"``); a score of exactly 1.0 against ``">= 0.5"`` stays ``"1.0000"``.
    """
    if value is None:
        return ""
    if float(value).is_integer() and "." not in threshold:
        return str(int(value))
    return f"{value:.4f}"


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


def signoff_missing(approver: str | None, note: str | None) -> str | None:
    """What is still missing before a sign-off can be confirmed, or None when both are filled.

    The registry checks the same (and more) under its lock; this only keeps a confirm
    dialog from opening with empty fields.
    """
    missing = [name for name, value in (("an approver", approver), ("a note", note)) if not (value or "").strip()]
    if not missing:
        return None
    return f"Fill in {' and '.join(missing)} first."
