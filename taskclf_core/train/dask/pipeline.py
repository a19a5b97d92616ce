"""The retrain on a Dask cluster: same evidence, same gates, same run files as the local engine.

Stages (the local engine's names): read, validate, hash and project every day file on the
workers (:mod:`~taskclf_core.train.dask.data`); split per user in time order from
row counts; fit ``lightgbm.dask.DaskLGBMClassifier`` on the serving matrix
(:mod:`~taskclf_core.train.dask.fit`); score challenger, champion and rule baseline
on the workers, bringing back counts (:mod:`~taskclf_core.train.dask.score`). From
the verdict on, it is the local engine's code: :func:`~taskclf_core.train.outcome.judge`,
:func:`~taskclf_core.train.runsave.save_run` and the promotion it does.

A cluster failure (scheduler unreachable, a worker lost, a worker that cannot see the
data) raises before anything is saved: no run folder, the registry untouched.
"""

from __future__ import annotations

import asyncio
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from taskclf_core.data.hashing import combine_digests, span_digest
from taskclf_core.data.quality import combine_warnings
from taskclf_core.data.schema import DEFAULT_REJECT_THRESHOLD, FEATURES, LABELS
from taskclf_core.errors import DataError
from taskclf_core.model.baseline import BASELINE_COLUMNS
from taskclf_core.model.encoding import vocabulary
from taskclf_core.model.gates import check_regression_gates, failed_regression_gate
from taskclf_core.model.lgbm import TrainedModel, class_weight_table, recorded_params
from taskclf_core.model.serving import categorical_columns, feature_columns
from taskclf_core.paths import Home
from taskclf_core.registry.cleanup import cleanup_stale_temp
from taskclf_core.registry.requested import RunRequested
from taskclf_core.train.cadence import retrain_cadence
from taskclf_core.train.champion import ChampionState, load_champion
from taskclf_core.train.config import DEFAULT_MODELS_DIR, RetrainConfig
from taskclf_core.train.dask import data as ddata
from taskclf_core.train.dask import fit as dfit
from taskclf_core.train.dask import score as dscore
from taskclf_core.train.dask.cluster import connect, quiet_distributed
from taskclf_core.train.dask.config import ComputeConfig
from taskclf_core.train.dask.plan import DataPlan, plan_data
from taskclf_core.train.guards import (
    check_labelled_windows,
    check_reject_threshold,
    one_schema_version,
)
from taskclf_core.train.lock import retrain_lock
from taskclf_core.train.outcome import judge, not_due_result, save_and_report
from taskclf_core.train.records import DatasetSnapshot, RetrainResult
from taskclf_core.train.stages import (
    BOOTSTRAP_RESAMPLES,
    Clock,
    Evaluation,
    ProgressCallback,
)


@dataclass
class _Prepared:
    snapshot: DatasetSnapshot
    data: Any  # dask DataFrame of labelled rows with the split code
    eval_part: int


def _day(us: int | None) -> str:
    return "" if us is None else pd.Timestamp(us, unit="us").strftime("%Y-%m-%d")


def _empty(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.iloc[:0]


def _prepare(client: Any, plan: DataPlan, champion: ChampionState, *, user_id: str | None,
             holdout_user_fraction: float, source: dict[str, Any], clock: Clock) -> _Prepared:
    import dask.dataframe as dd

    version = plan.schema_version
    keep = ["user_id", "bucket_start_ts", *FEATURES[version], *BASELINE_COLUMNS]
    if champion.model is not None:
        keep += champion.model.feature_names  # a champion may read columns of another version
    clock.stage("hashing", 0.03)
    spans_f = client.scatter(plan.spans, broadcast=True)
    parts = client.map(ddata.load_day, [str(f) for f in plan.files], spans=spans_f,
                       columns=keep, user_id=user_id, pure=False)
    summaries = client.gather(client.map(ddata.summary_of, parts))
    frames = client.map(ddata.frame_of, parts)
    del parts
    ddata.check_partitions(summaries)
    feature_rows = sum(s.feature_rows for s in summaries)
    if user_id is not None and feature_rows == 0:
        raise DataError(f"no feature rows for user {user_id!r} in {plan.data_dir} for {plan.days[0]}..{plan.days[-1]} "
                        f"({len(plan.files)} day file(s) read)")
    if feature_rows:
        one_schema_version(s.schema_version for s in summaries if s.schema_version)
    columns = next(s.columns for s in summaries if s.feature_rows) if feature_rows else summaries[0].columns
    digest = combine_digests(columns, [d for s in summaries for d in s.digests], span_digest(plan.spans))
    total = combine_warnings(s.warnings for s in summaries)
    data_warnings = [total[c] for c in columns if c in total] + plan.label_warnings

    clock.stage("projecting", 0.08)
    user_days: dict[tuple[str, int], int] = {}
    for s in summaries:
        user_days.update(s.user_days)
    labelled = sum(user_days.values())
    check_labelled_windows(labelled, spans=len(plan.spans), windows=feature_rows)

    clock.stage("splitting", 0.12)
    split = ddata.plan_split(user_days, holdout_user_fraction=holdout_user_fraction)
    wanted = ddata.cut_requests(split)
    found = pd.concat(client.gather(client.map(ddata.cut_rows, frames, wanted=wanted)), ignore_index=True)
    cuts = ddata.cut_times(split, found)
    assigned = client.map(ddata.assign_split, frames, cuts=cuts, holdout=split.holdout_users)
    del frames
    meta = client.submit(_empty, assigned[0]).result()
    data = dd.from_delayed(assigned, meta=meta, verify_meta=False)
    classes = np.sum([s.classes for s in summaries], axis=0)
    eval_part = ddata.TEST if split.test_rows else ddata.VAL
    snapshot = DatasetSnapshot(
        dataset_hash=digest,
        row_count=labelled,
        date_from=_day(min(s.ts_min for s in summaries if s.ts_min is not None)),
        date_to=_day(max(s.ts_max for s in summaries if s.ts_max is not None)),
        user_count=len(split.users),
        class_distribution={label: int(classes[i]) for i, label in enumerate(LABELS)},
        feature_rows=feature_rows,
        span_count=len(plan.spans),
        schema_version=version,
        train_rows=split.train_rows,
        val_rows=split.val_rows,
        test_rows=split.test_rows if split.test_rows else split.val_rows,
        holdout_users=list(split.holdout_users),
        source=source,
        data_warnings=data_warnings,
    )
    return _Prepared(snapshot, data, eval_part)


def _columns(frame: pd.DataFrame, names: Any) -> Any:
    return frame[names]


def _pinned_training(client: Any, matrix: Any, workers: Sequence[str], names: list[str]) -> tuple[Any, Any, Any, int]:
    """Features, labels and weights as one partition per worker, in a fixed order.

    Each of the three is its own future on that worker, so LightGBM's Dask interface finds
    every part of a worker's share where it is (nothing moves between workers, no worker is
    silently left out).
    """
    import dask
    import dask.dataframe as dd
    from distributed import wait

    sizes = matrix.map_partitions(len).compute().tolist()
    parts = matrix.to_delayed()
    bounds = np.searchsorted(np.cumsum(sizes), np.linspace(0, sum(sizes), len(workers) + 1)[1:-1], side="left")
    groups = np.split(np.arange(len(parts)), bounds + 1) if len(parts) > 1 else [np.arange(len(parts))]
    groups = [g for g in groups if len(g)]
    used = list(workers)[: len(groups)]
    whole = [
        client.compute(dask.delayed(pd.concat)([parts[i] for i in g], ignore_index=True),
                       workers=[w], allow_other_workers=False)
        for g, w in zip(groups, used, strict=True)
    ]
    wait(whole)
    dfit.check_classes(client.gather(client.map(dfit.label_set, whole)), used)
    pieces = []
    for columns in (names, dfit.LABEL_COLUMN, dfit.WEIGHT_COLUMN):
        futures = [client.submit(_columns, f, columns, workers=[w], allow_other_workers=False, pure=False)
                   for f, w in zip(whole, used, strict=True)]
        pieces.append(dd.from_delayed(futures, meta=matrix._meta[columns], verify_meta=False))
    return pieces[0], pieces[1], pieces[2], len(used)


def _train(client: Any, prepared: _Prepared, config: RetrainConfig, compute: ComputeConfig, clock: Clock) -> TrainedModel:
    import dask
    from lightgbm.dask import DaskLGBMClassifier

    clock.stage("training", 0.15)
    version, tp = prepared.snapshot.schema_version, config.train_params
    names, cats = feature_columns(version), categorical_columns(version)
    train = prepared.data[prepared.data[ddata.SPLIT] == ddata.TRAIN]
    counted = dask.compute(*[train[c].value_counts(split_out=1) for c in cats],
                           train[ddata.LABEL_CODE].value_counts(split_out=1))
    kept = dfit.kept_by_column(dict(zip(cats, counted[:-1], strict=True)))
    present_meta = pd.DataFrame({"column": pd.Series([], dtype=object), "value": pd.Series([], dtype=object)})
    present = train.map_partitions(dfit.present_values, cats, kept, tp.seed, meta=present_meta).compute()
    encoders = {c: vocabulary(map(str, present.loc[present["column"] == c, "value"])) for c in cats}
    class_counts = np.zeros(len(LABELS), dtype=np.int64)
    for code, n in counted[-1].items():
        class_counts[int(code)] = int(n)
    weights = class_weight_table(class_counts, tp.class_weight)
    meta = dfit.training_matrix(train._meta, names, cats, kept, encoders, tp.seed, weights)
    matrix = train.map_partitions(dfit.training_matrix, names, cats, kept, encoders, tp.seed, weights, meta=meta)
    workers = sorted(client.scheduler_info()["workers"])
    X, y, w, n_workers = _pinned_training(client, matrix, workers, names)
    clf = DaskLGBMClassifier(client=client, **dfit.dask_params(
        seed=tp.seed, num_boost_round=tp.num_boost_round, fit_timeout_minutes=compute.fit_timeout_minutes))
    client.run(dfit.quiet_lightgbm)
    if clock.progress is not None:
        clock.progress("training", 0.2)  # the distributed fit starts now
    with warnings.catch_warnings(), dfit.quiet_lightgbm_here():
        warnings.simplefilter("ignore")  # "n_jobs will be ignored", alias notes: expected
        clf.fit(X, y, sample_weight=w if weights is not None else None,
                categorical_feature=dfit.categorical_positions(version))
    # The machines LightGBM actually trained on (recorded in the model's parameters).
    found = re.search(r"^\[num_machines: (\d+)\]$", clf.booster_.model_to_string(), flags=re.MULTILINE)
    prepared.snapshot.source["workers"] = int(found.group(1)) if found else n_workers
    params = recorded_params(seed=tp.seed, num_boost_round=tp.num_boost_round, class_weight=tp.class_weight)
    return dfit.fitted_model(clf.booster_, version, encoders, params)


def _evaluate(client: Any, prepared: _Prepared, challenger: TrainedModel, champion: ChampionState, *,
              config: RetrainConfig, reject_threshold: float, clock: Clock) -> Evaluation:
    clock.stage("evaluating challenger", 0.76)
    rows = prepared.data[prepared.data[ddata.SPLIT] == prepared.eval_part]
    chal = client.scatter(dscore.ModelSpec(challenger.booster, challenger.feature_names, challenger.encoders),
                          broadcast=True)
    champ_model = champion.model if champion.error is None else None
    champ = None if champ_model is None else client.scatter(
        dscore.ModelSpec(champ_model.booster, champ_model.feature_names, champ_model.encoders), broadcast=True)
    counts = (rows.map_partitions(dscore.score_partition, chal, champ, reject_threshold, meta=dscore.META)
              .groupby(["kind", "user_id", "cell"]).value.sum(split_out=1).reset_index().compute())
    scores = dscore.Scores(counts)
    holdout, thresholds = prepared.snapshot.holdout_users, config.gates

    def report(kind: str, calibrated: bool = True) -> Any:
        return dscore.report(scores, kind, holdout_users=holdout, reject_threshold=reject_threshold,
                             thresholds=thresholds, with_calibration=calibrated)

    challenger_report = report(dscore.CHALLENGER)
    clock.stage("evaluating champion", 0.82)
    champion_report = bootstrap = regression = None
    if champion.error is not None:
        regression = failed_regression_gate(f"champion {champion.model_id} could not be evaluated: {champion.error}")
    elif champion.model is not None:
        error = scores.champion_error()
        if error is not None:
            regression = failed_regression_gate(f"champion {champion.model_id} could not be evaluated: {error}")
        else:
            champion_report = report(dscore.CHAMPION)
            regression = check_regression_gates(champion_report, challenger_report, config)
            bootstrap = dscore.bootstrap(scores, resamples=BOOTSTRAP_RESAMPLES, seed=config.train_params.seed)
    clock.stage("evaluating baseline", 0.88)
    return Evaluation(challenger_report, champion_report, report(dscore.BASELINE, False), bootstrap, regression)


def run_dask_retrain_pipeline(
    config: RetrainConfig,
    compute: ComputeConfig,
    *,
    data_dir: Path,
    date_from: date,
    date_to: date,
    user_id: str | None = None,
    models_dir: Path = Path(DEFAULT_MODELS_DIR),
    out_dir: Path = Path("artifacts"),
    force: bool = False,
    dry_run: bool = False,
    holdout_user_fraction: float = 0.0,
    reject_threshold: float = DEFAULT_REJECT_THRESHOLD,
    progress: ProgressCallback | None = None,
    requested: RunRequested | None = None,
) -> RetrainResult:
    """Run the retrain of a data directory on the Dask cluster of ``compute``.

    Same steps, records and outcome as :func:`~taskclf_core.train.retrain.run_retrain_pipeline`;
    the snapshot's ``source`` records ``engine: dask``, the scheduler and the workers used.

    Raises:
        ClusterError: the scheduler cannot be reached, a worker was lost, or LightGBM's
            distributed training failed; nothing was saved.
        ConfigError, DataError, InsufficientDataError, RegistryError, BusyError: as the
            local engine (a worker that cannot see a day file: DataError naming it).
    """
    clock = Clock(progress)
    home = Home.for_dirs(models_dir, out_dir)
    check_reject_threshold(reject_threshold)
    started_at = datetime.now(UTC)
    plan = plan_data(Path(data_dir), date_from, date_to, user_id)
    source: dict[str, Any] = {
        "kind": "data_dir", "data_dir": str(data_dir), "date_from": str(date_from), "date_to": str(date_to),
        "days_missing": [str(d) for d in plan.days_missing], "schema_version": plan.schema_version,
        "engine": "dask", "scheduler": compute.scheduler,
    }

    clock.stage("checking cadence", 0.0)
    cadence = retrain_cadence(home.models_dir, config.global_retrain_cadence_days)
    if not force and not cadence.due:
        snapshot = DatasetSnapshot(dataset_hash="", row_count=0, date_from=str(plan.days[0]),
                                   date_to=str(plan.days[-1]), user_count=0, class_distribution={},
                                   span_count=len(plan.spans), source=source)
        return not_due_result(snapshot, cadence, clock)

    with retrain_lock(home.artifacts_dir):
        cleanup_stale_temp(home)
        champion = load_champion(home)
        with quiet_distributed():
            clock.stage("connecting", 0.01)
            with connect(compute) as session:
                client = session.client
                try:
                    prepared = _prepare(client, plan, champion, user_id=user_id,
                                        holdout_user_fraction=holdout_user_fraction, source=source, clock=clock)
                    challenger = _train(client, prepared, config, compute, clock)
                    evaluation = _evaluate(client, prepared, challenger, champion, config=config,
                                           reject_threshold=reject_threshold, clock=clock)
                    clock.stage("closing the cluster", 0.89)
                except (Exception, asyncio.CancelledError) as exc:  # a closed client cancels what waits on it
                    failure = session.failure(exc, clock._stage or "the run")
                    if failure is not None:
                        raise failure from exc
                    raise
        verdict = judge(evaluation, config, dry_run=dry_run, clock=clock)

        return save_and_report(
            home=home, challenger=challenger, snapshot=prepared.snapshot, config=config, evaluation=evaluation,
            verdict=verdict, champion=champion, started_at=started_at, reject_threshold=reject_threshold,
            data_provenance="real", clock=clock, requested=requested,
        )
