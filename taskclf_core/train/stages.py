"""The stages of a retrain run, each a function of the previous stage's result.

prepare (schema, hash, projection, split, snapshot) → train the challenger → evaluate
challenger, champion (same rows, its own encoders) and rule baseline → judge (gates and
the one outcome, :mod:`taskclf_core.train.outcome`). The sequence is
:func:`taskclf_core.train.retrain.run_retrain_pipeline`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from taskclf_core.data.hashing import dataset_hash
from taskclf_core.data.projection import labelled_rows, project_codes
from taskclf_core.data.quality import DataWarning
from taskclf_core.data.schema import FEATURES, LABELS
from taskclf_core.data.split import split_by_time
from taskclf_core.errors import DataError, TaskclfError
from taskclf_core.model.baseline import BASELINE_COLUMNS, baseline_codes
from taskclf_core.model.checklist import ChecklistEvidence
from taskclf_core.model.evaluation import apply_reject, evaluate_predictions, paired_bootstrap
from taskclf_core.model.gates import (
    GateGroup,
    check_regression_gates,
    failed_regression_gate,
)
from taskclf_core.model.lgbm import TrainedModel, label_codes, train_lgbm
from taskclf_core.model.reports import BootstrapInterval, EvaluationReport
from taskclf_core.model.served import ServedOutputs, ServingRule, serve
from taskclf_core.model.serving import predict_proba
from taskclf_core.train.champion import ChampionState
from taskclf_core.train.config import RetrainConfig
from taskclf_core.train.deploy import (
    ChallengerDeployment,
    DeploymentPlan,
    ServingEvidence,
    build_deployment,
    challenger_summary,
    champion_summary,
)
from taskclf_core.train.guards import (
    check_labelled_windows,
    one_schema_version,
)
from taskclf_core.train.records import DatasetSnapshot

ProgressCallback = Callable[[str, float], None]

BOOTSTRAP_RESAMPLES = 1000


class Clock:
    """Stage timings and progress reporting."""

    def __init__(self, progress: ProgressCallback | None) -> None:
        self.progress = progress
        self.timings: dict[str, float] = {}
        self._stage: str | None = None
        self._t0 = time.perf_counter()

    def stage(self, name: str, fraction: float) -> None:
        now = time.perf_counter()
        if self._stage is not None:
            self.timings[self._stage] = self.timings.get(self._stage, 0.0) + now - self._t0
        self._stage, self._t0 = name, now
        if self.progress is not None:
            self.progress(name, fraction)

    def done(self) -> dict[str, float]:
        self.stage("done", 1.0)
        return {k: round(v, 4) for k, v in self.timings.items() if k != "done"}


def day_of(ts: pd.Series, which: Literal["min", "max"]) -> str:
    """First or last UTC day of a timestamp column, ``YYYY-MM-DD``."""
    value = ts.min() if which == "min" else ts.max()
    return pd.Timestamp(value).strftime("%Y-%m-%d")


def schema_version_of(df: pd.DataFrame) -> str:
    """The one schema version of the rows.

    Raises:
        DataError: no ``schema_version`` column, an unknown version, or several.
    """
    if "schema_version" not in df.columns or len(df) == 0:
        raise DataError("the feature frame has no schema_version column; expected v1, v2 or v3 rows")
    return one_schema_version({str(v) for v in pd.unique(df["schema_version"].astype("str"))})


def not_due_snapshot(features_df: pd.DataFrame, spans: pd.DataFrame, source: dict[str, Any]) -> DatasetSnapshot:
    """The snapshot of a run that trained nothing (cadence not due)."""
    has_rows = len(features_df) > 0
    return DatasetSnapshot(
        dataset_hash="",
        row_count=0,
        date_from=day_of(features_df["bucket_start_ts"], "min") if has_rows else "",
        date_to=day_of(features_df["bucket_start_ts"], "max") if has_rows else "",
        user_count=int(features_df["user_id"].nunique()) if has_rows else 0,
        class_distribution={},
        feature_rows=len(features_df),
        span_count=len(spans),
        source=source,
    )


@dataclass
class PreparedData:
    """Which rows train and evaluate, the evaluation rows themselves, and the snapshot.

    Training rows are positions in the feature frame: the training matrix is filled
    straight from its columns, so no copy of a wide frame's rows is ever made.
    """

    schema_version: str
    snapshot: DatasetSnapshot
    features: pd.DataFrame
    train_positions: np.ndarray
    train_labels: np.ndarray
    eval_df: pd.DataFrame
    holdout_users: list[str]
    #: Positions in the feature frame of the evaluation rows (for a champion's extra columns).
    eval_positions: np.ndarray
    #: Positions of the validation rows (calibrators and thresholds are fitted there) and their codes.
    val_positions: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    val_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def _pipeline_columns(features_df: pd.DataFrame, schema_version: str) -> list[str]:
    """The columns the pipeline reads after projection (the rest are never copied)."""
    wanted = dict.fromkeys(["user_id", "bucket_start_ts", *FEATURES[schema_version], *BASELINE_COLUMNS])
    return [name for name in wanted if name in features_df.columns]


def prepare_data(
    features_df: pd.DataFrame,
    spans: pd.DataFrame,
    *,
    holdout_user_fraction: float,
    source: dict[str, Any],
    warnings: Sequence[DataWarning],
    clock: Clock,
    known_hash: str | None = None,
) -> PreparedData:
    """Hash, project and split the data; the snapshot records what the run trained on.

    Raises:
        DataError: the rows are not of one known schema version.
        InsufficientDataError: fewer than :data:`MIN_LABELLED_WINDOWS` labelled windows.
    """
    clock.stage("hashing", 0.03)
    schema_version = schema_version_of(features_df)
    # A loader that dropped unread columns hashed the whole files already.
    digest = known_hash or dataset_hash(features_df, spans)

    clock.stage("projecting", 0.08)
    codes = project_codes(features_df, spans)
    labelled = np.flatnonzero(codes >= 0)
    check_labelled_windows(len(labelled), spans=len(spans), windows=len(features_df))

    clock.stage("splitting", 0.12)
    # The split reads two columns of the labelled rows; nothing else is copied for it.
    keys = labelled_rows(features_df, codes, columns=["user_id", "bucket_start_ts"])
    parts = split_by_time(keys, holdout_user_fraction=holdout_user_fraction)
    test_idx = parts["test"] if len(parts["test"]) else parts["val"]
    eval_positions = labelled[test_idx]
    eval_df = features_df[_pipeline_columns(features_df, schema_version)].iloc[eval_positions]
    eval_df = eval_df.reset_index(drop=True)
    eval_df["label"] = pd.array(np.asarray(LABELS, dtype=object)[codes[eval_positions]], dtype="str")
    counts = np.bincount(codes[labelled].astype(np.int64), minlength=len(LABELS))
    snapshot = DatasetSnapshot(
        dataset_hash=digest,
        row_count=len(labelled),
        date_from=day_of(keys["bucket_start_ts"], "min"),
        date_to=day_of(keys["bucket_start_ts"], "max"),
        user_count=int(keys["user_id"].nunique()),
        class_distribution={label: int(counts[i]) for i, label in enumerate(LABELS)},
        feature_rows=len(features_df),
        span_count=len(spans),
        schema_version=schema_version,
        train_rows=len(parts["train"]),
        val_rows=len(parts["val"]),
        test_rows=len(eval_df),
        holdout_users=list(parts["holdout_users"]),
        source=source,
        data_warnings=list(warnings),
    )
    train_positions = labelled[parts["train"]]
    val_positions = labelled[parts["val"]]
    return PreparedData(
        schema_version=schema_version,
        snapshot=snapshot,
        features=features_df,
        train_positions=train_positions,
        train_labels=codes[train_positions].astype(np.int64),
        eval_df=eval_df,
        holdout_users=list(parts["holdout_users"]),
        eval_positions=eval_positions,
        val_positions=val_positions,
        val_labels=codes[val_positions].astype(np.int64),
    )


def train_challenger(data: PreparedData, config: RetrainConfig, clock: Clock) -> TrainedModel:
    """Train the challenger on the training rows, straight from the feature frame's columns."""
    clock.stage("training", 0.15)
    tp = config.train_params
    progress = clock.progress

    def on_iteration(done: int, total: int) -> None:
        if progress is not None and (done % 5 == 0 or done == total):
            progress("training", 0.15 + 0.6 * done / total)

    return train_lgbm(
        data.features, schema_version=data.schema_version, num_boost_round=tp.num_boost_round,
        class_weight=tp.class_weight, seed=tp.seed, on_iteration=on_iteration,
        rows=data.train_positions, labels=data.train_labels,
    )


def deploy_challenger(data: PreparedData, challenger: TrainedModel, plan: DeploymentPlan,
                      clock: Clock) -> ChallengerDeployment:
    """Build the challenger's deployment (calibrators, thresholds) on the validation rows."""
    clock.stage("fitting the deployment", 0.755)
    if not plan.policy:
        return build_deployment(plan, data.val_labels[:0], np.zeros((0, len(LABELS))), np.zeros(0), np.zeros(0))
    rows = data.features[_pipeline_columns(data.features, data.schema_version)].iloc[data.val_positions]
    raw = predict_proba(challenger.booster, rows, challenger.feature_names, challenger.encoders)
    stamps = pd.to_datetime(rows["bucket_start_ts"], utc=True)
    days = stamps.dt.strftime("%Y-%m-%d").to_numpy()
    return build_deployment(plan, data.val_labels, raw, rows["user_id"].astype("str").to_numpy(), days)


@dataclass(frozen=True)
class Evaluation:
    """Challenger, champion and baseline on the same evaluation rows.

    ``challenger`` and ``champion`` are the reports the gates judge: as served (the
    champion with its policy now, the challenger with its planned deployment) whenever a
    policy is in use, else the raw outputs; ``raw`` then holds the raw reports beside them.
    """

    challenger: EvaluationReport
    champion: EvaluationReport | None
    baseline: EvaluationReport
    bootstrap: BootstrapInterval | None
    #: The comparative gate: ``None`` with no champion; failed when it could not be scored.
    regression: GateGroup | None
    raw: dict[str, EvaluationReport | None] = field(default_factory=dict)
    serving: ServingEvidence | None = None
    deployment: ChallengerDeployment | None = None
    #: Per evaluation row: the label and both models' served label, confidence and threshold.
    served_rows: pd.DataFrame | None = None
    #: The largest |row sum - 1| of the challenger's served probabilities (a safety rule).
    proba_sum_error: float = 0.0
    #: taskclf's promotion checklist on these rows (``train.checklist``; None: not assessed).
    checklist: ChecklistEvidence | None = None


def _champion_frame(eval_df: pd.DataFrame, names: Sequence[str], features_df: pd.DataFrame,
                    positions: np.ndarray) -> pd.DataFrame:
    """``eval_df`` plus any column the champion needs that projection did not copy."""
    extra = [n for n in names if n not in eval_df.columns and n in features_df.columns]
    if not extra:
        return eval_df
    return pd.concat([eval_df, features_df[extra].iloc[positions].reset_index(drop=True)], axis=1)


def _served_rows(eval_df: pd.DataFrame, y: np.ndarray, challenger: ServedOutputs,
                 champion: ServedOutputs | None) -> pd.DataFrame:
    """The per-row evidence of what each model serves (``served_rows.parquet``)."""
    frame = pd.DataFrame({
        "user_id": eval_df["user_id"].astype("str").to_numpy(),
        "bucket_start_ts": eval_df["bucket_start_ts"].to_numpy(),
        "label": y.astype(np.int8),
        "challenger_pred": challenger.pred.astype(np.int8),
        "challenger_confidence": challenger.proba.max(axis=1) if len(y) else np.zeros(0),
        "challenger_threshold": challenger.thresholds,
    })
    if champion is not None:
        frame["champion_pred"] = champion.pred.astype(np.int8)
        frame["champion_confidence"] = champion.proba.max(axis=1) if len(y) else np.zeros(0)
        frame["champion_threshold"] = champion.thresholds
    return frame


def evaluate_all(
    data: PreparedData,
    challenger: TrainedModel,
    champion: ChampionState,
    features_df: pd.DataFrame,
    *,
    config: RetrainConfig,
    reject_threshold: float,
    clock: Clock,
    deployment: ChallengerDeployment | None = None,
) -> Evaluation:
    """Score challenger, champion and the rule baseline exactly as taskclf serves them.

    Each model's raw probabilities go through its deployment: the champion's policy as it is
    now, the challenger's as it would be promoted (``deployment``; without one, the raw model
    at ``reject_threshold``). Where either side has a policy the gates judge served outputs.
    """
    clock.stage("evaluating challenger", 0.76)
    eval_df, holdout, thresholds = data.eval_df, data.holdout_users, config.gates
    y = label_codes(eval_df["label"])
    users = eval_df["user_id"].astype("str").to_numpy()
    deployment = deployment or build_deployment(DeploymentPlan(False, threshold=reject_threshold),
                                                y[:0], np.zeros((0, len(LABELS))), users[:0], users[:0])
    champion_policy = champion.deployment is not None and champion.deployment.uses_policy
    judged = "served" if deployment.policy or champion_policy else "raw"

    def report(name: str, pred: np.ndarray, proba: np.ndarray | None, threshold: float) -> EvaluationReport:
        return evaluate_predictions(name, y, pred, users, proba=proba, holdout_users=holdout,
                                    reject_threshold=threshold, thresholds=thresholds)

    raw_proba = predict_proba(challenger.booster, eval_df, challenger.feature_names, challenger.encoders)
    raw_pred = apply_reject(raw_proba, reject_threshold)
    raw_reports: dict[str, EvaluationReport | None] = {
        "challenger": report("challenger", raw_pred, raw_proba, reject_threshold), "champion": None}
    chal_served = serve(raw_proba, users, deployment.rule() if deployment.policy else ServingRule(reject_threshold=reject_threshold))
    challenger_report = (report("challenger", chal_served.pred, chal_served.proba, deployment.reject_threshold)
                         if judged == "served" else raw_reports["challenger"])
    assert challenger_report is not None

    clock.stage("evaluating champion", 0.82)
    champion_report: EvaluationReport | None = None
    bootstrap: BootstrapInterval | None = None
    regression: GateGroup | None = None
    champ_served: ServedOutputs | None = None
    if champion.error is not None:
        regression = failed_regression_gate(f"champion {champion.model_id} could not be evaluated: {champion.error}")
    elif champion.model is not None:
        model = champion.model
        try:
            frame = _champion_frame(eval_df, model.feature_names, features_df, data.eval_positions)
            champ_proba = predict_proba(model.booster, frame, model.feature_names, model.encoders)
        except TaskclfError as exc:
            regression = failed_regression_gate(f"champion {champion.model_id} could not be evaluated: {exc}")
        else:
            raw_reports["champion"] = report("champion", apply_reject(champ_proba, reject_threshold), champ_proba,
                                             reject_threshold)
            champ_served = serve(champ_proba, users, champion.rule if champion_policy
                                 else ServingRule(reject_threshold=reject_threshold))
            champion_report = (report("champion", champ_served.pred, champ_served.proba,
                                      champion.rule.reject_threshold)
                               if judged == "served" else raw_reports["champion"])
            assert champion_report is not None
            regression = check_regression_gates(champion_report, challenger_report, config)
            bootstrap = paired_bootstrap(y, chal_served.pred if judged == "served" else raw_pred,
                                         champ_served.pred if judged == "served" else apply_reject(champ_proba, reject_threshold),
                                         resamples=BOOTSTRAP_RESAMPLES, seed=config.train_params.seed)

    clock.stage("evaluating baseline", 0.88)
    baseline_report = report("baseline", baseline_codes(eval_df), None, reject_threshold)
    serving = ServingEvidence(
        judged=judged,  # type: ignore[arg-type]
        champion=champion_summary(champion.model_id if champion.error is None else None, champion.deployment,
                                  champion.rule if champion_policy else ServingRule(reject_threshold=reject_threshold)),
        challenger=challenger_summary(deployment),
        policy_sha256=champion.policy_sha256,
    )
    return Evaluation(challenger_report, champion_report, baseline_report, bootstrap, regression,
                      raw=raw_reports if judged == "served" else {}, serving=serving, deployment=deployment,
                      served_rows=_served_rows(eval_df, y, chal_served, champ_served),
                      proba_sum_error=float(np.max(np.abs(chal_served.proba.sum(axis=1) - 1.0))) if len(y) else 0.0)
