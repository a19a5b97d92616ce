"""taskclf's production promotion checklist as evidence and gates.

From taskclf's acceptance guide (``docs/guide/acceptance.md``): every person judged, not
only the team average (a paired bootstrap interval of challenger - champion per person,
the team gate's resampling within that person's rows); the most recent week compared and
drift-tested (§7, §11); the safety blockers (§10); label stability and smoothing (§5, §6);
the reject rate that marks a model underfit (§4); and what changed between the models.
Everything is computed from the served outputs of the evaluation rows, once, here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, Field

from taskclf_core.data.schema import LABELS
from taskclf_core.model.evaluation import (
    N_CLASSES,
    confusion_counts,
    macro_f1_from_confusion,
    paired_bootstrap,
)
from taskclf_core.model.gates import GateGroup, RegressionGate
from taskclf_core.model.smoothing import Stability, stability
from taskclf_core.model.thresholds import GateThresholds

#: taskclf's label order (``LABEL_SET_V1`` sorted), which every served probability row follows.
#: taskclf serves its label set in sorted order (``sorted(LABEL_SET_V1)``): the order a
#: served probability row must follow.
TASKCLF_LABEL_ORDER: tuple[str, ...] = tuple(sorted(LABELS))
RESAMPLES = 1000


class UserComparison(BaseModel, frozen=True):
    """One person's served macro-F1, challenger against champion, with its interval."""

    user_id: str
    rows: int
    challenger_macro_f1: float
    champion_macro_f1: float
    difference: float
    low: float | None = None
    high: float | None = None
    #: False: too few minutes to judge (listed, never passed silently).
    judged: bool = True


class RecentWeek(BaseModel, frozen=True):
    """The latest days of the data range: the same comparison, and the drift figures."""

    date_from: str
    date_to: str
    rows: int
    challenger_macro_f1: float
    champion_macro_f1: float | None = None
    difference: float | None = None
    low: float | None = None
    high: float | None = None
    relative_drop: float | None = None
    challenger_reject_rate: float
    champion_reject_rate: float | None = None
    reject_rate_change: float | None = None
    #: PSI of the challenger's major features (training rows vs the latest week), highest first.
    psi: dict[str, float] = Field(default_factory=dict)
    major_features: list[str] = Field(default_factory=list)
    class_shift: float = 0.0
    shifted_classes: list[str] = Field(default_factory=list)
    train_shares: dict[str, float] = Field(default_factory=dict)
    week_shares: dict[str, float] = Field(default_factory=dict)


class StabilityFigures(BaseModel, frozen=True):
    windows: int
    flap_rate_raw: float
    flap_rate_smoothed: float
    blocks: int
    share_long: float
    share_under_2_minutes: float

    @classmethod
    def of(cls, s: Stability) -> StabilityFigures:
        return cls(windows=s.windows, flap_rate_raw=s.flap_rate_raw, flap_rate_smoothed=s.flap_rate_smoothed,
                   blocks=s.blocks, share_long=s.share_long, share_under_2_minutes=s.share_under_2_minutes)


class SafetyFigures(BaseModel, frozen=True):
    breakidle_minutes: int
    breakidle_as_build: int
    probability_sum_error: float
    label_order: list[str]


class ImportanceShift(BaseModel, frozen=True):
    feature: str
    champion_rank: int | None
    challenger_rank: int | None
    challenger_gain_share: float


class ConfusionChange(BaseModel, frozen=True):
    true: str
    predicted: str
    champion: int
    challenger: int
    change: int


class Contribution(BaseModel, frozen=True):
    name: str
    champion: float | None
    challenger: float | None
    contribution: float
    rows: int = 0


class ChangeExplanation(BaseModel, frozen=True):
    """Why the model changed: importance rank shift, confusions grown or shrunk, who and what moved macro-F1."""

    importance: list[ImportanceShift] = Field(default_factory=list)
    confusions: list[ConfusionChange] = Field(default_factory=list)
    classes: list[Contribution] = Field(default_factory=list)
    users: list[Contribution] = Field(default_factory=list)


class SpotCandidate(BaseModel, frozen=True):
    user_id: str
    why: str
    day: str
    rows: int


class ChecklistEvidence(BaseModel, frozen=True):
    """Everything of the checklist a run records (``evaluation.json``'s ``checklist``)."""

    per_user: list[UserComparison] = Field(default_factory=list)
    recent_week: RecentWeek | None = None
    stability: StabilityFigures
    safety: SafetyFigures
    explanation: ChangeExplanation | None = None
    spot_check: list[SpotCandidate] = Field(default_factory=list)
    #: People a reviewer must look at before signing off (``gates.spot_check_users``, at most everyone).
    spot_check_required: int = 0

    @property
    def worst_off(self) -> UserComparison | None:
        judged = [u for u in self.per_user if u.judged]
        return min(judged, key=lambda u: u.difference) if judged else None


# --------------------------------------------------------------------------- figures


def _macro(y: np.ndarray, pred: np.ndarray) -> float:
    return float(macro_f1_from_confusion(confusion_counts(y, pred)))


def per_user_comparisons(y: np.ndarray, challenger: np.ndarray, champion: np.ndarray, users: np.ndarray, *,
                         min_windows: int, seed: int) -> list[UserComparison]:
    """Each person's macro-F1 difference with the team gate's paired bootstrap within their rows."""
    out = []
    names, inverse = np.unique(np.asarray(users).astype(str), return_inverse=True)  # sorted, as before
    order = np.argsort(inverse, kind="stable")  # each person's rows together, in their order
    bounds = np.searchsorted(inverse[order], np.arange(len(names) + 1))
    for i, user in enumerate(names.tolist()):
        rows = order[bounds[i]:bounds[i + 1]]
        n = len(rows)
        chal, champ = _macro(y[rows], challenger[rows]), _macro(y[rows], champion[rows])
        if n < min_windows:
            out.append(UserComparison(user_id=user, rows=n, challenger_macro_f1=chal, champion_macro_f1=champ,
                                      difference=chal - champ, judged=False))
            continue
        b = paired_bootstrap(y[rows], challenger[rows], champion[rows], resamples=RESAMPLES, seed=seed)
        out.append(UserComparison(user_id=user, rows=n, challenger_macro_f1=chal, champion_macro_f1=champ,
                                  difference=b.difference, low=b.low, high=b.high))
    return out


def served_sequences(users: np.ndarray, stamps: np.ndarray, pred: np.ndarray) -> list[list[str]]:
    """Each person's served labels in time order (rejects as ``Mixed/Unknown``)."""
    names = np.asarray([*LABELS, "Mixed/Unknown"], dtype=object)
    order = np.lexsort((stamps, users))
    sorted_users, sorted_pred = users[order], pred[order]
    out = []
    for user in dict.fromkeys(sorted_users.tolist()):
        out.append(list(names[sorted_pred[sorted_users == user]]))
    return out


def safety_figures(y: np.ndarray, pred: np.ndarray, proba: np.ndarray) -> SafetyFigures:
    """BreakIdle served as Build, the largest row-sum error, the label order served."""
    breakidle, build = LABELS.index("BreakIdle"), LABELS.index("Build")
    is_idle = y == breakidle
    error = float(np.max(np.abs(proba.sum(axis=1) - 1.0))) if len(proba) else 0.0
    return SafetyFigures(breakidle_minutes=int(is_idle.sum()), breakidle_as_build=int((pred[is_idle] == build).sum()),
                         probability_sum_error=error, label_order=list(LABELS))


def explain_change(y: np.ndarray, challenger: np.ndarray, champion: np.ndarray, users: np.ndarray, *,
                   challenger_gain: dict[str, float], champion_gain: dict[str, float], top: int = 10) -> ChangeExplanation:
    """Importance rank shift, the confusions that grew or shrank most, and the contributions to the macro-F1 change."""
    def ranks(gain: dict[str, float]) -> dict[str, int]:
        return {f: i + 1 for i, f in enumerate(sorted(gain, key=lambda f: (-gain[f], f)))}

    r_chal, r_champ = ranks(challenger_gain), ranks(champion_gain)
    total = sum(challenger_gain.values()) or 1.0
    watched = [f for f in r_chal if r_chal[f] <= 30 or r_champ.get(f, 10**9) <= 30]
    moved = sorted(watched, key=lambda f: (-abs(r_champ.get(f, len(r_champ) + 1) - r_chal.get(f, len(r_chal) + 1)), f))
    importance = [ImportanceShift(feature=f, champion_rank=r_champ.get(f), challenger_rank=r_chal.get(f),
                                  challenger_gain_share=challenger_gain.get(f, 0.0) / total) for f in moved[:top]]
    c_chal, c_champ = confusion_counts(y, challenger), confusion_counts(y, champion)
    names = [*LABELS, "Mixed/Unknown"]
    diff = c_chal - c_champ
    cells = [(t, p) for t in range(N_CLASSES) for p in range(N_CLASSES + 1) if t != p and diff[t, p] != 0]
    cells.sort(key=lambda tp: (-abs(int(diff[tp])), tp))
    confusions = [ConfusionChange(true=names[t], predicted=names[p], champion=int(c_champ[t, p]),
                                  challenger=int(c_chal[t, p]), change=int(diff[t, p])) for t, p in cells[:top]]
    classes = _class_contributions(c_chal, c_champ)
    per_user = per_user_comparisons(y, challenger, champion, users, min_windows=10**12, seed=0)
    n = max(len(y), 1)
    user_rows = sorted(per_user, key=lambda u: -abs(u.difference) * u.rows)
    users_out = [Contribution(name=u.user_id, champion=u.champion_macro_f1, challenger=u.challenger_macro_f1,
                              contribution=u.difference * u.rows / n, rows=u.rows) for u in user_rows[:top]]
    return ChangeExplanation(importance=importance, confusions=confusions, classes=classes, users=users_out)


def _class_contributions(c_chal: np.ndarray, c_champ: np.ndarray) -> list[Contribution]:
    """Each class's share of the macro-F1 change: its F1 over the classes each model averages."""
    from taskclf_core.model.evaluation import _f1_from_confusion

    f_chal, p_chal = _f1_from_confusion(c_chal)
    f_champ, p_champ = _f1_from_confusion(c_champ)
    n_chal, n_champ = max(int(p_chal.sum()), 1), max(int(p_champ.sum()), 1)
    out = []
    for c, name in enumerate(LABELS):
        a = float(f_chal[c]) if p_chal[c] else None
        b = float(f_champ[c]) if p_champ[c] else None
        out.append(Contribution(name=name, champion=b, challenger=a,
                                contribution=(a or 0.0) / n_chal - (b or 0.0) / n_champ, rows=int(c_chal[c].sum())))
    return sorted(out, key=lambda c: -abs(c.contribution))


def spot_candidates(per_user: Sequence[UserComparison], users: np.ndarray, days: np.ndarray) -> list[SpotCandidate]:
    """The worst-off person and the median one (the reviewer picks the third), each with their busiest day."""
    ranked = sorted(per_user, key=lambda u: u.difference)
    if not ranked:
        return []
    picks = [(ranked[0], "worst off")]
    median = ranked[len(ranked) // 2]
    if median.user_id != ranked[0].user_id:
        picks.append((median, "median"))
    out = []
    for person, why in picks:
        mine = days[users == person.user_id]
        values, counts = np.unique(mine, return_counts=True)
        busiest = str(values[int(np.argmax(counts))]) if len(values) else ""
        out.append(SpotCandidate(user_id=person.user_id, why=why, day=busiest, rows=int(counts.max()) if len(counts) else 0))
    return out


# --------------------------------------------------------------------------- gates


def _gate(name: str, passed: bool, detail: str, value: float | None, threshold: str, key: str,
          skipped: bool = False) -> RegressionGate:
    return RegressionGate(name=name, kind="checklist", passed=passed and not skipped, skipped=skipped, detail=detail,
                          value=value, threshold=threshold, config_key=key)


def checklist_gates(evidence: ChecklistEvidence, th: GateThresholds, *, has_champion: bool,
                    reject_rate: float, calibrated: bool, brier: float | None, raw_brier: float | None) -> GateGroup:
    """Every checklist gate, each with its figure and threshold (skipped, never passed, without its inputs)."""
    gates: list[RegressionGate] = []
    pu = th.per_user
    judged = [u for u in evidence.per_user if u.judged]
    too_few = [u.user_id for u in evidence.per_user if not u.judged]
    if not has_champion:
        gates.append(_gate("per_user_no_regression", False, "skipped: no champion to compare each person with", None,
                           f"interval not wholly below -{pu.tolerance}", "gates.per_user.tolerance", skipped=True))
    else:
        worse = [u for u in judged if u.high is not None and u.high < -pu.tolerance]
        worst = min(judged, key=lambda u: u.difference) if judged else None
        detail = (f"{len(judged)} people judged, worst off {worst.user_id} {worst.difference:+.4f} "
                  f"[{worst.low:+.4f}, {worst.high:+.4f}]" if worst else "nobody has enough test minutes to judge")
        if worse:
            detail = f"{len(worse)} person(s) worse beyond -{pu.tolerance}: " + ", ".join(
                f"{u.user_id} {u.difference:+.4f} [{u.low:+.4f}, {u.high:+.4f}]" for u in worse)
        if too_few:
            detail += f"; too few minutes to judge (< {pu.min_windows}): {', '.join(too_few)}"
        gates.append(_gate("per_user_no_regression", not worse, detail, worst.difference if worst else None,
                           f"interval not wholly below -{pu.tolerance}", "gates.per_user.tolerance",
                           skipped=not judged))
    rw, week = th.recent_week, evidence.recent_week
    if week is None or not has_champion or week.difference is None:
        why = "no champion to compare with" if not has_champion else "no test rows in the latest days"
        gates.append(_gate("recent_week_no_regression", False, f"skipped: {why}", None,
                           f"interval not wholly below -{rw.tolerance}", "gates.recent_week.tolerance", skipped=True))
    else:
        below = week.high is not None and week.high < -rw.tolerance
        gates.append(_gate("recent_week_no_regression", not below,
                           f"{week.date_from} to {week.date_to}, {week.rows} minutes: challenger - champion "
                           f"{week.difference:+.4f} [{week.low:+.4f}, {week.high:+.4f}]", week.difference,
                           f"interval not wholly below -{rw.tolerance}", "gates.recent_week.tolerance"))
    if week is not None:
        flags = []
        if week.relative_drop is not None and week.relative_drop >= rw.macro_f1_relative_drop:
            flags.append(f"macro-F1 {week.relative_drop:.1%} below the champion's (>= {rw.macro_f1_relative_drop:.0%})")
        if week.reject_rate_change is not None and week.reject_rate_change >= rw.reject_rate_increase:
            flags.append(f"reject rate up {week.reject_rate_change:+.3f} (>= {rw.reject_rate_increase})")
        drifted = [f for f in week.major_features if week.psi.get(f, 0.0) > rw.psi]
        if drifted:
            flags.append(f"PSI > {rw.psi} for {', '.join(f'{f} ({week.psi[f]:.2f})' for f in drifted)}")
        if week.class_shift > rw.class_shift:
            flags.append(f"class share shifted {week.class_shift:.1%} ({week.shifted_classes[0]}; > {rw.class_shift:.0%})")
        top_psi = max((week.psi.get(f, 0.0) for f in week.major_features), default=0.0)
        gates.append(_gate("recent_week_drift", not flags, "; ".join(flags) or (
            f"latest week passes the drift test: highest major-feature PSI {top_psi:.3f}, class shift "
            f"{week.class_shift:.1%}"), top_psi, f"PSI <= {rw.psi}, shift <= {rw.class_shift}, drops < 10%",
            "gates.recent_week.*"))
    sf, s = th.safety, evidence.safety
    share = s.breakidle_as_build / s.breakidle_minutes if s.breakidle_minutes else 0.0
    gates.append(_gate("breakidle_not_build", share <= sf.breakidle_as_build,
                       f"{s.breakidle_as_build} of {s.breakidle_minutes} BreakIdle minutes served as Build ({share:.1%})",
                       share, f"<= {sf.breakidle_as_build}", "gates.safety.breakidle_as_build"))
    gates.append(_gate("probabilities_sum_to_one", s.probability_sum_error <= sf.probability_sum_tolerance,
                       f"largest |row sum - 1| of the served probabilities {s.probability_sum_error:.2e}",
                       s.probability_sum_error, f"<= {sf.probability_sum_tolerance:g}", "gates.safety.probability_sum_tolerance"))
    same = tuple(s.label_order) == TASKCLF_LABEL_ORDER
    gates.append(_gate("label_order", same, "served label order is taskclf's (LABEL_SET_V1 sorted)" if same else
                       f"served label order {s.label_order} is not taskclf's {list(TASKCLF_LABEL_ORDER)}",
                       None, "taskclf's order", ""))
    st = evidence.stability
    gates.append(_gate("flap_rate_raw", st.flap_rate_raw <= sf.flap_rate_raw,
                       f"{st.flap_rate_raw:.3f} label changes per window before smoothing ({st.windows} windows)",
                       st.flap_rate_raw, f"<= {sf.flap_rate_raw}", "gates.safety.flap_rate_raw"))
    gates.append(_gate("flap_rate_smoothed", st.flap_rate_smoothed <= sf.flap_rate_smoothed,
                       f"{st.flap_rate_smoothed:.3f} after taskclf's rolling majority (window 3)",
                       st.flap_rate_smoothed, f"<= {sf.flap_rate_smoothed}", "gates.safety.flap_rate_smoothed"))
    ok = st.share_long >= sf.long_blocks_min and st.share_under_2_minutes <= sf.short_blocks_max
    gates.append(_gate("smoothing_blocks", ok,
                       f"{st.blocks} merged blocks: {st.share_long:.1%} at least 3 minutes, "
                       f"{st.share_under_2_minutes:.1%} shorter than 2 minutes", st.share_long,
                       f">= {sf.long_blocks_min} long, <= {sf.short_blocks_max} short",
                       "gates.safety.long_blocks_min, gates.safety.short_blocks_max"))
    gates.append(_gate("reject_rate_not_underfit", reject_rate <= sf.reject_rate_underfit,
                       f"served reject rate {reject_rate:.3f}" + (" (underfit or features insufficient)"
                                                                 if reject_rate > sf.reject_rate_underfit else ""),
                       reject_rate, f"<= {sf.reject_rate_underfit}", "gates.safety.reject_rate_underfit"))
    share_needed = th.calibration_brier_improvement
    if not calibrated or brier is None or not raw_brier:
        gates.append(_gate("calibration_brier", False, "skipped: the deployment has no calibrator", None,
                           f">= {share_needed}", "gates.calibration_brier_improvement", skipped=True))
    else:
        gain = 1.0 - brier / raw_brier
        gates.append(_gate("calibration_brier", gain >= share_needed,
                           f"served Brier {brier:.4f} vs raw {raw_brier:.4f}: {gain:.1%} better", gain,
                           f">= {share_needed}", "gates.calibration_brier_improvement"))
    return GateGroup(all_passed=all(g.passed for g in gates if not g.skipped), gates=gates)


__all__ = [
    "TASKCLF_LABEL_ORDER",
    "ChangeExplanation",
    "ChecklistEvidence",
    "RecentWeek",
    "SafetyFigures",
    "SpotCandidate",
    "StabilityFigures",
    "UserComparison",
    "checklist_gates",
    "explain_change",
    "per_user_comparisons",
    "safety_figures",
    "served_sequences",
    "spot_candidates",
    "stability",
]
