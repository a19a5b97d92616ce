"""Saving a run: the challenger bundle plus its evidence, written atomically as one folder.

A run folder (``artifacts/runs/<run_id>/``) holds the challenger bundle plus
``evaluation.json`` (challenger, champion and baseline reports, bootstrap interval),
``gates.json``, ``snapshot.json``, ``config.yaml`` and ``decision.json`` (outcome, reason,
champion compared against, times, manifest of every file). For ``promoted`` the pointer
moves under the same registry lock.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast, get_args

import pandas as pd
from pydantic import BaseModel

from taskclf_core.data.schema import LABELS, SCHEMA_HASHES
from taskclf_core.fs.atomic import dumps_json
from taskclf_core.fs.faultpoints import faultpoint
from taskclf_core.model.gates import GateGroup
from taskclf_core.model.lgbm import TrainedModel
from taskclf_core.model.reports import BootstrapInterval, EvaluationReport
from taskclf_core.paths import Home
from taskclf_core.registry import bundle as bundle_mod
from taskclf_core.registry.pointer import registry_lock
from taskclf_core.registry.promotion import promote_auto
from taskclf_core.registry.requested import RunRequested
from taskclf_core.registry.runids import new_run_id
from taskclf_core.registry.runs import Outcome, write_run
from taskclf_core.train.champion import ChampionState, current_champion_id
from taskclf_core.train.config import RetrainConfig, thresholds_version
from taskclf_core.train.deploy import ChallengerDeployment, ServingEvidence
from taskclf_core.train.records import DatasetSnapshot


def _dump(model: BaseModel | None) -> Any:
    return None if model is None else model.model_dump(mode="json")


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """The frame as Parquet bytes (same frame and library versions, same bytes)."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False, compression="zstd")
    return buffer.getvalue()


def save_run(
    *,
    challenger: TrainedModel,
    snapshot: DatasetSnapshot,
    config: RetrainConfig,
    config_yaml: str,
    reports: dict[str, EvaluationReport | None],
    bootstrap: BootstrapInterval | None,
    gates: dict[str, GateGroup],
    outcome: str,
    reason: str,
    champion: ChampionState,
    started_at: datetime,
    reject_threshold: float,
    data_provenance: str,
    gates_summary: str,
    failed_gates: list[str],
    version: str,
    home: Home,
    raw_reports: dict[str, EvaluationReport | None] | None = None,
    serving: ServingEvidence | None = None,
    deployment: ChallengerDeployment | None = None,
    served_rows: pd.DataFrame | None = None,
    checklist: BaseModel | None = None,
    requested: RunRequested | None = None,
) -> tuple[str, Outcome, str, Path]:
    """Write the run folder atomically (and, for ``promoted``, make it the champion).

    Returns:
        The run id, the final outcome and reason (``promoted`` turns into ``rejected``
        if the champion changed while the run was evaluated), and the run folder.

    Raises:
        ValueError: ``outcome`` is not the outcome of a run that trained a challenger.
        StorageError: The disk refused to write the run (e.g. a full disk).
        RegistryError: The run could not be promoted.
    """
    if outcome not in get_args(Outcome):
        raise ValueError(f"a saved run's outcome is one of {get_args(Outcome)}; got {outcome!r}")
    final = cast(Outcome, outcome)  # checked just above

    challenger_report = reports["challenger"]
    assert challenger_report is not None
    # The bundle records the threshold it will be served with (its policy's, when it has one).
    served_threshold = deployment.reject_threshold if deployment is not None and deployment.policy else reject_threshold
    metadata = bundle_mod.BundleMetadata(
        schema_version=challenger.schema_version,
        schema_hash=SCHEMA_HASHES[challenger.schema_version],
        label_set=list(LABELS),
        train_date_from=snapshot.date_from,
        train_date_to=snapshot.date_to,
        params={**challenger.params, "reject_threshold": served_threshold},
        git_commit=bundle_mod.git_commit(),
        dataset_hash=snapshot.dataset_hash,
        reject_threshold=served_threshold,
        data_provenance=data_provenance,  # type: ignore[arg-type]
        created_at=datetime.now(UTC).isoformat(),
        library_versions=bundle_mod.library_versions(),
        feature_names=challenger.feature_names,
        unknown_category_freq_threshold=challenger.params.get("unknown_category_freq_threshold"),
        unknown_category_mask_rate=challenger.params.get("unknown_category_mask_rate"),
    )
    metrics = bundle_mod.BundleMetrics(
        macro_f1=challenger_report.macro_f1,
        weighted_f1=challenger_report.weighted_f1,
        confusion_matrix=challenger_report.confusion_matrix,
        label_names=list(LABELS),
    )
    files = bundle_mod.bundle_file_bytes(
        model_text=challenger.model_text(), encoders=challenger.encoders, metadata=metadata, metrics=metrics
    )
    evaluation = {name: _dump(report) for name, report in reports.items()}
    evaluation["bootstrap"] = _dump(bootstrap)
    if raw_reports:
        evaluation["raw"] = {name: _dump(report) for name, report in raw_reports.items()}
    if serving is not None:
        evaluation["serving"] = _dump(serving)
    if checklist is not None:
        evaluation["checklist"] = _dump(checklist)
    if deployment is not None:
        files["deployment.json"] = dumps_json(_dump(deployment)).encode()
    if served_rows is not None:
        files["served_rows.parquet"] = parquet_bytes(served_rows)
    files["evaluation.json"] = dumps_json(evaluation).encode()
    files["gates.json"] = dumps_json({k: _dump(v) for k, v in gates.items()}).encode()
    files["snapshot.json"] = dumps_json(_dump(snapshot)).encode()
    files["config.yaml"] = config_yaml.encode()
    compared = (
        {"run_id": champion.model_id, "model_sha256": champion.model_sha256}
        if champion.model_id is not None and champion.error is None
        else None
    )
    decision = {
        "outcome": outcome,
        "reason": reason,
        "champion_compared": compared,
        "champion_error": champion.error,
        # The deployment the champion was read from: a promotion needs the same policy file.
        "deployment_compared": {"policy_sha256": champion.policy_sha256},
        "started_at": started_at.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "auto_promote": config.auto_promote,
        "dataset_hash": snapshot.dataset_hash,
        "macro_f1": challenger_report.macro_f1,
        "gates_summary": gates_summary,
        "failed_gates": failed_gates,
        "taskclf_core_version": version,
        "thresholds_version": thresholds_version(config),
    }
    if requested is not None:
        decision["requested"] = requested.model_dump(mode="json")
    run_id = new_run_id()
    if final != "promoted":
        return run_id, final, reason, write_run(home.runs_dir, run_id, files=files, decision=decision)
    # Automatic promotion: check the champion, write the run and move the pointer under one
    # registry lock, so no other change slips in between. A crash (or a full disk) between
    # the two leaves a run saved as promoted that never took effect: listings flag it
    # (``runs.auto_promotion_interrupted``) and the next retrain promotes its own run.
    with registry_lock(home):
        faultpoint("runsave.locked")
        current = current_champion_id(home)
        if current != champion.model_id:
            final = "rejected"
            reason = (
                f"Rejected: the champion changed while this run was evaluated (was "
                f"{champion.model_id or 'none'}, now {current or 'none'}); re-run the retrain."
            )
            decision.update(outcome=final, reason=reason, failed_gates=["champion_unchanged"])
        path = write_run(home.runs_dir, run_id, files=files, decision=decision)
        faultpoint("runsave.written")
        if final == "promoted":
            promote_auto(home, run_id)
    return run_id, final, reason, path
