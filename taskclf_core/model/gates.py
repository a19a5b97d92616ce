"""Promotion gates: candidate (challenger alone), baseline, comparative (vs champion).

The gate decision is computed here once; the CLI and the app only render it.
"""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel, computed_field

from taskclf_core.model.reports import EvaluationReport

GateKind = Literal["candidate", "baseline", "comparative", "calibration", "checklist"]
GateStatus = Literal["passed", "failed", "skipped"]


class GatePolicy(Protocol):
    """The settings the baseline and comparative gates read (``RetrainConfig`` has them)."""

    @property
    def regression_tolerance(self) -> float: ...
    @property
    def require_baseline_improvement(self) -> bool: ...
    @property
    def min_improvement(self) -> float: ...


class RegressionGate(BaseModel, frozen=True):
    """Result of a single gate check."""

    name: str
    passed: bool
    detail: str
    kind: GateKind = "candidate"
    skipped: bool = False
    value: float | None = None
    threshold: str = ""
    #: Where the threshold is set in ``configs/retrain.yaml``.
    config_key: str = ""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status(self) -> GateStatus:
        """``passed``, ``failed`` or ``skipped`` (a skipped gate is neither)."""
        return "skipped" if self.skipped else ("passed" if self.passed else "failed")


class GateGroup(BaseModel, frozen=True):
    """One group of gates (candidate, baseline, comparative or calibration) and whether all
    passed (skipped gates do not count). The reference API calls it ``RegressionResult``."""

    all_passed: bool
    gates: list[RegressionGate]


def _result(gates: list[RegressionGate]) -> GateGroup:
    return GateGroup(all_passed=all(g.passed for g in gates if not g.skipped), gates=gates)


def check_candidate_gates(challenger_report: EvaluationReport) -> GateGroup:
    """Check candidate-only hard gates (no champion needed).

    1. ``breakidle_precision``: BreakIdle precision >= 0.95 (``gates.breakidle_precision``).
    2. ``no_class_below_50_precision``: no class precision < 0.50 (n/a classes excluded;
       ``gates.class_precision_floor``).
    3. ``challenger_acceptance``: all of the challenger's acceptance checks pass.

    The thresholds are the ones the report was evaluated with (``report.thresholds``).

    Args:
        challenger_report: Evaluation report of the newly trained model.

    Returns:
        A :class:`GateGroup` with per-gate pass/fail details.
    """
    checks = {c.name: c for c in challenger_report.acceptance}
    th = challenger_report.thresholds
    bi = checks["breakidle_precision"]
    floor = checks["no_class_below_50_precision"]
    failed = [c.name for c in challenger_report.acceptance if not c.passed]
    return _result(
        [
            RegressionGate(
                name="breakidle_precision", passed=bi.passed, detail=bi.detail,
                value=bi.value, threshold=f">= {th.breakidle_precision}", config_key=bi.config_key,
            ),
            RegressionGate(
                name="no_class_below_50_precision", passed=floor.passed, detail=floor.detail,
                value=floor.value, threshold=f">= {th.class_precision_floor} every class",
                config_key=floor.config_key,
            ),
            RegressionGate(
                name="challenger_acceptance",
                passed=not failed,
                detail=(
                    f"all {len(checks)} acceptance checks passed"
                    if not failed
                    else f"{len(failed)} of {len(checks)} acceptance checks failed: {', '.join(failed)}"
                ),
                value=float(len(checks) - len(failed)),
                threshold=f"{len(checks)} of {len(checks)} checks",
                config_key="gates.*",
            ),
        ]
    )


def check_baseline_gate(
    challenger_report: EvaluationReport, baseline_report: EvaluationReport, config: GatePolicy
) -> GateGroup:
    """``baseline_improvement``: challenger macro-F1 − baseline macro-F1 > ``min_improvement``
    on the same rows; skipped when ``require_baseline_improvement`` is false."""
    diff = challenger_report.macro_f1 - baseline_report.macro_f1
    if not config.require_baseline_improvement:
        gate = RegressionGate(
            name="baseline_improvement", passed=False, skipped=True, kind="baseline", value=diff,
            threshold=f"> {config.min_improvement}", config_key="require_baseline_improvement",
            detail="skipped: require_baseline_improvement is false in the config "
            f"(challenger {challenger_report.macro_f1:.4f} vs baseline {baseline_report.macro_f1:.4f})",
        )
        return _result([gate])
    passed = diff > config.min_improvement
    return _result(
        [
            RegressionGate(
                name="baseline_improvement", passed=passed, kind="baseline", value=diff,
                threshold=f"> {config.min_improvement}", config_key="min_improvement",
                detail=(
                    f"challenger macro-F1 {challenger_report.macro_f1:.4f} vs rule baseline "
                    f"{baseline_report.macro_f1:.4f}: difference {diff:+.4f} "
                    f"{'>' if passed else '<='} min_improvement {config.min_improvement}"
                ),
            )
        ]
    )


def regression_difference(
    champion_macro_f1: float, challenger_macro_f1: float, tolerance: float
) -> tuple[float, bool, str, str]:
    """The comparative gate's figures in its one sign convention: challenger − champion.

    The gate passes when the difference is at least ``-tolerance`` (a drop of at most the
    tolerance). The gate table, the sentence, the chart, the report and the CLI all show
    this difference with this sign.

    Returns:
        ``(difference, passed, threshold, detail)``.
    """
    difference = challenger_macro_f1 - champion_macro_f1
    passed = difference >= -tolerance
    edge = f"-{tolerance}" if tolerance else "0"
    detail = (
        f"challenger {challenger_macro_f1:.4f} - champion {champion_macro_f1:.4f} = {difference:+.4f} "
        f"{'>=' if passed else '<'} {edge} (regression_tolerance {tolerance})"
    )
    return difference, passed, f">= {edge}", detail


def check_regression_gates(
    champion_report: EvaluationReport,
    challenger_report: EvaluationReport,
    config: GatePolicy,
) -> GateGroup:
    """Comparative regression check: challenger vs champion on macro-F1.

    ``macro_f1_no_regression``: challenger macro-F1 − champion macro-F1 >=
    ``-regression_tolerance`` (both evaluated on the same rows; see
    :func:`regression_difference`).

    Args:
        champion_report: Evaluation report of the current deployed model.
        challenger_report: Evaluation report of the newly trained model.
        config: Retrain configuration with the tolerance.

    Returns:
        A :class:`GateGroup` with per-gate pass/fail details.
    """
    difference, passed, threshold, detail = regression_difference(
        champion_report.macro_f1, challenger_report.macro_f1, config.regression_tolerance
    )
    return _result(
        [
            RegressionGate(
                name="macro_f1_no_regression", passed=passed, kind="comparative", value=difference,
                threshold=threshold, config_key="regression_tolerance", detail=detail,
            )
        ]
    )


def in_current_convention(
    gate: RegressionGate, champion_macro_f1: float | None, challenger_macro_f1: float | None, tolerance: float
) -> RegressionGate:
    """A comparative gate recorded as champion − challenger (``<= tolerance``, before the sign
    convention was unified) restated as challenger − champion; every other gate unchanged.

    The recorded pass/fail stays as it was (it is the same decision either way).
    """
    recorded_drop = gate.name == "macro_f1_no_regression" and gate.threshold.startswith("<=")
    if not recorded_drop or gate.skipped or champion_macro_f1 is None or challenger_macro_f1 is None:
        return gate
    difference, _, threshold, detail = regression_difference(champion_macro_f1, challenger_macro_f1, tolerance)
    return gate.model_copy(update={"value": difference, "threshold": threshold, "detail": detail})


def skipped_regression_gate(reason: str = "no champion") -> GateGroup:
    """The comparative gate shown as skipped (e.g. no champion yet)."""
    return _result(
        [
            RegressionGate(
                name="macro_f1_no_regression", passed=False, skipped=True, kind="comparative",
                detail=f"skipped: {reason}",
            )
        ]
    )


def failed_regression_gate(detail: str) -> GateGroup:
    """The comparative gate failed because the champion could not be evaluated."""
    return _result(
        [RegressionGate(name="macro_f1_no_regression", passed=False, kind="comparative", detail=detail)]
    )


def all_gates(*groups: GateGroup | None) -> list[RegressionGate]:
    """Every gate of the given groups, in order."""
    return [g for group in groups if group is not None for g in group.gates]


def gates_summary(gates: list[RegressionGate]) -> str:
    """``"5 passed, 0 failed, 1 skipped"``."""
    counts = {s: sum(g.status == s for g in gates) for s in ("passed", "failed", "skipped")}
    return f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"
