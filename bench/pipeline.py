"""One team size: every stage of the retrain, the whole pipeline, and LightGBM's floor.

Order (one process per size; two trainings, the floor's and the pipeline's, back to back):

1. generate the team; write it as a taskclf data directory; load it back (what the app
   and CLI do with real data);
2. hash, projection and split alone (they also give the floor its matrices);
3. the floor: plain ``lightgbm.train`` with the pipeline's parameters on the same training
   matrix (the model is byte-identical to the pipeline's, which the bench checks), plus
   ``predict`` of that model and of the champion on the test rows, nothing else;
4. the floor's model becomes the champion the way a run does: scored and evaluated,
   gated, saved as a run folder with :func:`runsave.save_run`, promoted by sign-off
   (:func:`promotion.promote`; by rollback if its gates failed);
5. the headline: a dry run of :func:`run_retrain_pipeline` with that champion present,
   LightGBM's entry points clocked (:mod:`bench.lgbm_clock`) and RSS sampled;
6. the remaining stages alone with the dry run's model: scoring, champion load and
   scoring, baseline, metrics and bootstrap, gates, save.

Training itself is timed by the pipeline (its ``timings['training']``).
"""

from __future__ import annotations

import gc
import shutil
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import OtherCpu, RssSampler, Stage, Stages, load_average, machine, max_rss_mb
from bench.lgbm_clock import lightgbm_clock

DATE_FROM = date(2025, 6, 2)
SCENARIO = "default"
SEED = 0


def _projection_helpers() -> tuple[Any, Any, Any]:
    """The pipeline's projection helpers; before they existed (to bench an older checkout
    with ``PYTHONPATH``), the old behaviour: every column copied, the frame used as is."""
    try:
        from taskclf_core.data.projection import labelled_rows
        from taskclf_core.train.stages import _champion_frame, _pipeline_columns

        return labelled_rows, _pipeline_columns, _champion_frame
    except ImportError:
        import numpy as np
        import pandas as pd

        from taskclf_core.data.schema import LABELS

        def every_column(features: Any, codes: Any, *, columns: Any = None) -> Any:
            keep = codes >= 0
            out = features.loc[keep].reset_index(drop=True)
            out["label"] = pd.array(np.asarray(LABELS, dtype=object)[codes[keep]], dtype="str")
            return out

        def no_columns(features: Any, schema_version: str) -> None:
            return None

        def as_is(eval_df: Any, names: Any, features: Any, rows: Any) -> Any:
            return eval_df

        return every_column, no_columns, as_is


def measure_size(users: int, days: int, rounds: int, repeats: int, schema_version: str = "v1") -> dict[str, Any]:
    """Measure one team size at one schema version; returns a JSON-ready dict."""
    import lightgbm as lgb
    import numpy as np

    from taskclf_core import __version__
    from taskclf_core.data.datadir import load_data_dir, write_data_dir
    from taskclf_core.data.projection import project_codes
    from taskclf_core.data.schema import DEFAULT_REJECT_THRESHOLD, FEATURES
    from taskclf_core.data.split import split_by_time
    from taskclf_core.model.baseline import baseline_codes
    from taskclf_core.model.encoding import fit_training_codes
    from taskclf_core.model.evaluation import apply_reject, evaluate_predictions, paired_bootstrap
    from taskclf_core.model.gates import (
        all_gates,
        check_baseline_gate,
        check_candidate_gates,
        check_regression_gates,
        gates_summary,
        skipped_regression_gate,
    )
    from taskclf_core.model.lgbm import TrainedModel, class_weights, label_codes, train_params
    from taskclf_core.model.serving import (
        categorical_columns,
        categorical_indices,
        feature_matrix,
        predict_proba,
    )
    from taskclf_core.paths import Home
    from taskclf_core.registry.bundle import load_bundle
    from taskclf_core.registry.promotion import promote
    from taskclf_core.synthetic.team import generate_team
    from taskclf_core.train import runsave
    from taskclf_core.train.champion import load_champion
    from taskclf_core.train.config import RetrainConfig, config_to_yaml
    from taskclf_core.train.retrain import (
        BOOTSTRAP_RESAMPLES,
        DatasetSnapshot,
        compute_dataset_hash,
        decide_outcome,
        run_retrain_pipeline,
    )
    from taskclf_core.train.stages import schema_version_of as _schema_version

    labelled_rows, _pipeline_columns, _with_model_columns = _projection_helpers()

    out: dict[str, Any] = {"users": users, "days": days, "rounds": rounds, "schema": schema_version,
                           "machine_start": machine()}
    sampler = RssSampler()
    stages = Stages()
    work = Path(tempfile.mkdtemp(prefix="taskclf-bench-"))
    memory: dict[str, float] = {}
    whole_size = OtherCpu()
    try:
        # ------------------------------------------------------------ 1. generate, write, load
        sampler.reset()
        team = stages.measure(
            "generate",
            lambda: generate_team(SCENARIO, users=users, days=days, date_from=DATE_FROM, seed=SEED,
                                  schema_version=schema_version),
            repeats=repeats,
        )
        out["windows"] = len(team.features)
        out["spans"] = len(team.spans)
        spans_out = team.spans
        # A zero-length span without extend_forward is invalid: the data writer refuses it.
        # The generator should never make one; if it does, say so and drop it.
        empty = (spans_out["end_ts"] <= spans_out["start_ts"]) & ~spans_out["extend_forward"]
        if empty.any():
            out["warnings"] = [f"generate_team made {int(empty.sum())} invalid zero-length span(s); dropped"]
            spans_out = spans_out.loc[~empty].reset_index(drop=True)
        data_dir = work / "data"
        t0 = time.perf_counter()
        write_data_dir(data_dir, team.features, spans_out, version=schema_version)
        out["setup_write_data_dir_s"] = round(time.perf_counter() - t0, 3)
        memory["generate_and_write_peak_mb"] = sampler.peak_mb()
        del team, spans_out
        gc.collect()

        sampler.reset()
        date_to = DATE_FROM + timedelta(days=days - 1)
        # As the service loads: one day file at a time, validated and hashed whole, only the
        # columns a retrain reads kept (the load stage includes the hash of the whole files).
        loaded = stages.measure(
            "load", lambda: load_data_dir(data_dir, DATE_FROM, date_to, project=True), repeats=repeats
        )
        features, spans = loaded.features, loaded.spans
        whole_files_hash = loaded.dataset_hash()
        del loaded
        memory["load_peak_mb"] = sampler.peak_mb()
        memory["features_loaded_mb"] = sampler.current_mb()

        home = Home.resolve(work / "home")
        config = RetrainConfig.model_validate({"train_params": {"num_boost_round": rounds}})
        # The champion is installed by a real sign-off, so its run must pass its gates:
        # judged with open thresholds (the headline dry run uses the reference ones).
        champion_config = RetrainConfig.model_validate({
            "train_params": {"num_boost_round": rounds}, "require_baseline_improvement": False,
            "gates": {"macro_f1": 0.0, "weighted_f1": 0.0, "breakidle_precision": 0.0,
                      "breakidle_recall": 0.0, "class_precision_floor": 0.0,
                      "reject_rate_min": 0.0, "reject_rate_max": 1.0},
        })
        threshold = DEFAULT_REJECT_THRESHOLD
        tp = config.train_params

        # ------------------------------------------------------------ 2. hash, projection, split
        def hash_stage() -> tuple[str, str]:
            return _schema_version(features), compute_dataset_hash(features, spans)

        schema_version, digest = stages.measure("hash", hash_stage, repeats=repeats)

        def projection_stage() -> Any:
            codes = project_codes(features, spans)
            return codes, labelled_rows(features, codes, columns=_pipeline_columns(features, schema_version))

        def split_stage() -> tuple[Any, Any, Any, DatasetSnapshot]:
            parts = split_by_time(labelled)
            train_df = labelled.iloc[parts["train"]]
            test_idx = parts["test"] if len(parts["test"]) else parts["val"]
            eval_df = labelled.iloc[test_idx].reset_index(drop=True)
            counts = labelled["label"].value_counts()
            snapshot = DatasetSnapshot(
                dataset_hash=digest, row_count=len(labelled), date_from=str(DATE_FROM), date_to=str(date_to),
                user_count=int(labelled["user_id"].nunique()),
                class_distribution={str(k): int(v) for k, v in counts.items()},
                feature_rows=len(features), span_count=len(spans), schema_version=schema_version,
                train_rows=len(parts["train"]), val_rows=len(parts["val"]), test_rows=len(eval_df),
            )
            return test_idx, train_df, eval_df, snapshot

        codes, labelled = stages.measure("projection", projection_stage, repeats=repeats)
        test_idx, train_df, eval_df, snapshot = stages.measure("split", split_stage, repeats=repeats)
        labelled = None

        # ------------------------------------------------------------ 3. the floor
        names = list(FEATURES[schema_version])
        cat_columns = categorical_columns(schema_version)
        fitted = fit_training_codes(train_df, cat_columns, seed=tp.seed)
        encoders = fitted.encoders
        X_train: Any = feature_matrix(train_df, names, encoders, codes=fitted.codes)
        y_train: Any = label_codes(train_df["label"])
        weight: Any = class_weights(y_train, tp.class_weight)
        params = train_params(seed=tp.seed)
        categorical = categorical_indices(names, cat_columns)
        fitted = None
        X_eval: Any = feature_matrix(eval_df, names, encoders)
        train_df = None
        floor = Stages()
        load_before_floor = load_average()
        floor_to_pipeline = OtherCpu()

        def floor_train() -> Any:
            dataset = lgb.Dataset(
                X_train, label=y_train, weight=weight, feature_name=names, categorical_feature=categorical,
                params={"max_bin": params["max_bin"], "verbosity": -1}, free_raw_data=True,
            )
            return lgb.train(params, dataset, num_boost_round=tp.num_boost_round)

        booster = floor.measure("train", floor_train)
        floor.measure("predict challenger", lambda: booster.predict(X_eval), repeats=repeats)
        X_train = y_train = weight = None
        gc.collect()

        # ------------------------------------------------------------ 4. it becomes the champion
        first: Any = TrainedModel(
            booster, names, encoders, schema_version,
            {**params, "num_boost_round": tp.num_boost_round, "class_weight": tp.class_weight,
             "class_weight_method": tp.class_weight, "unknown_category_freq_threshold": 5,
             "unknown_category_mask_rate": 0.05},
        )
        first_proba: Any = np.asarray(booster.predict(X_eval), dtype=np.float64)
        first_report = evaluate_predictions(
            "challenger", label_codes(eval_df["label"]), apply_reject(first_proba, threshold),
            eval_df["user_id"].astype("str").to_numpy(), proba=first_proba, reject_threshold=threshold,
            thresholds=champion_config.gates,
        )
        first_base = evaluate_predictions(
            "baseline", label_codes(eval_df["label"]), baseline_codes(eval_df),
            eval_df["user_id"].astype("str").to_numpy(), reject_threshold=threshold,
        )
        first_gates = (
            check_candidate_gates(first_report), check_baseline_gate(first_report, first_base, champion_config),
            skipped_regression_gate("no champion"),
        )
        gate_list = all_gates(*first_gates)
        first_failed = [g.name for g in gate_list if g.status == "failed"]
        first_outcome, first_reason = decide_outcome(dry_run=False, failed=first_failed, auto_promote=False)
        first_id, first_outcome, _, _ = runsave.save_run(
            home=home, challenger=first, snapshot=snapshot, config=champion_config,
            config_yaml=config_to_yaml(champion_config),
            reports={"challenger": first_report, "champion": None, "baseline": first_base}, bootstrap=None,
            gates=dict(zip(("candidate", "baseline", "comparative"), first_gates, strict=True)),
            outcome=first_outcome, reason=first_reason, champion=load_champion(home),
            started_at=datetime.now(UTC), reject_threshold=threshold, data_provenance="synthetic",
            gates_summary=gates_summary(gate_list), failed_gates=first_failed, version=__version__,
        )
        assert first_outcome == "awaiting_signoff", (first_outcome, first_failed)
        promote(home, first_id, approver="bench", note="champion for the benchmark", auto_promote=False)
        out["champion"] = {"run_id": first_id, "installed_by": "promote (sign-off, open gates)"}
        champion = load_champion(home)
        assert champion.model is not None, champion.error
        champ_model = champion.model
        X_eval_champ: Any = feature_matrix(eval_df, champ_model.feature_names, champ_model.encoders)
        floor.measure("predict champion", lambda: champ_model.booster.predict(X_eval_champ), repeats=repeats)
        first = first_proba = X_eval = X_eval_champ = None
        gc.collect()

        # ------------------------------------------------------------ 5. the whole pipeline
        sampler.reset()
        load_before = load_average()
        with lightgbm_clock() as in_lgbm:
            t0, c0 = time.perf_counter(), time.process_time()
            result = run_retrain_pipeline(
                config, features, spans, models_dir=home.models_dir, out_dir=home.artifacts_dir,
                force=True, dry_run=True, data_provenance="synthetic", dataset_hash=whole_files_hash,
            )
            pipeline_s, pipeline_cpu = time.perf_counter() - t0, time.process_time() - c0
        memory["pipeline_peak_mb"] = sampler.peak_mb()
        # Other work on the machine from the floor's training to the pipeline's end.
        out["other_cpu_floor_and_pipeline"] = floor_to_pipeline.cores()
        assert result.outcome == "dry_run", result.reason
        assert result.champion_macro_f1 is not None, "the dry run evaluated no champion"
        assert result.run_id is not None
        out["pipeline"] = {
            "s": round(pipeline_s, 3),
            "cpu_s": round(pipeline_cpu, 3),
            "load_before": load_before,
            "load_after": load_average(),
            "timings": result.timings,
            "lightgbm": in_lgbm.as_dict(),
            # The pipeline's own time: everything outside LightGBM's calls, same run.
            "own_s": round(pipeline_s - in_lgbm.total, 4),
            "own_outside_train_predict_s": round(pipeline_s - in_lgbm.floor_calls, 4),
            "labelled": result.dataset_snapshot.row_count,
            "train_rows": result.dataset_snapshot.train_rows,
            "test_rows": result.dataset_snapshot.test_rows,
            "challenger_macro_f1": round(result.challenger_macro_f1, 4),
            "champion_macro_f1": round(result.champion_macro_f1, 4),
            "dataset_hash": result.dataset_snapshot.dataset_hash,
        }
        training = result.timings.get("training", 0.0)
        stages.stages["training"] = Stage(training, 0.0, 1, load_before, in_lgbm.seconds["train"])
        model_text = (Path(result.run_dir) / "model.txt").read_text(encoding="utf-8")
        predict_s = floor.stages["predict challenger"].seconds + floor.stages["predict champion"].seconds
        out["floor"] = {
            "train": {"s": round(floor.stages["train"].seconds, 4), "load": load_before_floor},
            "predict": {"s": round(predict_s, 4)},
            "s": round(floor.stages["train"].seconds + predict_s, 4),
            "same_model_as_train_lgbm": booster.model_to_string() == model_text,
            "train_rows": result.dataset_snapshot.train_rows,
            "eval_rows": int(len(eval_df)),
        }
        booster = None
        gc.collect()

        # ------------------------------------------------------------ 7. the remaining stages
        unwrap = ExitStack()
        stages.clock = unwrap.enter_context(lightgbm_clock())
        bundle = load_bundle(Path(result.run_dir))
        challenger = TrainedModel(
            bundle.booster, list(bundle.booster.feature_name()), dict(bundle.encoders),
            bundle.metadata.schema_version, dict(bundle.metadata.params),
        )

        def score(model: Any) -> tuple[Any, Any]:
            frame = _with_model_columns(
                eval_df, model.feature_names, features, np.flatnonzero(codes >= 0)[test_idx]
            )
            proba = predict_proba(model.booster, frame, model.feature_names, model.encoders)
            return proba, apply_reject(proba, threshold)

        proba, pred = stages.measure("challenger scoring", lambda: score(challenger), repeats=repeats)
        champion = stages.measure("champion load", lambda: load_champion(home), repeats=repeats)
        assert champion.model is not None, champion.error
        champ_proba, champ_pred = stages.measure("champion scoring", lambda: score(champion.model), repeats=repeats)
        base_pred = stages.measure("baseline", lambda: baseline_codes(eval_df), repeats=repeats)

        def metrics_stage() -> tuple[Any, ...]:
            y = label_codes(eval_df["label"])
            users_arr = eval_df["user_id"].astype("str").to_numpy()
            challenger_report = evaluate_predictions(
                "challenger", y, pred, users_arr, proba=proba, reject_threshold=threshold
            )
            champion_report = evaluate_predictions(
                "champion", y, champ_pred, users_arr, proba=champ_proba, reject_threshold=threshold
            )
            baseline_report = evaluate_predictions("baseline", y, base_pred, users_arr, reject_threshold=threshold)
            bootstrap = paired_bootstrap(y, pred, champ_pred, resamples=BOOTSTRAP_RESAMPLES, seed=tp.seed)
            return challenger_report, champion_report, baseline_report, bootstrap

        challenger_report, champion_report, baseline_report, bootstrap = stages.measure(
            "metrics+bootstrap", metrics_stage, repeats=repeats
        )

        def gates_stage() -> tuple[Any, ...]:
            regression = check_regression_gates(champion_report, challenger_report, config)
            candidate = check_candidate_gates(challenger_report)
            baseline_gate = check_baseline_gate(challenger_report, baseline_report, config)
            gates = all_gates(candidate, baseline_gate, regression or skipped_regression_gate("no champion"))
            failed = [g.name for g in gates if g.status == "failed"]
            outcome, reason = decide_outcome(dry_run=True, failed=failed, auto_promote=False)
            return candidate, baseline_gate, regression, gates, failed, outcome, reason

        candidate, baseline_gate, regression, gates, failed, outcome, reason = stages.measure(
            "gates", gates_stage, repeats=repeats
        )
        stages.measure(
            "save",
            lambda: runsave.save_run(
                home=home, challenger=challenger, snapshot=snapshot, config=config,
                config_yaml=config_to_yaml(config),
                reports={"challenger": challenger_report, "champion": champion_report, "baseline": baseline_report},
                bootstrap=bootstrap,
                gates={"candidate": candidate, "baseline": baseline_gate, "comparative": regression},
                outcome=outcome, reason=reason, champion=champion, started_at=datetime.now(UTC),
                reject_threshold=threshold, data_provenance="synthetic", gates_summary=gates_summary(gates),
                failed_gates=failed, version=__version__,
            ),
        )
        unwrap.close()
        stages.clock = None

        out["stages"] = stages.as_dict()
        memory["process_max_rss_mb"] = max_rss_mb()
        out["memory"] = memory
        out["machine_end"] = machine()
        out["other_cpu"] = whole_size.cores()
        return out
    finally:
        sampler.stop()
        shutil.rmtree(work, ignore_errors=True)
