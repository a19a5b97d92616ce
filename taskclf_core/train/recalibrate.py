"""A calibrator refit of the champion: its own run, gated and signed off like a model.

The second cadence of the reference page (``check_calibrator_update_due``) says when the
champion's calibrator store is due; this acts on it. On recent labelled data, with the
same split as a retrain, the champion's calibrators are fitted as taskclf's ``train
calibrate`` on the validation rows (and its threshold tuned where the deployment tunes
it), then the champion is evaluated on the test rows three ways: raw, as served now
(before) and with the refit (after). Gates (``model.calgates``): served macro-F1 no worse
than ``regression_tolerance``, ECE not worse, Brier at least 5 % better than raw. The run
(``kind: calibration``) is saved like a retrain's and signed off through the same
promotion path, two-person rule and history; applying it writes a new store and policy
for the same model.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import pandas as pd

from taskclf_core import __version__
from taskclf_core.data.quality import DataWarning
from taskclf_core.data.quality import data_warnings as found_warnings
from taskclf_core.data.schema import DEFAULT_REJECT_THRESHOLD
from taskclf_core.errors import ConfigError, RegistryError
from taskclf_core.fs.atomic import dumps_json
from taskclf_core.fs.faultpoints import faultpoint
from taskclf_core.model.calgates import check_calibration_gates
from taskclf_core.model.calibration import EligibilityRule
from taskclf_core.model.gates import gates_summary
from taskclf_core.paths import Home
from taskclf_core.registry.cleanup import cleanup_stale_temp
from taskclf_core.registry.deployrecord import TUNED_SOURCES
from taskclf_core.registry.pointer import registry_lock
from taskclf_core.registry.promotion import promote_auto
from taskclf_core.registry.requested import RunRequested
from taskclf_core.registry.runids import new_run_id
from taskclf_core.registry.runs import write_run
from taskclf_core.train.cadence import CadenceStatus, served_store_cadence
from taskclf_core.train.champion import ChampionState, load_champion
from taskclf_core.train.config import RetrainConfig, config_to_yaml, thresholds_version
from taskclf_core.train.deploy import DeploymentPlan, ServingConfig
from taskclf_core.train.lock import retrain_lock
from taskclf_core.train.outcome import decide_outcome
from taskclf_core.train.records import RetrainResult
from taskclf_core.train.runsave import parquet_bytes
from taskclf_core.train.stages import (
    Clock,
    Evaluation,
    ProgressCallback,
    deploy_challenger,
    evaluate_all,
    not_due_snapshot,
    prepare_data,
)


def plan_refit(serving: ServingConfig | None, champion: ChampionState) -> DeploymentPlan:
    """What the refit fits: the ``serving:`` section, else like the deployment now.

    Raises:
        ConfigError: ``serving.calibration`` is ``none`` (nothing to refit).
    """
    if serving is not None:
        if serving.calibration == "none":
            raise ConfigError(
                "serving.calibration is none in configs/retrain.yaml: there is no calibrator to refit; "
                "set it to temperature or isotonic"
            )
        e = serving.eligibility
        return DeploymentPlan(True, serving.calibration, serving.reject_threshold, serving.per_user_thresholds,
                              EligibilityRule(e.min_windows, e.min_days, e.min_labels), "config")
    deployment = champion.deployment
    policy = deployment.policy_file.policy if deployment is not None and deployment.uses_policy else None
    store = deployment.served.store if deployment is not None and deployment.uses_policy else None
    method: Literal["temperature", "isotonic"] = "isotonic" if store is not None and store.method == "isotonic" else "temperature"
    threshold: Literal["tune"] | float = "tune"
    if policy is not None and policy.source not in TUNED_SOURCES:
        threshold = float(policy.reject_threshold)
    per_user = bool(policy.per_user_reject_thresholds) if policy is not None else False
    return DeploymentPlan(True, method, threshold, per_user, EligibilityRule(), "follows the current deployment")


def refit_cadence(home: Home, champion: ChampionState, cadence_days: int) -> CadenceStatus | None:
    """The calibrator cadence of the deployment's store (None: the deployment has no store)."""
    return served_store_cadence(home, champion.deployment, cadence_days)


def _save(home: Home, *, config: RetrainConfig, champion: ChampionState, evaluation: Evaluation,
          gates: Any, outcome: str, reason: str, failed: list[str], snapshot: Any, started_at: datetime,
          requested: RunRequested | None = None) -> tuple[str, str, str]:
    assert evaluation.deployment is not None and champion.model_id is not None
    files: dict[str, bytes] = {
        "evaluation.json": dumps_json({
            "challenger": evaluation.challenger.model_dump(mode="json"),
            "champion": evaluation.champion.model_dump(mode="json") if evaluation.champion else None,
            "baseline": evaluation.baseline.model_dump(mode="json"),
            "bootstrap": evaluation.bootstrap.model_dump(mode="json") if evaluation.bootstrap else None,
            "raw": {k: v.model_dump(mode="json") if v else None for k, v in evaluation.raw.items()},
            "serving": evaluation.serving.model_dump(mode="json") if evaluation.serving else None,
        }).encode(),
        "gates.json": dumps_json({"calibration": gates.model_dump(mode="json")}).encode(),
        "snapshot.json": dumps_json(snapshot.model_dump(mode="json")).encode(),
        "config.yaml": config_to_yaml(config).encode(),
        "deployment.json": dumps_json(evaluation.deployment.model_dump(mode="json")).encode(),
    }
    if evaluation.served_rows is not None:
        files["served_rows.parquet"] = parquet_bytes(evaluation.served_rows)
    decision = {
        "outcome": outcome, "reason": reason, "kind": "calibration", "calibrated_model": champion.model_id,
        "champion_compared": {"run_id": champion.model_id, "model_sha256": champion.model_sha256},
        "champion_error": None, "deployment_compared": {"policy_sha256": champion.policy_sha256},
        "started_at": started_at.isoformat(), "finished_at": datetime.now(UTC).isoformat(),
        "auto_promote": config.auto_promote, "dataset_hash": snapshot.dataset_hash,
        "macro_f1": evaluation.challenger.macro_f1, "gates_summary": gates_summary(gates.gates),
        "failed_gates": failed, "taskclf_core_version": __version__, "thresholds_version": thresholds_version(config),
    }
    if requested is not None:
        decision["requested"] = requested.model_dump(mode="json")
    run_id = new_run_id()
    if outcome != "promoted":
        return run_id, outcome, str(write_run(home.runs_dir, run_id, files=files, decision=decision))
    with registry_lock(home):
        path = write_run(home.runs_dir, run_id, files=files, decision=decision)
        faultpoint("refit.written")
        promote_auto(home, run_id)
    return run_id, outcome, str(path)


def run_calibration_pipeline(
    config: RetrainConfig,
    features_df: pd.DataFrame,
    label_spans: pd.DataFrame,
    *,
    home: Home,
    force: bool = False,
    dry_run: bool = False,
    reject_threshold: float = DEFAULT_REJECT_THRESHOLD,
    holdout_user_fraction: float = 0.0,
    data_source: dict[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    data_warnings: Sequence[DataWarning] | None = None,
    dataset_hash: str | None = None,
    requested: RunRequested | None = None,
) -> RetrainResult:
    """Refit the champion's calibrator on recent labelled data, judge it, save it for sign-off.

    Raises:
        RegistryError: there is no champion, or it cannot be loaded.
        ConfigError: the config asks for no calibration.
        DataError, InsufficientDataError: as for a retrain.
    """
    clock = Clock(progress)
    started_at = datetime.now(UTC)
    source = data_source or {}
    clock.stage("checking cadence", 0.0)
    champion = load_champion(home, reject_threshold=reject_threshold)
    if champion.model_id is None:
        raise RegistryError("there is no champion whose calibrator could be refitted: promote a model first")
    if champion.error is not None or champion.model is None:
        raise RegistryError(f"the champion {champion.model_id} cannot be loaded ({champion.error}); fix the deployment first")
    plan = plan_refit(config.serving, champion)
    cadence = refit_cadence(home, champion, config.calibrator_update_cadence_days)
    if not force and cadence is not None and not cadence.due:
        return RetrainResult(
            promoted=False, challenger_macro_f1=0.0, run_dir="", outcome="not_due",
            dataset_snapshot=not_due_snapshot(features_df, label_spans, source),
            reason=f"Calibrator refit not due: {cadence.reason}; use force to refit anyway.",
            due_at=cadence.due_at.isoformat() if cadence.due_at else None, timings=clock.done(),
        )
    with retrain_lock(home.artifacts_dir):
        cleanup_stale_temp(home)
        data = prepare_data(features_df, label_spans, holdout_user_fraction=holdout_user_fraction,
                            source={**source, "purpose": f"calibrator refit of {champion.model_id}"}, clock=clock,
                            warnings=found_warnings(features_df) if data_warnings is None else data_warnings,
                            known_hash=dataset_hash)
        deployment = deploy_challenger(data, champion.model, plan, clock)
        evaluation = evaluate_all(data, champion.model, champion, features_df, config=config,
                                  reject_threshold=reject_threshold, clock=clock, deployment=deployment)
        clock.stage("gating", 0.9)
        raw = evaluation.raw.get("champion")
        assert evaluation.champion is not None and raw is not None
        gates = check_calibration_gates(evaluation.champion, evaluation.challenger, raw,
                                        tolerance=config.regression_tolerance)
        failed = [g.name for g in gates.gates if g.status == "failed"]
        outcome, reason = decide_outcome(dry_run=dry_run, failed=failed, auto_promote=config.auto_promote)
        reason = reason.replace("a person must promote it", "a person must sign the refit off")
        clock.stage("saving", 0.94)
        run_id, saved, run_dir = _save(home, config=config, champion=champion, evaluation=evaluation, gates=gates,
                                         outcome=outcome, reason=reason, failed=failed, snapshot=data.snapshot,
                                         started_at=started_at, requested=requested)
    return RetrainResult(
        promoted=saved == "promoted", champion_macro_f1=evaluation.champion.macro_f1,
        challenger_macro_f1=evaluation.challenger.macro_f1, dataset_snapshot=data.snapshot, run_dir=run_dir,
        reason=reason, champion_source=champion.model_id, active_updated=saved == "promoted",
        outcome=outcome,
        run_id=run_id, gates=gates.gates, bootstrap=evaluation.bootstrap, timings=clock.done(),
    )


__all__ = ["plan_refit", "refit_cadence", "run_calibration_pipeline"]
