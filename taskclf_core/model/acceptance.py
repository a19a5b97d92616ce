"""Acceptance checks on an evaluation (after reject), judged by the configured thresholds.

A class that is neither present nor predicted has no precision: it is reported as
"n/a (no support, never predicted)" and left out of the floor, never counted as 0.
"""

from __future__ import annotations

from taskclf_core.model.reports import AcceptanceCheck, ClassMetrics
from taskclf_core.model.thresholds import REFERENCE_THRESHOLDS, GateThresholds, config_key

NA_PRECISION = "n/a (no support, never predicted)"

#: The reference thresholds under their historical names (``spec/workflow.md``).
ACCEPT_MACRO_F1 = REFERENCE_THRESHOLDS.macro_f1
ACCEPT_WEIGHTED_F1 = REFERENCE_THRESHOLDS.weighted_f1
ACCEPT_BREAKIDLE_PRECISION = REFERENCE_THRESHOLDS.breakidle_precision
ACCEPT_BREAKIDLE_RECALL = REFERENCE_THRESHOLDS.breakidle_recall
ACCEPT_MIN_CLASS_PRECISION = REFERENCE_THRESHOLDS.class_precision_floor
ACCEPT_REJECT_RATE = (REFERENCE_THRESHOLDS.reject_rate_min, REFERENCE_THRESHOLDS.reject_rate_max)
ACCEPT_SEEN_USER_F1 = REFERENCE_THRESHOLDS.seen_user_f1
ACCEPT_UNSEEN_USER_F1 = REFERENCE_THRESHOLDS.unseen_user_f1


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _check_min(
    name: str, value: float | None, threshold: float, what: str, na_reason: str = "", key: str = ""
) -> AcceptanceCheck:
    key = key or config_key(name)
    if value is None and threshold <= 0:
        # A threshold of 0 asks for nothing: even an undefined value meets it.
        return AcceptanceCheck(
            name=name, passed=True, value=None, threshold=f">= {threshold}", config_key=key,
            detail=f"{what} is n/a ({na_reason or 'undefined on these rows'}); threshold {threshold} asks for nothing",
        )
    if value is None:
        return AcceptanceCheck(
            name=name, passed=False, value=None, threshold=f">= {threshold}", config_key=key,
            detail=f"{what} is n/a ({na_reason or 'undefined on these rows'}); cannot show >= {threshold}",
        )
    passed = value >= threshold
    margin = value - threshold
    return AcceptanceCheck(
        name=name, passed=passed, value=value, threshold=f">= {threshold}", config_key=key,
        detail=f"{what} {value:.4f} {'>=' if passed else '<'} {threshold} ({'margin' if passed else 'short by'} {abs(margin):.4f})",
    )


def acceptance_checks(
    macro: float,
    weighted: float,
    per_class: dict[str, ClassMetrics],
    reject_rate: float,
    seen: float | None,
    unseen: float | None,
    thresholds: GateThresholds = REFERENCE_THRESHOLDS,
) -> list[AcceptanceCheck]:
    """The acceptance checks of ``spec/workflow.md`` with the given thresholds."""
    th = thresholds
    bi = per_class["BreakIdle"]
    bi_na = "no BreakIdle rows and none predicted" if bi.precision is None else ""
    checks = [
        _check_min("macro_f1", macro, th.macro_f1, "macro-F1"),
        _check_min("weighted_f1", weighted, th.weighted_f1, "weighted-F1"),
        _check_min(
            "breakidle_precision", bi.precision, th.breakidle_precision,
            f"BreakIdle precision (n={bi.predicted})", bi_na,
        ),
        _check_min(
            "breakidle_recall", bi.recall, th.breakidle_recall,
            f"BreakIdle recall (n={bi.support})", "no BreakIdle rows in the evaluation set",
        ),
    ]
    low = [(n, m) for n, m in per_class.items() if m.precision is not None and m.precision < th.class_precision_floor]
    na = [n for n, m in per_class.items() if m.precision is None]
    worst = min((m.precision for m in per_class.values() if m.precision is not None), default=None)
    if low:
        detail = f"below {th.class_precision_floor}: " + ", ".join(f"{n} {m.precision:.4f} (n={m.predicted})" for n, m in low)
    else:
        detail = f"every class precision >= {th.class_precision_floor} (lowest {_fmt(worst)})"
    if na:
        detail += f"; {NA_PRECISION}: {', '.join(na)}"
    checks.append(
        AcceptanceCheck(
            name="no_class_below_50_precision", passed=not low, value=worst,
            threshold=f">= {th.class_precision_floor} for every class", detail=detail,
            config_key=config_key("class_precision_floor"),
        )
    )
    lo, hi = th.reject_rate_min, th.reject_rate_max
    inside = lo <= reject_rate <= hi
    checks.append(
        AcceptanceCheck(
            name="reject_rate_bounds", passed=inside, value=reject_rate, threshold=f"in [{lo}, {hi}]",
            config_key=f"{config_key('reject_rate_min')}, {config_key('reject_rate_max')}",
            detail=f"reject rate {reject_rate:.4f} {'inside' if inside else 'outside'} [{lo}, {hi}]",
        )
    )
    if seen is not None:
        checks.append(_check_min("seen_user_f1", seen, th.seen_user_f1, "seen-user macro-F1"))
    if unseen is not None:
        checks.append(_check_min("unseen_user_f1", unseen, th.unseen_user_f1, "unseen-user macro-F1"))
    return checks
