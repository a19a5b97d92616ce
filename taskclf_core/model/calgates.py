"""The gates of a calibrator refit: the same model, before and after, as served.

A refit changes how the champion is served, not the model: it passes when the served
macro-F1 is no worse than ``regression_tolerance`` below the deployment now, the expected
calibration error is not worse, and the Brier score is at least
``gates.calibration_brier_improvement`` (taskclf's acceptance guide §3: 5 %) better than
the raw model's on the same rows.
"""

from __future__ import annotations

from taskclf_core.model.gates import GateGroup, RegressionGate
from taskclf_core.model.reports import EvaluationReport
from taskclf_core.model.thresholds import config_key


def check_calibration_gates(
    before: EvaluationReport, after: EvaluationReport, raw: EvaluationReport, *, tolerance: float
) -> GateGroup:
    """Judge a refit: ``before`` is the deployment now, ``after`` the refit, ``raw`` the model alone.

    Args:
        before: The champion served as now, on the refit's evaluation rows.
        after: The champion served with the refitted calibrator (and threshold).
        raw: The champion's raw outputs on the same rows.
        tolerance: ``regression_tolerance``.

    Returns:
        The three gates (kind ``calibration``).
    """
    share = after.thresholds.calibration_brier_improvement
    diff = after.macro_f1 - before.macro_f1
    gates = [
        RegressionGate(
            name="served_macro_f1_no_regression", kind="calibration", passed=diff >= -tolerance, value=diff,
            threshold=f">= -{tolerance}", config_key="regression_tolerance",
            detail=(f"served macro-F1 after {after.macro_f1:.4f} - before {before.macro_f1:.4f} = {diff:+.4f}, "
                    f"{'at least' if diff >= -tolerance else 'below'} -{tolerance}"),
        )
    ]
    ece_before, ece_after = before.expected_calibration_error, after.expected_calibration_error
    if ece_before is None or ece_after is None:
        gates.append(RegressionGate(name="ece_not_worse", kind="calibration", passed=False, skipped=True,
                                    detail="skipped: no probabilities to measure calibration on"))
    else:
        gates.append(RegressionGate(
            name="ece_not_worse", kind="calibration", passed=ece_after <= ece_before, value=ece_after - ece_before,
            threshold="<= 0", detail=(f"expected calibration error after {ece_after:.4f} vs before {ece_before:.4f} "
                                      f"({ece_after - ece_before:+.4f}; lower is better)"),
        ))
    brier_raw, brier_after = raw.multiclass_brier_score, after.multiclass_brier_score
    if brier_raw is None or brier_after is None or brier_raw <= 0:
        gates.append(RegressionGate(name="brier_improvement", kind="calibration", passed=False, skipped=True,
                                    detail="skipped: no Brier score of the raw model"))
    else:
        gain = 1.0 - brier_after / brier_raw
        gates.append(RegressionGate(
            name="brier_improvement", kind="calibration", passed=gain >= share, value=gain, threshold=f">= {share}",
            config_key=config_key("calibration_brier_improvement"),
            detail=(f"Brier score after {brier_after:.4f} vs raw {brier_raw:.4f}: {gain:.1%} better "
                    f"({'at least' if gain >= share else 'less than'} the {share:.0%} taskclf's guide asks)"),
        ))
    return GateGroup(all_passed=all(g.passed for g in gates if not g.skipped), gates=gates)


__all__ = ["check_calibration_gates"]
