"""Retraining workflow: cadence scheduling, reproducible pipeline, regression gates.

* **Cadence**: :func:`check_retrain_due` / :func:`check_calibrator_update_due` decide
  whether a global retrain or a calibrator update should run.
* **Reproducibility**: :func:`compute_dataset_hash` gives a deterministic SHA-256 of the
  training data, so each model bundle traces back to its exact dataset;
  :class:`RetrainConfig` loads from a versioned YAML file.
* **Gates**: :func:`check_candidate_gates` (challenger alone), the baseline gate, and
  :func:`check_regression_gates` (challenger vs champion on the same rows).
* **Pipeline**: :func:`run_retrain_pipeline` snapshots, projects, splits, trains,
  evaluates challenger, champion and rule baseline, gates, and saves the run with its
  evidence; exactly one outcome (``not_due``, ``dry_run``, ``rejected``,
  ``awaiting_signoff``, ``promoted``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from taskclf_core import __version__
from taskclf_core.data.hashing import dataset_hash
from taskclf_core.data.labels import LabelSpan, spans_to_frame
from taskclf_core.data.projection import labelled_rows, project_codes
from taskclf_core.data.schema import DEFAULT_REJECT_THRESHOLD, FEATURES, LABELS, SCHEMA_VERSIONS
from taskclf_core.data.split import split_by_time
from taskclf_core.errors import DataError, InsufficientDataError, TaskclfError
from taskclf_core.model.baseline import BASELINE_COLUMNS, baseline_codes
from taskclf_core.model.evaluation import (
    BootstrapInterval,
    EvaluationReport,
    apply_reject,
    evaluate_predictions,
    paired_bootstrap,
)
from taskclf_core.model.gates import (
    RegressionGate,
    RegressionResult,
    all_gates,
    check_baseline_gate,
    check_candidate_gates,
    check_regression_gates,
    failed_regression_gate,
    gates_summary,
    skipped_regression_gate,
)
from taskclf_core.model.lgbm import label_codes, predict_proba, train_lgbm
from taskclf_core.paths import Home
from taskclf_core.registry.cleanup import cleanup_stale_temp
from taskclf_core.train.cadence import (
    check_calibrator_update_due,
    check_retrain_due,
    find_latest_model,
    retrain_cadence,
)
from taskclf_core.train.config import (
    DEFAULT_MODELS_DIR,
    RetrainConfig,
    TrainParams,
    config_to_yaml,
    load_retrain_config,
)

Outcome = Literal["not_due", "dry_run", "rejected", "awaiting_signoff", "promoted"]
ProgressCallback = Callable[[str, float], None]

#: Fewer labelled windows than this stop the run before training.
MIN_LABELLED_WINDOWS = 100
BOOTSTRAP_RESAMPLES = 1000

__all__ = [
    "BootstrapInterval",
    "DatasetSnapshot",
    "RegressionGate",
    "RegressionResult",
    "RetrainConfig",
    "RetrainResult",
    "TrainParams",
    "check_calibrator_update_due",
    "check_candidate_gates",
    "check_regression_gates",
    "check_retrain_due",
    "compute_dataset_hash",
    "find_latest_model",
    "load_retrain_config",
    "run_retrain_pipeline",
]


class DatasetSnapshot(BaseModel):
    """Immutable record of the dataset used for a training run."""

    model_config = ConfigDict(frozen=True)

    dataset_hash: str
    row_count: int  # labelled windows after projection
    date_from: str
    date_to: str
    user_count: int
    class_distribution: dict[str, int]
    feature_rows: int = 0  # windows before projection
    span_count: int = 0
    schema_version: str = ""
    train_rows: int = 0
    val_rows: int = 0
    test_rows: int = 0
    holdout_users: list[str] = Field(default_factory=list)
    source: dict[str, Any] = Field(default_factory=dict)


class RetrainResult(BaseModel):
    """Output of :func:`run_retrain_pipeline`."""

    promoted: bool
    champion_macro_f1: float | None = None
    challenger_macro_f1: float
    regression: RegressionResult | None = None
    candidate_gates: RegressionResult | None = None
    dataset_snapshot: DatasetSnapshot
    run_dir: str
    reason: str
    champion_source: str | None = None
    active_updated: bool = False
    # Additions to the reference:
    outcome: Outcome
    run_id: str | None = None
    baseline_macro_f1: float | None = None
    baseline_gate: RegressionResult | None = None
    gates: list[RegressionGate] = Field(default_factory=list)
    bootstrap: BootstrapInterval | None = None
    due_at: str | None = None
    timings: dict[str, float] = Field(default_factory=dict)


def compute_dataset_hash(features_df: pd.DataFrame, labels: Sequence[LabelSpan] | pd.DataFrame) -> str:
    """Compute a deterministic SHA-256 of the training data.

    Built from a canonical binary form of the sorted column names, the values per
    (user, day) partition in primary-key order, and the label spans in (start, end,
    user, label) order; see :mod:`taskclf_core.data.hashing` for the layout.

    Args:
        features_df: Feature DataFrame (pre-projection).
        labels: Label spans used for projection (objects or a span frame).

    Returns:
        A hex-encoded SHA-256 digest (first 16 characters).
    """
    spans = labels if isinstance(labels, pd.DataFrame) else spans_to_frame(labels)
    return dataset_hash(features_df, spans)


def _schema_version(df: pd.DataFrame) -> str:
    if "schema_version" not in df.columns or len(df) == 0:
        raise DataError("the feature frame has no schema_version column; expected v1, v2 or v3 rows")
    versions = sorted({str(v) for v in pd.unique(df["schema_version"].astype("str"))})
    unknown = [v for v in versions if v not in SCHEMA_VERSIONS]
    if unknown:
        raise DataError(f"unknown schema_version {unknown[0]!r}; expected one of {', '.join(SCHEMA_VERSIONS)}")
    if len(versions) > 1:
        raise DataError(f"mixed schema versions in one training set: {', '.join(versions)}; use one version")
    return versions[0]


def _pipeline_columns(features_df: pd.DataFrame, schema_version: str) -> list[str]:
    """The columns the pipeline reads after projection (the rest are never copied)."""
    wanted = dict.fromkeys(["user_id", "bucket_start_ts", *FEATURES[schema_version], *BASELINE_COLUMNS])
    return [name for name in wanted if name in features_df.columns]


def _with_model_columns(
    eval_df: pd.DataFrame, names: Sequence[str], features_df: pd.DataFrame, rows: Callable[[], np.ndarray]
) -> pd.DataFrame:
    """``eval_df`` plus any column a (champion) model needs that projection did not copy."""
    extra = [n for n in names if n not in eval_df.columns and n in features_df.columns]
    if not extra:
        return eval_df
    return pd.concat([eval_df, features_df[extra].iloc[rows()].reset_index(drop=True)], axis=1)


def _day(ts: pd.Series, which: Literal["min", "max"]) -> str:
    value = ts.min() if which == "min" else ts.max()
    return pd.Timestamp(value).strftime("%Y-%m-%d")


class _Clock:
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


def run_retrain_pipeline(
    config: RetrainConfig,
    features_df: pd.DataFrame,
    label_spans: Sequence[LabelSpan] | pd.DataFrame,
    *,
    models_dir: Path = Path(DEFAULT_MODELS_DIR),
    out_dir: Path = Path("artifacts"),
    force: bool = False,
    dry_run: bool = False,
    holdout_user_fraction: float = 0.0,
    reject_threshold: float = DEFAULT_REJECT_THRESHOLD,
    data_provenance: Literal["real", "synthetic", "mixed"] = "real",
    data_source: dict[str, Any] | None = None,
    progress: ProgressCallback | None = None,
) -> RetrainResult:
    """Run the full retrain pipeline: train, evaluate, gate, save, maybe promote.

    Steps: cadence check (unless ``force``); snapshot and hash; projection; split;
    training; evaluation of the challenger, the champion (same rows, its own encoders)
    and the rule baseline; paired bootstrap of the macro-F1 difference; all gates; one
    outcome; the run saved with its evidence under ``out_dir/runs/<run_id>``; the
    champion moved only for ``promoted`` (``auto_promote`` on, every gate passed).

    Args:
        config: Retrain configuration.
        features_df: Feature DataFrame covering the training range.
        label_spans: Label spans for projection (objects or a span frame).
        models_dir: Folder of promoted bundles, ``active.json`` and the history.
        out_dir: Folder for runs (``out_dir/runs``).
        force: Skip the cadence check.
        dry_run: Evaluate and save for review; never promotable.
        holdout_user_fraction: Fraction of users held out for test.
        reject_threshold: Reject threshold for evaluation.
        data_provenance: Origin of the training data.
        data_source: Where the data came from (recorded in ``snapshot.json``).
        progress: Called with (stage name, fraction done).

    Returns:
        A :class:`RetrainResult`; ``promoted`` is true only when the new model is the
        champion.

    Raises:
        ConfigError, DataError, InsufficientDataError, RegistryError, BusyError: bad
            input or state, with a message saying what and how to fix it.
    """
    from taskclf_core.train import runsave  # local: keeps the import graph one-way

    clock = _Clock(progress)
    home = Home.for_dirs(models_dir, out_dir)
    models_dir, out_dir = home.models_dir, home.artifacts_dir
    if not 0 < reject_threshold < 1:
        raise DataError(f"reject_threshold must be in (0, 1); got {reject_threshold}")
    started_at = datetime.now(UTC)

    clock.stage("checking cadence", 0.0)
    cadence = retrain_cadence(models_dir, config.global_retrain_cadence_days)
    spans = label_spans if isinstance(label_spans, pd.DataFrame) else spans_to_frame(label_spans)
    if not force and not cadence.due:
        due_at = cadence.due_at.isoformat() if cadence.due_at else None
        snapshot = DatasetSnapshot(
            dataset_hash="",
            row_count=0,
            date_from=_day(features_df["bucket_start_ts"], "min") if len(features_df) else "",
            date_to=_day(features_df["bucket_start_ts"], "max") if len(features_df) else "",
            user_count=int(features_df["user_id"].nunique()) if len(features_df) else 0,
            class_distribution={},
            feature_rows=len(features_df),
            span_count=len(spans),
            source=data_source or {},
        )
        return RetrainResult(
            promoted=False, challenger_macro_f1=0.0, dataset_snapshot=snapshot, run_dir="",
            reason=f"Retrain not due: {cadence.reason}; use force to retrain anyway.",
            outcome="not_due", due_at=due_at, timings=clock.done(),
        )

    with runsave.retrain_lock(out_dir):
        cleanup_stale_temp(home)
        clock.stage("hashing", 0.03)
        schema_version = _schema_version(features_df)
        digest = compute_dataset_hash(features_df, spans)

        clock.stage("projecting", 0.08)
        codes = project_codes(features_df, spans)
        # Only the columns training, scoring, the baseline and the snapshot read.
        labelled = labelled_rows(features_df, codes, columns=_pipeline_columns(features_df, schema_version))
        if len(labelled) < MIN_LABELLED_WINDOWS:
            raise InsufficientDataError(
                f"only {len(labelled)} labelled windows after projecting {len(spans)} spans onto "
                f"{len(features_df)} windows; at least {MIN_LABELLED_WINDOWS} are needed: "
                "label more time or widen the date range"
            )

        clock.stage("splitting", 0.12)
        parts = split_by_time(labelled, holdout_user_fraction=holdout_user_fraction)
        train_df = labelled.iloc[parts["train"]]
        test_idx = parts["test"] if len(parts["test"]) else parts["val"]
        eval_df = labelled.iloc[test_idx].reset_index(drop=True)
        holdout = parts["holdout_users"]
        counts = labelled["label"].value_counts()
        snapshot = DatasetSnapshot(
            dataset_hash=digest,
            row_count=len(labelled),
            date_from=_day(labelled["bucket_start_ts"], "min"),
            date_to=_day(labelled["bucket_start_ts"], "max"),
            user_count=int(labelled["user_id"].nunique()),
            class_distribution={label: int(counts.get(label, 0)) for label in LABELS},
            feature_rows=len(features_df),
            span_count=len(spans),
            schema_version=schema_version,
            train_rows=len(parts["train"]),
            val_rows=len(parts["val"]),
            test_rows=len(eval_df),
            holdout_users=list(holdout),
            source=data_source or {},
        )
        del labelled, counts  # train_df and eval_df are copies

        clock.stage("training", 0.15)
        tp = config.train_params

        def on_iteration(done: int, total: int) -> None:
            if progress is not None and (done % 5 == 0 or done == total):
                progress("training", 0.15 + 0.6 * done / total)

        challenger = train_lgbm(
            train_df, schema_version=schema_version, num_boost_round=tp.num_boost_round,
            class_weight=tp.class_weight, seed=tp.seed, on_iteration=on_iteration,
        )
        del train_df

        clock.stage("evaluating challenger", 0.76)
        y = label_codes(eval_df["label"])
        users = eval_df["user_id"].astype("str").to_numpy()
        proba = predict_proba(challenger.booster, eval_df, challenger.feature_names, challenger.encoders)
        pred = apply_reject(proba, reject_threshold)
        challenger_report = evaluate_predictions(
            "challenger", y, pred, users, proba=proba, holdout_users=holdout, reject_threshold=reject_threshold
        )

        clock.stage("evaluating champion", 0.82)
        champion = runsave.load_champion(home)
        champion_report: EvaluationReport | None = None
        bootstrap: BootstrapInterval | None = None
        if champion.error is not None:
            regression: RegressionResult | None = failed_regression_gate(
                f"champion {champion.model_id} could not be evaluated: {champion.error}"
            )
        elif champion.model is None:
            regression = None
        else:
            try:
                champ_df = _with_model_columns(
                    eval_df, champion.model.feature_names, features_df, lambda: np.flatnonzero(codes >= 0)[test_idx]
                )
                champ_proba = predict_proba(
                    champion.model.booster, champ_df, champion.model.feature_names, champion.model.encoders
                )
            except TaskclfError as exc:
                regression = failed_regression_gate(f"champion {champion.model_id} could not be evaluated: {exc}")
            else:
                champ_pred = apply_reject(champ_proba, reject_threshold)
                champion_report = evaluate_predictions(
                    "champion", y, champ_pred, users, proba=champ_proba,
                    holdout_users=holdout, reject_threshold=reject_threshold,
                )
                regression = check_regression_gates(champion_report, challenger_report, config)
                bootstrap = paired_bootstrap(y, pred, champ_pred, resamples=BOOTSTRAP_RESAMPLES, seed=tp.seed)

        clock.stage("evaluating baseline", 0.88)
        baseline_report = evaluate_predictions(
            "baseline", y, baseline_codes(eval_df), users, holdout_users=holdout, reject_threshold=reject_threshold
        )

        clock.stage("gating", 0.9)
        candidate = check_candidate_gates(challenger_report)
        baseline_gate = check_baseline_gate(challenger_report, baseline_report, config)
        shown_regression = regression or skipped_regression_gate("no champion")
        gates = all_gates(candidate, baseline_gate, shown_regression)
        failed = [g.name for g in gates if g.status == "failed"]
        outcome, reason = decide_outcome(dry_run=dry_run, failed=failed, auto_promote=config.auto_promote)

        clock.stage("saving", 0.94)
        run_id, outcome, reason, run_dir = runsave.save_run(
            home=home,
            challenger=challenger,
            snapshot=snapshot,
            config=config,
            config_yaml=config_to_yaml(config),
            reports={"challenger": challenger_report, "champion": champion_report, "baseline": baseline_report},
            bootstrap=bootstrap,
            gates={"candidate": candidate, "baseline": baseline_gate, "comparative": shown_regression},
            outcome=outcome,
            reason=reason,
            champion=champion,
            started_at=started_at,
            reject_threshold=reject_threshold,
            data_provenance=data_provenance,
            gates_summary=gates_summary(gates),
            failed_gates=failed,
            version=__version__,
        )
        active_updated = outcome == "promoted"

    return RetrainResult(
        promoted=outcome == "promoted",
        champion_macro_f1=champion_report.macro_f1 if champion_report else None,
        challenger_macro_f1=challenger_report.macro_f1,
        regression=regression,
        candidate_gates=candidate,
        dataset_snapshot=snapshot,
        run_dir=str(run_dir),
        reason=reason,
        champion_source=champion.model_id,
        active_updated=active_updated,
        outcome=outcome,
        run_id=run_id,
        baseline_macro_f1=baseline_report.macro_f1,
        baseline_gate=baseline_gate,
        gates=gates,
        bootstrap=bootstrap,
        timings=clock.done(),
    )


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

