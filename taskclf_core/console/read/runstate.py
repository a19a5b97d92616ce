"""One effective state per run: shared by every read model.

A run's ``decision.json`` records the outcome it had when it finished (for example
``awaiting_signoff``); what happened afterwards is in the champion history. The pages, the
HTML report and the CLI show the *effective* state computed here once: promoted (signed
off or automatically, by whom, when, with the note), champion now, rolled back from,
superseded. The recorded outcome stays visible as evidence, labelled as such.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

from taskclf_core.access.approvals import names
from taskclf_core.console.access import signed_by
from taskclf_core.console.formatting import first_line, format_time, sentences
from taskclf_core.paths import Home
from taskclf_core.registry import listing as registry
from taskclf_core.registry.history import HistoryEntry, HistoryReport
from taskclf_core.registry.runs import RunDecision, RunSummary, auto_promotion_interrupted
from taskclf_core.registry.snapshot import RegistrySnapshot
from taskclf_core.registry.stamps import parse_utc

#: Every effective outcome a listed run can have (filters and counts use these).
OUTCOMES: Final[tuple[str, ...]] = ("awaiting_signoff", "promoted", "rejected", "dry_run", "broken")

# --------------------------------------------------------------------------- run state


def names_of(entry: HistoryEntry) -> str:
    """Every approver of a change by name (``"alice and bob"``), or who acted."""
    return names(entry.approvals) if entry.approvals else entry.approver


def _signed(entry: HistoryEntry) -> str:
    if entry.action == "recalibrate":
        return "refit applied" if entry.approver != "auto" else "refit applied automatically"
    return "signed off" if entry.action == "promote" else "promoted automatically"


def _note(note: str, full: bool) -> str:
    return note if full else first_line(note)[0]


def _how(entry: HistoryEntry) -> str:
    """How a change was made, in words: ``signed off by alice and bob``, ``promoted automatically``."""
    if entry.action == "promote":
        return f"signed off by {names_of(entry)}"
    if entry.action == "auto_promote":
        return "promoted automatically"
    if entry.action == "rollback":
        return f"a rollback signed off by {names_of(entry)}"
    if entry.action == "recalibrate":
        return "a calibrator refit" + ("" if entry.approver == "auto" else f" signed off by {names_of(entry)}")
    return "set by taskclf"


def describe_change(entry: HistoryEntry, run_id: str, *, full_notes: bool = False, replacing: bool = False) -> str:
    """One champion change as it concerns ``run_id``, in one sentence (no final full stop).

    Who signed off is every approver, when and how each was authenticated (``signed_by``).
    Notes are cut to their first line unless ``full_notes``; ``replacing`` also names the
    champion the change replaced (the report's history).
    """
    when = format_time(entry.time)
    note = f"; note: {_note(entry.note, full_notes)}" if entry.note.strip() and entry.approver != "auto" else ""
    signed = entry.approver != "auto" and entry.action != "set_active"
    if entry.action == "recalibrate":
        if entry.run_id == run_id:  # the refit run whose calibrator was applied
            return (f"Signed off by {signed_by(entry)}" if signed else f"Applied automatically on {when}") + note
        return f"Calibrator refit {entry.run_id} applied on {when} ({_how(entry)}){note}"
    if entry.new_champion == run_id:
        if entry.action == "promote" and signed:
            text = f"Signed off by {signed_by(entry)}"
        elif entry.action == "rollback":
            text = f"Made champion again by a rollback signed off by {signed_by(entry)}"
        elif entry.action == "set_active":
            text = f"Made champion by taskclf on {when}"
        else:
            text = f"Promoted automatically on {when}"
        if replacing:
            text += f", replacing {entry.previous_champion}" if entry.previous_champion else ", the first champion"
        return text + note
    if entry.action == "rollback":
        return f"Rolled back (champion again: {entry.new_champion}), signed off by {signed_by(entry)}{note}"
    return f"Superseded on {when} by {entry.new_champion} ({_how(entry)})"


@dataclass(frozen=True)
class RunState:
    """A run's effective state: the recorded outcome plus what the champion history says.

    Attributes:
        recorded: ``decision.json``'s outcome (None when unreadable), kept as evidence.
        promotion: The change that made this run champion by promotion (oldest one).
        is_champion: It is the champion now.
        ended: When it is no longer champion: the change that replaced it.
        restored: The latest rollback that made it champion again.
        broken: Why its files cannot be used (None when intact).
        changes: Every champion change involving the run (to it or from it), oldest first.
    """

    recorded: str | None
    promotion: HistoryEntry | None = None
    is_champion: bool = False
    ended: HistoryEntry | None = None
    restored: HistoryEntry | None = None
    broken: str | None = None
    changes: tuple[HistoryEntry, ...] = ()

    @property
    def outcome(self) -> str:
        """The effective outcome: ``promoted`` once a promotion took effect; ``broken``."""
        if self.promotion is not None:
            return "promoted"
        if self.recorded is None or self.broken:
            return "broken"
        return self.recorded

    @property
    def label(self) -> str:
        """A short label for badges and tables: ``"signed off · champion"``."""
        if self.recorded is None:
            return "broken"
        if self.promotion is None:
            return f"broken (recorded: {self.recorded})" if self.broken else self.recorded
        parts = [_signed(self.promotion)]
        if self.is_champion:
            parts.append("champion again" if self.restored else "champion")
        elif self.ended is not None:
            parts.append("rolled back from" if self.ended.action == "rollback" else "superseded")
        return " · ".join(parts)

    @property
    def recorded_differs(self) -> bool:
        """Whether the recorded outcome is no longer what the run's state is."""
        return self.recorded is not None and self.recorded != self.outcome

    def _summary(self) -> list[HistoryEntry]:
        shown = [self.promotion]
        if self.ended is not None and not self.is_champion:
            shown.append(self.ended)
        if self.restored is not None and self.is_champion:
            shown.append(self.restored)
        return [e for e in shown if e is not None]

    def sentences(self, run_id: str | None = None, *, full_notes: bool = False) -> list[str]:
        """What happened to the run after it finished: its promotion, then how it left or
        came back (one sentence each; notes cut to their first line unless ``full_notes``)."""
        p = self.promotion
        subject = run_id or ("" if p is None else p.run_id if p.action == "recalibrate" else p.new_champion)
        return [describe_change(e, subject, full_notes=full_notes) for e in self._summary()]

    def full_notes(self) -> list[tuple[str, str]]:
        """``(what, note)`` of each note :meth:`sentences` shows cut, for the page to expand."""
        out = []
        for entry in self._summary():
            if entry.approver != "auto" and first_line(entry.note)[1]:
                out.append((f"Note of the {format_time(entry.time)} change ({_how(entry)})", entry.note.strip()))
        return out

    def history(self, run_id: str) -> list[str]:
        """Every champion change involving the run, oldest first, with whole notes (the report)."""
        return [describe_change(e, run_id, full_notes=True, replacing=True) for e in self.changes]


def state_of(run_id: str, recorded: str | None, states: dict[str, RunState], *, broken: str | None = None) -> RunState:
    """A run's effective state: its recorded outcome (None: unreadable) and why it is broken,
    with what the champion history says of it (``states``: :func:`run_states`).

    The one place a run's state is assembled (listings, the review, the CLI's table).
    """
    return replace(states.get(run_id) or RunState(recorded=None), recorded=recorded, broken=broken)


def run_states(entries: list[HistoryEntry], champion_id: str | None) -> dict[str, RunState]:
    """The history part of every run's state, by run id (only runs the history names).

    Args:
        entries: The effective champion history, newest first.
        champion_id: The champion now (``active.json``), or None.
    """
    oldest_first = list(reversed(entries))
    states: dict[str, RunState] = {}
    for entry in oldest_first:  # a calibrator refit applied: its run is signed off, the model unchanged
        if entry.action == "recalibrate" and entry.run_id not in states:
            states[entry.run_id] = RunState(recorded=None, promotion=entry, is_champion=False, changes=(entry,))
    for run_id in {e.new_champion for e in entries}:
        promotions = [e for e in oldest_first if e.new_champion == run_id and e.action not in ("rollback", "recalibrate")]
        restores = [e for e in oldest_first if e.new_champion == run_id and e.action == "rollback"]
        ends = [e for e in oldest_first if e.previous_champion == run_id and e.new_champion != run_id]
        states[run_id] = RunState(
            recorded=None,
            promotion=promotions[0] if promotions else None,
            is_champion=run_id == champion_id,
            ended=ends[-1] if ends else None,
            restored=restores[-1] if restores else None,
            changes=tuple(e for e in oldest_first if run_id in (e.new_champion, e.previous_champion)),
        )
    return states


# --------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class RunRow:
    """One run as listed on the pages, with its effective state."""

    run_id: str
    state: RunState
    #: The run's ``decision.json`` (None when unreadable).
    decision: RunDecision | None
    reason: str
    macro_f1: float | None
    finished_at: datetime | None
    compared_against: str | None
    broken: str | None
    #: A run saved as ``promoted`` whose promotion never took effect, after the champion
    #: has moved on: kept as evidence, no longer a problem.
    stale_interrupted: bool = False
    #: The version of the thresholds it was judged by (None on runs before versions).
    thresholds_version: str | None = None

    @property
    def outcome(self) -> str:
        """The effective outcome (see :attr:`RunState.outcome`)."""
        return self.state.outcome

    @property
    def shown_outcome(self) -> str:
        """The effective state's label (``"signed off · champion"``)."""
        return self.state.label

    @property
    def detail(self) -> str:
        """What the tables show beside the outcome: the problem, what happened, or the reason."""
        if self.broken:
            return self.broken
        happened = self.state.sentences(self.run_id)
        if happened:
            return sentences([*happened, f"Recorded outcome (evidence): {self.state.recorded}: {self.reason}"])
        return self.reason


def _finished(d: RunDecision | None) -> datetime | None:
    return parse_utc(d.finished_at) if d else None  # validated when the decision was read


def _row(summary: RunSummary, states: dict[str, RunState], moved_on: bool) -> RunRow:
    d = summary.decision
    return RunRow(
        run_id=summary.run_id,
        state=state_of(summary.run_id, d.outcome if d else None, states, broken=summary.broken),
        decision=d,
        reason=d.reason if d else "",
        macro_f1=d.macro_f1 if d else None,
        finished_at=_finished(d),
        compared_against=d.champion_compared.run_id if d and d.champion_compared else None,
        broken=summary.broken,
        stale_interrupted=moved_on,
        thresholds_version=d.thresholds_version if d else None,
    )


def _champion_moved_on(home: Home, summary: RunSummary, report: HistoryReport) -> bool:
    """A ``promoted`` run whose automatic promotion never took effect, with a later change."""
    d = summary.decision
    if d is None or d.outcome != "promoted" or not summary.broken or not report.entries:
        return False
    if not auto_promotion_interrupted(home, summary.run_id):
        return False
    return parse_utc(report.entries[0].time) > parse_utc(d.finished_at)  # both validated when read


def run_rows(snap: RegistrySnapshot) -> tuple[list[RunRow], HistoryReport, str | None]:
    """Every run with its effective state, newest first; the history; the champion id.

    Never raises for a broken run: it is listed with its reason.
    """
    report = snap.history
    champion_id = snap.pointer_id
    states = run_states(report.entries, champion_id)
    rows = [_row(s, states, _champion_moved_on(snap.home, s, report)) for s in registry.list_runs(snap.home)]
    return rows, report, champion_id


def effective_state(snap: RegistrySnapshot, run_id: str, decision: RunDecision) -> RunState:
    """One run's effective state (for its review)."""
    return state_of(run_id, decision.outcome, run_states(snap.history.entries, snap.pointer_id))


__all__ = [
    "OUTCOMES",
    "RunRow",
    "RunState",
    "effective_state",
    "run_rows",
    "run_states",
    "state_of",
]
