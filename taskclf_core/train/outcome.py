"""How a retrain run ends: its gates judged once, the one outcome, the run saved with its evidence.

Both engines (and the calibrator refit's outcome rule) end here, so a run's verdict, files and
result do not depend on where it trained. The stages before are :mod:`taskclf_core.train.stages`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from taskclf_core import __version__
from taskclf_core.model.checklist import checklist_gates
from taskclf_core.model.gates import (
    GateGroup,
    RegressionGate,
    all_gates,
    check_baseline_gate,
    check_candidate_gates,
    gates_summary,
    skipped_regression_gate,
)
from taskclf_core.model.lgbm import TrainedModel
from taskclf_core.paths import Home
from taskclf_core.registry.requested import RunRequested
from taskclf_core.train.cadence import CadenceStatus
from taskclf_core.train.champion import ChampionState
from taskclf_core.train.config import RetrainConfig, config_to_yaml
from taskclf_core.train.records import DatasetSnapshot, Outcome, RetrainResult
from taskclf_core.train.runsave import save_run
from taskclf_core.train.stages import Clock, Evaluation


def not_due_result(snapshot: DatasetSnapshot, cadence: CadenceStatus, clock: Clock) -> RetrainResult:
    """The result of a run that trained nothing because the cadence is not due."""
    return RetrainResult(
        promoted=False, challenger_macro_f1=0.0, run_dir="", outcome="not_due", dataset_snapshot=snapshot,
        reason=f"Retrain not due: {cadence.reason}; use force to retrain anyway.",
        due_at=cadence.due_at.isoformat() if cadence.due_at else None, timings=clock.done(),
    )


@dataclass(frozen=True)
class Verdict:
    """Every gate and the one outcome of the run."""

    candidate: GateGroup
    baseline: GateGroup
    comparative: GateGroup
    gates: list[RegressionGate]
    failed: list[str]
    outcome: Outcome
    reason: str
    checklist: GateGroup | None = None


def _checklist_gates(evaluation: Evaluation, config: RetrainConfig) -> GateGroup | None:
    evidence = evaluation.checklist
    if evidence is None:
        return None
    raw = evaluation.raw.get("challenger") or evaluation.challenger
    calibrated = evaluation.deployment is not None and evaluation.deployment.calibration_method is not None
    return checklist_gates(evidence, config.gates, has_champion=evaluation.champion is not None,
                           reject_rate=evaluation.challenger.reject_rate, calibrated=calibrated,
                           brier=evaluation.challenger.multiclass_brier_score, raw_brier=raw.multiclass_brier_score)


def judge(evaluation: Evaluation, config: RetrainConfig, *, dry_run: bool, clock: Clock) -> Verdict:
    """The gates, computed once, and the outcome they lead to."""
    clock.stage("gating", 0.9)
    candidate = check_candidate_gates(evaluation.challenger)
    baseline = check_baseline_gate(evaluation.challenger, evaluation.baseline, config)
    comparative = evaluation.regression or skipped_regression_gate("no champion")
    checklist = _checklist_gates(evaluation, config)
    gates = all_gates(candidate, baseline, comparative) + (checklist.gates if checklist else [])
    failed = [g.name for g in gates if g.status == "failed"]
    outcome, reason = decide_outcome(dry_run=dry_run, failed=failed, auto_promote=config.auto_promote)
    return Verdict(candidate, baseline, comparative, gates, failed, outcome, reason, checklist)


def decide_outcome(*, dry_run: bool, failed: list[str], auto_promote: bool) -> tuple[Outcome, str]:
    """The one outcome of a run that trained a challenger, and its reason in a sentence."""
    if dry_run:
        tail = "all gates passed" if not failed else f"failed gates: {', '.join(failed)}"
        return "dry_run", f"Dry run: evaluated and saved for review only ({tail}); dry runs are never promotable."
    if failed:
        return "rejected", f"Rejected: gate(s) {', '.join(failed)} failed."
    if auto_promote:
        return "promoted", "Promoted: every gate passed and auto_promote is on."
    return "awaiting_signoff", "Awaiting sign-off: every gate passed; a person must promote it."


def save_and_report(
    *,
    home: Home,
    challenger: TrainedModel,
    snapshot: DatasetSnapshot,
    config: RetrainConfig,
    evaluation: Evaluation,
    verdict: Verdict,
    champion: ChampionState,
    started_at: datetime,
    reject_threshold: float,
    data_provenance: str,
    clock: Clock,
    requested: RunRequested | None = None,
) -> RetrainResult:
    """Save the run with its evidence (promoting it when that is its outcome); the result.

    Both engines end here, so a run's files and result do not depend on where it trained.
    """
    clock.stage("saving", 0.94)
    run_id, outcome, reason, run_dir = save_run(
        home=home,
        challenger=challenger,
        snapshot=snapshot,
        config=config,
        config_yaml=config_to_yaml(config),
        reports={"challenger": evaluation.challenger, "champion": evaluation.champion,
                 "baseline": evaluation.baseline},
        bootstrap=evaluation.bootstrap,
        gates={"candidate": verdict.candidate, "baseline": verdict.baseline, "comparative": verdict.comparative,
               **({"checklist": verdict.checklist} if verdict.checklist else {})},
        outcome=verdict.outcome,
        reason=verdict.reason,
        champion=champion,
        started_at=started_at,
        reject_threshold=reject_threshold,
        data_provenance=data_provenance,
        gates_summary=gates_summary(verdict.gates),
        failed_gates=verdict.failed,
        version=__version__,
        raw_reports=evaluation.raw,
        serving=evaluation.serving,
        deployment=evaluation.deployment,
        served_rows=evaluation.served_rows,
        checklist=evaluation.checklist,
        requested=requested,
    )
    return RetrainResult(
        promoted=outcome == "promoted",
        champion_macro_f1=evaluation.champion.macro_f1 if evaluation.champion else None,
        challenger_macro_f1=evaluation.challenger.macro_f1,
        regression=evaluation.regression,
        candidate_gates=verdict.candidate,
        dataset_snapshot=snapshot,
        run_dir=str(run_dir),
        reason=reason,
        champion_source=champion.model_id,
        active_updated=outcome == "promoted",
        outcome=outcome,
        run_id=run_id,
        baseline_macro_f1=evaluation.baseline.macro_f1,
        baseline_gate=verdict.baseline,
        gates=verdict.gates,
        bootstrap=evaluation.bootstrap,
        timings=clock.done(),
    )
