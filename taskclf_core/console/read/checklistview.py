"""Review's promotion-checklist sections, from a run's recorded checklist evidence.

Rows and frames for the page, the HTML report and the CLI (no rule re-derived: the gates
are on file; this says them with their figures and thresholds), and the spot check's
day timelines, read from the run's ``served_rows.parquet``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from taskclf_core.data.schema import LABELS
from taskclf_core.model.checklist import ChecklistEvidence, UserComparison
from taskclf_core.model.thresholds import GateThresholds
from taskclf_core.registry.spotcheck import spot_check_people

SERVED_ROWS = "served_rows.parquet"
_NAMES = [*LABELS, "Mixed/Unknown"]


def worst_off_sentence(evidence: ChecklistEvidence | None, tolerance: float) -> str | None:
    """``"Worst off: <user>, challenger - champion -0.1967 [-0.2172, -0.1767] over 1,204 minutes"``."""
    worst = evidence.worst_off if evidence is not None else None
    if worst is None or worst.low is None or worst.high is None:
        return None
    verdict = "wholly below" if worst.high < -tolerance else "not wholly below"
    return (f"Worst-off person: {worst.user_id}, served macro-F1 challenger - champion {worst.difference:+.4f} "
            f"(95% interval [{worst.low:+.4f}, {worst.high:+.4f}], {worst.rows:,} test minutes; "
            f"{verdict} -{tolerance})")


def per_user_frame(evidence: ChecklistEvidence) -> pd.DataFrame:
    """Every person's difference with its interval, worst first (the chart's data)."""
    rows = [
        {"user": u.user_id, "difference": u.difference, "low": u.low, "high": u.high, "minutes": u.rows,
         "judged": "judged" if u.judged else "too few minutes to judge"}
        for u in sorted(evidence.per_user, key=lambda u: u.difference)
    ]
    return pd.DataFrame(rows, columns=["user", "difference", "low", "high", "minutes", "judged"])


def not_judged(evidence: ChecklistEvidence) -> list[UserComparison]:
    return [u for u in evidence.per_user if not u.judged]


@dataclass(frozen=True)
class FigureRow:
    """One checklist figure with the threshold beside it."""

    figure: str
    value: str
    threshold: str
    within: bool | None

    def as_dict(self) -> dict[str, str]:
        mark = "" if self.within is None else ("within" if self.within else "beyond")
        return {"figure": self.figure, "value": self.value, "checklist threshold": self.threshold, "within?": mark}


def recent_week_rows(evidence: ChecklistEvidence, th: GateThresholds) -> list[FigureRow]:
    """The latest week's comparison and drift figures, each with its threshold."""
    week = evidence.recent_week
    if week is None:
        return []
    rw = th.recent_week
    out = [FigureRow("minutes compared", f"{week.rows:,} ({week.date_from} to {week.date_to})", "", None)]
    if week.difference is not None and week.low is not None and week.high is not None:
        out.append(FigureRow("macro-F1 challenger - champion", f"{week.difference:+.4f} [{week.low:+.4f}, {week.high:+.4f}]",
                             f"interval not wholly below -{rw.tolerance}", not week.high < -rw.tolerance))
    if week.relative_drop is not None:
        out.append(FigureRow("macro-F1 drop relative to the champion", f"{week.relative_drop:+.1%}",
                             f"< {rw.macro_f1_relative_drop:.0%}", week.relative_drop < rw.macro_f1_relative_drop))
    if week.reject_rate_change is not None:
        out.append(FigureRow("reject rate change (challenger - champion)", f"{week.reject_rate_change:+.3f}",
                             f"< +{rw.reject_rate_increase}", week.reject_rate_change < rw.reject_rate_increase))
    top = max(week.major_features, key=lambda f: week.psi.get(f, 0.0), default=None)
    if top is not None:
        out.append(FigureRow(f"highest PSI of a major feature ({top})", f"{week.psi.get(top, 0.0):.3f}",
                             f"<= {rw.psi}", week.psi.get(top, 0.0) <= rw.psi))
    shifted = week.shifted_classes[0] if week.shifted_classes else "-"
    out.append(FigureRow(f"class share shift, training vs latest week (most: {shifted})", f"{week.class_shift:.1%}",
                         f"<= {rw.class_shift:.0%}", week.class_shift <= rw.class_shift))
    return out


def psi_frame(evidence: ChecklistEvidence) -> pd.DataFrame:
    week = evidence.recent_week
    if week is None:
        return pd.DataFrame(columns=["feature", "PSI", "major"])
    rows = [{"feature": f, "PSI": v, "major": "yes" if f in week.major_features else ""}
            for f, v in sorted(week.psi.items(), key=lambda kv: -kv[1])]
    return pd.DataFrame(rows)


def explanation_frames(evidence: ChecklistEvidence) -> dict[str, pd.DataFrame]:
    """Why the model changed: feature rank shift, confusions grown or shrunk, who and what moved macro-F1."""
    e = evidence.explanation
    if e is None:
        return {}
    return {
        "Features whose importance rank moved most (gain)": pd.DataFrame(
            [{"feature": i.feature, "champion rank": i.champion_rank, "challenger rank": i.challenger_rank,
              "challenger's share of gain": i.challenger_gain_share} for i in e.importance]),
        "Confusions that grew or shrank most (minutes)": pd.DataFrame(
            [{"true": c.true, "served as": c.predicted, "champion": c.champion, "challenger": c.challenger,
              "change": c.change} for c in e.confusions]),
        "Classes behind the macro-F1 change": pd.DataFrame(
            [{"class": c.name, "champion F1": c.champion, "challenger F1": c.challenger,
              "share of the change": c.contribution} for c in e.classes]),
        "People behind the macro-F1 change (weighted by minutes)": pd.DataFrame(
            [{"user": c.name, "minutes": c.rows, "champion": c.champion, "challenger": c.challenger,
              "share of the change": c.contribution} for c in e.users]),
    }


def spot_check_choices(evidence: ChecklistEvidence | None) -> tuple[list[tuple[str, str]], list[str], int]:
    """Who must be looked at: the proposed people (user, why), every person, and how many in all."""
    everyone, needed = spot_check_people(evidence)
    if evidence is None or not needed:
        return [], everyone, 0
    return [(c.user_id, c.why) for c in evidence.spot_check], everyone, needed


def day_timeline(run_dir: Path, user_id: str, day: str | None = None) -> tuple[str, pd.DataFrame]:
    """One person's day: per minute the labelled block and both models' served labels.

    Args:
        run_dir: The run folder (its ``served_rows.parquet``).
        user_id: The person.
        day: ``YYYY-MM-DD``; default: their day with the most test minutes.

    Returns:
        The day shown and a long frame (``minute``, ``lane``, ``label``, ``disagree``).
    """
    rows = pd.read_parquet(run_dir / SERVED_ROWS)
    mine = rows[rows["user_id"].astype(str) == user_id].copy()
    if mine.empty:
        return "", pd.DataFrame(columns=["minute", "lane", "label", "disagree"])
    stamps = pd.to_datetime(mine["bucket_start_ts"], utc=True)
    days = stamps.dt.strftime("%Y-%m-%d")
    shown = day if day is not None and day in set(days) else str(days.value_counts().idxmax())
    mine, stamps = mine[days == shown], stamps[days == shown]
    lanes = {"labelled": mine["label"], "champion (served)": mine.get("champion_pred"),
             "challenger (served)": mine["challenger_pred"]}
    disagree = (mine["challenger_pred"] != mine["champion_pred"]) if "champion_pred" in mine else mine["label"] != mine["label"]
    frames = [
        pd.DataFrame({"minute": stamps.dt.tz_localize(None).to_numpy(), "lane": lane,
                      "label": [_NAMES[int(v)] for v in values], "disagree": disagree.to_numpy()})
        for lane, values in lanes.items() if values is not None
    ]
    return shown, pd.concat(frames, ignore_index=True)


__all__ = [
    "FigureRow",
    "day_timeline",
    "explanation_frames",
    "not_judged",
    "per_user_frame",
    "psi_frame",
    "recent_week_rows",
    "spot_check_choices",
    "worst_off_sentence",
]
