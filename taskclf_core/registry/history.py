"""The champion history ``models/active_history.jsonl``: append-only, one JSON entry a line.

Crash-safe ordering (under the registry lock): append the entry first, then replace
``active.json``, which carries the entry's ``change_id``. An entry took effect if and
only if it is reachable from ``active.json``'s ``change_id`` by following
``previous_change_id`` links. So "every pointer change that took effect has its entry"
holds at every instant without repair: an entry whose writer died before moving the
pointer is simply unreachable (an orphan) and is ignored, as is a torn last line.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from taskclf_core.errors import describe_validation_error
from taskclf_core.fs.atomic import append_line_durable
from taskclf_core.paths import Home
from taskclf_core.registry.pointer import Action, inspect_active
from taskclf_core.registry.stamps import UtcTimestamp

HISTORY_FILE = "active_history.jsonl"

_CHANGE_ID = r"^[0-9a-f]{32}$"
_RUN_ID = r"^[0-9]{8}T[0-9]{12}Z-[0-9a-f]{6}$"


def new_change_id() -> str:
    """A fresh change id (32 hex digits)."""
    return uuid.uuid4().hex


class HistoryEntry(BaseModel):
    """One champion change: automatic promotion, manual promotion or rollback."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    change_id: str = Field(pattern=_CHANGE_ID)
    previous_change_id: str | None = Field(default=None, pattern=_CHANGE_ID)
    time: UtcTimestamp
    action: Action
    approver: str = Field(min_length=1)
    note: str
    previous_champion: str | None = Field(pattern=_RUN_ID)
    new_champion: str = Field(pattern=_RUN_ID)
    run_id: str = Field(pattern=_RUN_ID)
    dataset_hash: str
    gates_summary: str
    macro_f1: float | None = None

    def describe(self) -> str:
        """``"promote of 2026… by alice at 2026-11-26T05:24:30+00:00"``."""
        return f"{self.action} of {self.new_champion} by {self.approver} at {self.time}"


@dataclass(frozen=True)
class HistoryReport:
    """The history as it took effect, plus what was ignored and why.

    ``entries``: effective changes, newest first. ``orphaned``: entries whose pointer move
    never happened (the writer stopped in between), newest first. ``problems``: one
    sentence per ignored line or broken link.
    """

    entries: list[HistoryEntry] = field(default_factory=list)
    orphaned: list[HistoryEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def history_path(home: Home) -> Path:
    """``models/active_history.jsonl`` under ``home``."""
    return home.models_dir / HISTORY_FILE


def append_history(home: Home, entry: HistoryEntry) -> None:
    """Append one entry durably (single write + fsync). The caller holds the registry lock.

    Args:
        home: The registry home.
        entry: The entry to append.
    """
    home.models_dir.mkdir(parents=True, exist_ok=True)
    line = json.dumps(entry.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    append_line_durable(history_path(home), line)


def _parse_lines(path: Path) -> tuple[list[HistoryEntry], list[str]]:
    entries: list[HistoryEntry] = []
    problems: list[str] = []
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return entries, problems
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            entries.append(HistoryEntry.model_validate_json(raw))
        except ValidationError as exc:
            reason = describe_validation_error(exc, model=HistoryEntry)
            problems.append(
                f"models/{HISTORY_FILE} line {number} is not a complete entry ({reason[:120]}); "
                "ignored (torn write?)"
            )
    return entries, problems


def _orphan_problem(entry: HistoryEntry) -> str:
    return (
        f"{entry.describe()} never took effect (the process stopped before moving the "
        "pointer); ignored"
    )


def last_change_id_in_file(home: Home) -> str | None:
    """The ``change_id`` of the last parseable entry in file order, or None.

    Only for linking a change when ``active.json`` is unreadable (a rollback repairing
    it): the best available guess at the chain head.
    """
    entries, _ = _parse_lines(history_path(home))
    return entries[-1].change_id if entries else None


def inspect_history(home: Home) -> HistoryReport:
    """The effective history (newest first) with orphans and ignored lines reported.

    Reads ``active.json`` before the history file: a writer appends before it moves the
    pointer, so the entry for the pointer read is always already on disk.

    Args:
        home: The registry home.

    Returns:
        The report. With no ``active.json`` no entry is effective; with an unreadable one
        the chain cannot be followed and every entry is returned as orphaned, with a
        problem saying so.
    """
    state = inspect_active(home)
    entries, problems = _parse_lines(history_path(home))
    by_id: dict[str, HistoryEntry] = {}
    for entry in entries:
        by_id.setdefault(entry.change_id, entry)

    if state.pointer is None:
        if state.exists:
            problems.append(
                "models/active.json is unreadable, so the effective history cannot be "
                f"determined; {len(entries)} entries are listed as unconfirmed"
            )
        else:
            problems.extend(_orphan_problem(e) for e in reversed(entries))
        return HistoryReport(entries=[], orphaned=list(reversed(entries)), problems=problems)

    effective: list[HistoryEntry] = []
    seen: set[str] = set()
    cursor: str | None = state.pointer.change_id
    while cursor is not None and cursor not in seen:
        seen.add(cursor)
        found = by_id.get(cursor)
        if found is None:
            problems.append(
                f"change {cursor} (linked from "
                f"{'models/active.json' if not effective else effective[-1].describe()}) "
                f"has no entry in models/{HISTORY_FILE}; older history is not reachable"
            )
            break
        effective.append(found)
        cursor = found.previous_change_id
    orphaned = [e for e in reversed(entries) if e.change_id not in seen]
    problems.extend(_orphan_problem(e) for e in orphaned)
    return HistoryReport(entries=effective, orphaned=orphaned, problems=problems)


def read_history(home: Home) -> list[HistoryEntry]:
    """The champion changes that took effect, newest first.

    Args:
        home: The registry home.

    Returns:
        Effective entries, newest first; torn lines and orphans are left out (see
        :func:`inspect_history` for them).
    """
    return inspect_history(home).entries
