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

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from taskclf_core.data.hashing import dataset_hash
from taskclf_core.data.labels import LabelSpan, spans_to_frame
from taskclf_core.data.quality import DataWarning
from taskclf_core.data.quality import data_warnings as found_warnings
from taskclf_core.data.schema import DEFAULT_REJECT_THRESHOLD
from taskclf_core.model.gates import (
    GateGroup,
    RegressionGate,
    check_candidate_gates,
    check_regression_gates,
)
from taskclf_core.model.reports import BootstrapInterval
from taskclf_core.paths import Home
from taskclf_core.registry.cleanup import cleanup_stale_temp
from taskclf_core.registry.latest import find_latest_model
from taskclf_core.registry.requested import RunRequested
from taskclf_core.train.cadence import (
    check_calibrator_update_due,
    check_retrain_due,
    retrain_cadence,
)
from taskclf_core.train.champion import load_champion
from taskclf_core.train.checklist import assess_checklist
from taskclf_core.train.config import (
    DEFAULT_MODELS_DIR,
    RetrainConfig,
    TrainParams,
    load_retrain_config,
)
from taskclf_core.train.deploy import plan_deployment
from taskclf_core.train.guards import MIN_LABELLED_WINDOWS, check_reject_threshold
from taskclf_core.train.lock import retrain_lock
from taskclf_core.train.outcome import decide_outcome, judge, not_due_result, save_and_report
from taskclf_core.train.records import DatasetSnapshot, Outcome, RetrainResult
from taskclf_core.train.stages import (
    BOOTSTRAP_RESAMPLES,
    Clock,
    ProgressCallback,
    deploy_challenger,
    evaluate_all,
    not_due_snapshot,
    prepare_data,
    train_challenger,
)

#: The reference API's name of a group of gates (it holds the candidate and baseline gates
#: too, so the library calls it :class:`GateGroup`).
RegressionResult = GateGroup

__all__ = [
    "BOOTSTRAP_RESAMPLES",
    "MIN_LABELLED_WINDOWS",
    "BootstrapInterval",
    "DatasetSnapshot",
    "Outcome",
    "ProgressCallback",
    "GateGroup",
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
    "decide_outcome",
    "find_latest_model",
    "load_retrain_config",
    "run_retrain_pipeline",
]


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
    data_warnings: Sequence[DataWarning] | None = None,
    dataset_hash: str | None = None,
    requested: RunRequested | None = None,
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
        data_warnings: Values kept although they look wrong (the loader's, label files
            included), recorded in the snapshot; None: found here in ``features_df``.
        dataset_hash: The hash of the data as loaded, when the loader kept fewer columns
            than it hashed (``LoadedData.dataset_hash()``); None: computed here.
        requested: Who started the run and why (recorded in ``decision.json``).

    Returns:
        A :class:`RetrainResult`; ``promoted`` is true only when the new model is the
        champion.

    Raises:
        ConfigError, DataError, InsufficientDataError, RegistryError, BusyError: bad
            input or state, with a message saying what and how to fix it.
    """
    clock = Clock(progress)
    home = Home.for_dirs(models_dir, out_dir)
    check_reject_threshold(reject_threshold)
    started_at = datetime.now(UTC)
    spans = label_spans if isinstance(label_spans, pd.DataFrame) else spans_to_frame(label_spans)
    source = data_source or {}

    clock.stage("checking cadence", 0.0)
    cadence = retrain_cadence(home.models_dir, config.global_retrain_cadence_days)
    if not force and not cadence.due:
        return not_due_result(not_due_snapshot(features_df, spans, source), cadence, clock)

    with retrain_lock(home.artifacts_dir):
        cleanup_stale_temp(home)
        data = prepare_data(features_df, spans, holdout_user_fraction=holdout_user_fraction,
                            source=source, clock=clock,
                            warnings=found_warnings(features_df) if data_warnings is None else data_warnings,
                            known_hash=dataset_hash)
        challenger = train_challenger(data, config, clock)
        champion = load_champion(home, reject_threshold=reject_threshold)
        plan = plan_deployment(config.serving, champion.deployment, reject_threshold)
        deployment = deploy_challenger(data, challenger, plan, clock)
        evaluation = evaluate_all(data, challenger, champion, features_df, config=config,
                                  reject_threshold=reject_threshold, clock=clock, deployment=deployment)
        evaluation = replace(evaluation, checklist=assess_checklist(data, evaluation, challenger, champion, config, clock))
        verdict = judge(evaluation, config, dry_run=dry_run, clock=clock)

        return save_and_report(
            home=home, challenger=challenger, snapshot=data.snapshot, config=config, evaluation=evaluation,
            verdict=verdict, champion=champion, started_at=started_at, reject_threshold=reject_threshold,
            data_provenance=data_provenance, clock=clock, requested=requested,
        )
