"""The champion history ``models/active_history.jsonl``: append-only, one JSON entry a line.

Each line carries taskclf's fields (``at``, ``old``, ``new``: the pointer objects before
and after) besides ours, so both tools read both tools' lines; a line taskclf wrote
reads as action ``set_active`` by ``taskclf``.

Crash-safe ordering (under the registry lock): append the entry first, then replace
``active.json``, which carries the entry's ``change_id``. An entry took effect if and
only if it is reachable from ``active.json`` by following links back: ``previous_change_id``
(ours), or the ``old`` pointer (taskclf's lines, whose pointers have no change id, are
matched by ``selected_at``). An entry whose writer died before moving the pointer is
unreachable (an orphan) and is reported, as is a torn last line. A change made while
``active.json`` was unreadable links to nothing and records a ``gap``: the entries before
it are shown as unconfirmed, never silently chained.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from taskclf_core.access.approvals import Approval
from taskclf_core.access.identity import Identity
from taskclf_core.errors import describe_validation_error
from taskclf_core.fs.atomic import append_line_durable
from taskclf_core.paths import Home
from taskclf_core.registry.deployrecord import DeploymentRecord
from taskclf_core.registry.pointer import Action, ActivePointer, ActiveState, inspect_active
from taskclf_core.registry.requested import RunRequested
from taskclf_core.registry.runids import MODEL_ID_REGEX
from taskclf_core.registry.snapshot import remembered
from taskclf_core.registry.stamps import UtcTimestamp, parse_utc
from taskclf_core.times import format_utc

HISTORY_FILE = "active_history.jsonl"

_CHANGE_ID = r"^[0-9a-f]{32}$"


def new_change_id() -> str:
    """A fresh change id (32 hex digits)."""
    return uuid.uuid4().hex


def _pointer_model_id(pointer: dict[str, Any]) -> Any:
    model_id = pointer.get("model_id")
    if model_id is None and isinstance(pointer.get("model_dir"), str):
        model_id = PurePosixPath(pointer["model_dir"].replace("\\", "/")).name
    return model_id


class HistoryEntry(BaseModel):
    """One champion change: automatic promotion, manual promotion, rollback, or taskclf's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: None for a line taskclf wrote.
    change_id: str | None = Field(default=None, pattern=_CHANGE_ID)
    previous_change_id: str | None = Field(default=None, pattern=_CHANGE_ID)
    time: UtcTimestamp
    action: Action
    approver: str = Field(min_length=1)
    note: str
    previous_champion: str | None = Field(pattern=MODEL_ID_REGEX)
    new_champion: str = Field(pattern=MODEL_ID_REGEX)
    run_id: str = Field(pattern=MODEL_ID_REGEX)
    dataset_hash: str
    gates_summary: str
    macro_f1: float | None = None
    #: Why the link to the previous change is unknown (``active.json`` was unreadable).
    gap: str | None = None
    #: taskclf's fields: the time, and the pointer objects before and after.
    at: str | None = None
    old: ActivePointer | None = None
    new: ActivePointer | None = None
    #: Audit (issue 14): who acted and how that was established (None on older lines and
    #: taskclf's), and the sign-offs that led to the change (two under the two-person rule).
    actor: Identity | None = None
    approvals: tuple[Approval, ...] = ()
    origin: Literal["console", "taskclf"] = "console"
    #: The deployment (model, policy text, calibrator, thresholds) before and after the change;
    #: None on lines written before deployments were recorded, and on taskclf's.
    deployment_before: DeploymentRecord | None = None
    deployment_after: DeploymentRecord | None = None
    #: Who started the run that became champion, and why (None: not recorded, a rollback).
    requested: RunRequested | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_taskclf_line(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "change_id" in data or "new" not in data:
            return data
        new = data.get("new")
        old = data.get("old")
        if not isinstance(new, dict) or not (old is None or isinstance(old, dict)):
            return data  # validation names the field
        raw_reason = new.get("reason")
        reason: dict[str, Any] = raw_reason if isinstance(raw_reason, dict) else {}
        model_id = _pointer_model_id(new)
        return {
            "time": data.get("at"),
            "action": "set_active",
            "approver": "taskclf",
            "note": str(reason.get("note") or "set by taskclf"),
            "previous_champion": _pointer_model_id(old) if old else None,
            "new_champion": model_id,
            "run_id": model_id,
            "dataset_hash": "",
            "gates_summary": "n/a (set by taskclf)",
            "macro_f1": reason.get("macro_f1"),
            "at": data.get("at"),
            "old": old,
            "new": new,
            "origin": "taskclf",
            **{k: v for k, v in data.items() if k not in ("at", "old", "new")},
        }

    def describe(self) -> str:
        """``"promote of 2026… by alice at 2026-11-26 05:24 UTC"``."""
        return f"{self.action} of {self.new_champion} by {self.approver} at {format_utc(self.time)}"

    def to_line(self) -> str:
        """The JSON line written to the history file (compact, one line)."""
        data = self.model_dump(mode="json", exclude_none=False)
        data.pop("origin", None)
        if data.get("requested") is None:  # lines without it stay as they were
            data.pop("requested", None)
        return json.dumps(data, sort_keys=True, ensure_ascii=False, allow_nan=False)


@dataclass(frozen=True)
class HistoryReport:
    """The history as it took effect, plus what was ignored and why.

    ``entries``: effective changes, newest first. ``orphaned``: entries whose pointer move
    never happened (the writer stopped in between), newest first. ``unconfirmed``:
    entries before a gap (a change made while ``active.json`` was unreadable), which may
    or may not have taken effect. ``problems``: one sentence per ignored line, orphan,
    gap or broken link, each naming the file. ``applied``: every model id that was
    champion in the applied history (the rollback targets, besides the champion).
    """

    entries: list[HistoryEntry] = field(default_factory=list)
    orphaned: list[HistoryEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unconfirmed: list[HistoryEntry] = field(default_factory=list)
    applied: frozenset[str] = frozenset()
    #: Whether the chain from ``active.json`` reached its start (no gap, no missing link).
    complete: bool = True


def history_path(home: Home) -> Path:
    """``models/active_history.jsonl`` under ``home``."""
    return home.models_dir / HISTORY_FILE


def _shown(home: Home) -> str:
    return f"{home.models_dir.name}/{HISTORY_FILE}"


def append_history(home: Home, entry: HistoryEntry) -> None:
    """Append one entry durably (single write + fsync). The caller holds the registry lock.

    Args:
        home: The registry home.
        entry: The entry to append.
    """
    home.models_dir.mkdir(parents=True, exist_ok=True)
    append_line_durable(history_path(home), entry.to_line())


def parse_history_lines(home: Home) -> tuple[list[HistoryEntry], list[str]]:
    """Every valid line of the history file in file order, and one problem per line ignored."""
    return _parse_lines(home)


def _parse_lines(home: Home) -> tuple[list[HistoryEntry], list[str]]:
    entries: list[HistoryEntry] = []
    problems: list[str] = []
    path = history_path(home)
    try:
        if path.is_symlink():
            return entries, [f"{_shown(home)} is a symbolic link; not read"]
        data = path.read_bytes()
    except FileNotFoundError:
        return entries, problems
    except OSError as exc:
        return entries, [f"{_shown(home)} cannot be read ({exc.strerror or exc})"]
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            entries.append(HistoryEntry.model_validate_json(raw))
        except ValidationError as exc:
            reason = describe_validation_error(exc, model=HistoryEntry)
            problems.append(
                f"{_shown(home)} line {number} is not a valid entry ({reason[:160]}); ignored (torn write?)"
            )
    return entries, problems


def _same_time(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return False
    try:
        return parse_utc(a) == parse_utc(b)
    except ValueError:
        return a == b


def _find_pointer(
    entries: list[HistoryEntry], pointer: ActivePointer, before: int
) -> int | None:
    """Index of the entry that made ``pointer`` (searching lines before ``before``)."""
    for index in range(min(before, len(entries)) - 1, -1, -1):
        entry = entries[index]
        if pointer.change_id is not None:
            if entry.change_id == pointer.change_id:
                return index
            continue
        made = entry.new
        if made is not None and made.model_id == pointer.model_id and _same_time(
            made.selected_at, pointer.selected_at
        ):
            return index
        if entry.origin == "console" and made is None and entry.new_champion == pointer.model_id:
            if _same_time(entry.time, pointer.selected_at):
                return index
    return None


def _previous_index(entries: list[HistoryEntry], index: int) -> int | None | str:
    """The entry before ``entries[index]`` in the chain; None at the start; a str at a gap."""
    entry = entries[index]
    if entry.previous_change_id is not None:
        found = next(
            (i for i in range(index - 1, -1, -1) if entries[i].change_id == entry.previous_change_id),
            None,
        )
        return found if found is not None else f"change {entry.previous_change_id} is missing"
    if entry.old is not None:
        found = _find_pointer(entries, entry.old, index)
        if found is not None:
            return found
        if index == 0:
            return None  # the champion before the first line (e.g. set without history)
        return f"the pointer it replaced ({entry.old.model_id}) has no entry"
    if entry.gap is not None:
        return entry.gap
    if index > 0 and (entry.origin == "taskclf" or entry.at is not None):
        return "it records no previous champion (active.json was missing or invalid then)"
    return None


def _chain(
    entries: list[HistoryEntry], state: ActiveState, home: Home
) -> tuple[list[int], list[str], bool]:
    """Indexes of the effective entries, newest first; problems; whether it ended at a gap."""
    assert state.pointer is not None
    problems: list[str] = []
    start = _find_pointer(entries, state.pointer, len(entries))
    if start is None:
        if entries or state.pointer.change_id is not None:
            problems.append(
                f"the change that made {state.pointer.model_id} champion (linked from "
                f"{home.models_dir.name}/active.json) has no entry in {_shown(home)}; "
                "older history is not reachable"
            )
        return [], problems, True
    chain = [start]
    seen = {start}
    while True:
        previous = _previous_index(entries, chain[-1])
        if previous is None:
            return chain, problems, False
        if isinstance(previous, str):
            problems.append(
                f"{_shown(home)}: history gap before {entries[chain[-1]].describe()}: "
                f"{previous}; earlier entries are unconfirmed"
            )
            return chain, problems, True
        if previous in seen:
            problems.append(f"{_shown(home)}: the history links form a loop; stopped there")
            return chain, problems, True
        chain.append(previous)
        seen.add(previous)


def inspect_history(home: Home) -> HistoryReport:
    """The effective history (newest first) with orphans, gaps and ignored lines reported.

    Read once per ``registry.snapshot.one_read`` block (a render's snapshot).

    Reads ``active.json`` before the history file: a writer appends before it moves the
    pointer, so the entry for the pointer read is always already on disk.

    Args:
        home: The registry home.

    Returns:
        The report. With no ``active.json`` no entry is effective; with an unreadable one
        the chain cannot be followed and every entry is returned as unconfirmed, with a
        problem saying so.
    """
    return remembered(("history", home), lambda: _inspect_history(home))


def _inspect_history(home: Home) -> HistoryReport:
    """:func:`inspect_history` without the snapshot's memory."""
    state = inspect_active(home)
    entries, problems = _parse_lines(home)
    # Whoever was replaced by a change was champion then (the writer read the pointer).
    applied = {e.previous_champion for e in entries if e.previous_champion is not None}
    if state.pointer is None:
        if state.exists and entries:
            # The repair case: the last change on file is the best evidence of the champion
            # the damaged pointer named (every line of ours passed the gates and sign-off
            # before it was written); the repair then records the gap.
            applied.add(entries[-1].new_champion)
            problems.append(
                f"{home.models_dir.name}/active.json is unreadable, so the effective history "
                f"cannot be determined; {len(entries)} entries of {_shown(home)} are listed "
                "as unconfirmed"
            )
            return HistoryReport(
                unconfirmed=list(reversed(entries)),
                problems=problems,
                applied=frozenset(applied),
                complete=False,
            )
        problems.extend(_orphan_problem(home, e) for e in reversed(entries))
        return HistoryReport(
            orphaned=list(reversed(entries)), problems=problems, applied=frozenset(applied)
        )

    chain, chain_problems, gap = _chain(entries, state, home)
    problems.extend(chain_problems)
    effective = [entries[i] for i in chain]
    oldest = min(chain) if chain else len(entries)
    in_chain = set(chain)
    unconfirmed = [e for i, e in enumerate(entries) if gap and i < oldest and i not in in_chain]
    orphaned = [
        e for i, e in enumerate(entries) if i not in in_chain and not (gap and i < oldest)
    ]
    problems.extend(_orphan_problem(home, e) for e in reversed(orphaned))
    applied |= {e.new_champion for e in effective}
    applied.add(state.pointer.model_id)
    return HistoryReport(
        entries=effective,
        orphaned=list(reversed(orphaned)),
        problems=problems,
        unconfirmed=list(reversed(unconfirmed)),
        applied=frozenset(applied),
        complete=not gap,
    )


def _orphan_problem(home: Home, entry: HistoryEntry) -> str:
    return (
        f"{_shown(home)}: {entry.describe()} never took effect (the process stopped before "
        "moving the pointer); ignored"
    )


def read_history(home: Home) -> list[HistoryEntry]:
    """The champion changes that took effect, newest first.

    Args:
        home: The registry home.

    Returns:
        Effective entries, newest first; torn lines and orphans are left out (see
        :func:`inspect_history` for them).
    """
    return inspect_history(home).entries
