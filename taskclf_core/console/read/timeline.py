"""The timeline on Status and History: champions' and runs' macro-F1 over time, each change marked.

One point per run (its judged macro-F1: served where a policy was in use) at the time it
finished, coloured by what became of it, and one per champion change (promotion, automatic
promotion, rollback, calibrator refit) at the time it took effect, with the macro-F1 its run
recorded (the bundle's own figure for a model without a run). Every point links to its review.
"""

from __future__ import annotations

import pandas as pd

from taskclf_core.console.formatting import review_link
from taskclf_core.console.read.runstate import RunRow
from taskclf_core.registry.history import HistoryEntry

COLUMNS = ["time", "macro_f1", "what", "kind", "id", "link"]
_CHANGES = {"promote": "promoted (signed off)", "auto_promote": "promoted automatically",
            "rollback": "rolled back to", "recalibrate": "calibrator refit applied", "set_active": "set by taskclf"}


def timeline_frame(rows: list[RunRow], entries: list[HistoryEntry]) -> pd.DataFrame:
    """Points of the timeline (``time`` UTC, ``macro_f1``, ``what``, ``kind``, ``id``, ``link``)."""
    run_f1 = {r.run_id: r.macro_f1 for r in rows}
    points = [
        {"time": r.finished_at, "macro_f1": r.macro_f1, "what": r.shown_outcome, "kind": "run", "id": r.run_id,
         "link": review_link(r.run_id)}
        for r in rows if r.finished_at is not None and r.macro_f1 is not None
    ]
    for e in entries:
        f1 = run_f1.get(e.run_id, e.macro_f1)
        if f1 is None:
            continue
        points.append({"time": pd.Timestamp(e.time).to_pydatetime(), "macro_f1": f1,
                       "what": _CHANGES.get(e.action, e.action), "kind": "champion change", "id": e.new_champion,
                       "link": review_link(e.run_id) if e.run_id in run_f1 else None})
    frame = pd.DataFrame(points, columns=COLUMNS)
    if len(frame):
        frame["time"] = pd.to_datetime(frame["time"], utc=True).dt.tz_localize(None)
    return frame.sort_values("time", kind="stable").reset_index(drop=True)


__all__ = ["timeline_frame"]
