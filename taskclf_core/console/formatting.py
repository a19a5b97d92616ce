"""Formatting shared by the read models, the pages and the HTML report (no rules here)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final
from urllib.parse import quote, urlsplit, urlunsplit

from taskclf_core.registry.signoff import MAX_APPROVER_CHARS, MAX_NOTE_CHARS
from taskclf_core.times import format_utc

#: (script, title, icon) of every page of the app, in sidebar order. A page's address is
#: its title (``Review?run=<id>``): the sidebar, deep links after sign-in and review links
#: all come from this one list.
PAGES: Final[tuple[tuple[str, str, str], ...]] = (
    ("app.py", "Status", ":material/monitor_heart:"),
    ("pages/1_Retrain.py", "Retrain", ":material/model_training:"),
    ("pages/2_Review.py", "Review", ":material/fact_check:"),
    ("pages/3_History.py", "History", ":material/history:"),
)


def review_link(run_id: str) -> str:
    """The URL of a run's review, relative to a page of the app (``Review?run=<id>``)."""
    return f"Review?run={quote(run_id, safe='')}"


def review_url(page_url: str | None, run_id: str) -> str:
    """The full address of a run's review, to share: ``http://host:8501/Review?run=<id>``.

    Args:
        page_url: The address of the page being shown, as the browser has it (any page of
            the app; a path prefix of a proxy is kept). Without one, the relative link.
        run_id: The run.
    """
    if not page_url:
        return review_link(run_id)
    parts = urlsplit(page_url)
    folder = parts.path.rsplit("/", 1)[0] + "/"
    return urlunsplit((parts.scheme, parts.netloc, folder, "", "")) + review_link(run_id)


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
    """``"2026-11-26 05:24 UTC"`` (strings are parsed as ISO 8601); ``"unknown"`` for None.

    The one time format of every page, the report and the CLI (see ``fs.times``).
    """
    return format_utc(value)


def end_sentence(text: str) -> str:
    """``text`` ending with one full stop (none added after ``.``, ``!``, ``?`` or ``…``).

    The text itself is kept as it is (a note is shown literally, trailing spaces included).
    """
    return text if text.rstrip().endswith((".", "!", "?", "…")) else text + "."


def sentences(parts: list[str]) -> str:
    """Sentences joined with spaces, each ending with one full stop (never ``..``)."""
    return " ".join(end_sentence(p) for p in parts if p.strip())


#: Row height (px) of the tables that hold names and notes: above 4 rem Streamlit wraps
#: cell text, so three lines show; a click on a cell shows its whole text.
WRAPPED_ROW_HEIGHT: Final = 70

#: How much of a note's first line a headline or a table shows (the rest expands).
NOTE_PREVIEW_CHARS: Final = 160


def first_line(text: str, limit: int = NOTE_PREVIEW_CHARS) -> tuple[str, bool]:
    """The first line of ``text``, cut to ``limit`` characters, and whether anything was left out."""
    stripped = text.strip()
    line = stripped.split("\n", 1)[0].strip()
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return line, line != stripped


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


def signoff_missing(approver: str | None, note: str | None) -> str | None:
    """What is still missing before a sign-off can be confirmed, or None when both are filled.

    The registry checks the same (and more) under its lock; this only keeps a confirm
    dialog from opening with empty fields or a text longer than the registry takes.
    """
    missing = [name for name, value in (("an approver", approver), ("a note", note)) if not (value or "").strip()]
    if missing:
        return f"Fill in {' and '.join(missing)} first."
    for what, value, limit in (("approver", approver, MAX_APPROVER_CHARS), ("note", note, MAX_NOTE_CHARS)):
        if len(value or "") > limit:
            return f"The {what} has {len(value or ''):,} characters; at most {limit:,} are allowed: shorten it first."
    return None
