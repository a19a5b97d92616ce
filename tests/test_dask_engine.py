"""The Dask engine against the local engine, on a LocalCluster (2 worker processes) started here.

One synthetic team written as a taskclf data directory; the local engine and the Dask
engine retrain it; the records must agree (hash, rows, split, outcome; macro-F1 within
0.02), the saved model must score through the local serving path, and cluster failures
(unreachable scheduler, a worker without the data, a worker killed mid-fit) must be one
clear error with no run saved and the registry untouched.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from taskclf_core.console.service import RetrainRequest, run_retrain
from taskclf_core.data.datadir import load_data_dir, write_data_dir
from taskclf_core.data.synthetic import generate_team
from taskclf_core.errors import ClusterError, DataError
from taskclf_core.model.evaluation import apply_reject, evaluate_predictions
from taskclf_core.model.lgbm import label_codes
from taskclf_core.model.serving import predict_proba
from taskclf_core.paths import Home
from taskclf_core.registry.bundle import load_bundle
from taskclf_core.registry.promotion import promote
from taskclf_core.train.config import RetrainConfig
from taskclf_core.train.dask.cluster import dask_settings
from taskclf_core.train.dask.config import ComputeConfig
from taskclf_core.train.dask.pipeline import run_dask_retrain_pipeline
from taskclf_core.train.retrain import run_retrain_pipeline
from taskclf_core.train.stages import Clock, prepare_data
from tests.helpers_retrain import make_home

#: Every test here uses a LocalCluster of 2 worker processes.
pytestmark = pytest.mark.slow

DATE_FROM, DATE_TO = date(2026, 3, 2), date(2026, 3, 15)
CONFIG = RetrainConfig.model_validate({"train_params": {"num_boost_round": 30, "seed": 3}})


@dataclass(frozen=True)
class Team:
    data_dir: Path
    scheduler: str


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    import dask
    from distributed import LocalCluster

    root = tmp_path_factory.mktemp("dask-team")
    synthetic = generate_team("default", users=3, date_from=DATE_FROM, date_to=DATE_TO, seed=1)
    write_data_dir(root / "data", synthetic.features, synthetic.spans)
    with dask.config.set(dask_settings(ComputeConfig(no_workers_timeout_s=5))):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                               host="127.0.0.1", silence_logs=logging.CRITICAL)
    try:
        yield Team(root / "data", cluster.scheduler_address)
    finally:
        cluster.close()


def _compute(team: Team, **extra: Any) -> ComputeConfig:
    return ComputeConfig(engine="dask", scheduler=team.scheduler, **extra)


def _dask_run(team: Team, home: Path, **extra: Any) -> Any:
    return run_dask_retrain_pipeline(
        CONFIG, _compute(team), data_dir=team.data_dir, date_from=DATE_FROM, date_to=DATE_TO,
        models_dir=home / "models", out_dir=home / "artifacts", force=True, **extra,
    )


def _nothing_saved(home: Path) -> None:
    runs = home / "artifacts" / "runs"
    assert not runs.exists() or not [p for p in runs.iterdir() if not p.name.startswith(".")]
    assert not (home / "models" / "active.json").exists()


def test_dask_engine_matches_the_local_engine_and_its_model_serves_locally(team: Team, tmp_path: Path) -> None:
    loaded = load_data_dir(team.data_dir, DATE_FROM, DATE_TO)
    local = run_retrain_pipeline(CONFIG, loaded.features, loaded.spans, models_dir=tmp_path / "models",
                                 out_dir=tmp_path / "artifacts", force=True, data_warnings=list(loaded.warnings))
    # The local run becomes the champion, so the Dask run scores a champion (and the bootstrap).
    promote(Home.for_dirs(tmp_path / "models", tmp_path / "artifacts"), str(local.run_id),
            approver="tester", note="champion for the dask run", auto_promote=False)

    result = _dask_run(team, tmp_path)

    ours, theirs = result.dataset_snapshot, local.dataset_snapshot
    assert ours.dataset_hash == theirs.dataset_hash
    for field in ("row_count", "feature_rows", "span_count", "user_count", "class_distribution", "train_rows",
                  "val_rows", "test_rows", "holdout_users", "date_from", "date_to", "schema_version", "data_warnings"):
        assert getattr(ours, field) == getattr(theirs, field), field
    assert ours.source["engine"] == "dask" and ours.source["workers"] == 2
    assert result.outcome == local.outcome == "awaiting_signoff"
    assert abs(result.challenger_macro_f1 - local.challenger_macro_f1) <= 0.02
    assert result.baseline_macro_f1 == local.baseline_macro_f1  # same rows, same rules
    # The champion (the local model) scored on the workers = the local engine's own report.
    evaluation = json.loads((Path(result.run_dir) / "evaluation.json").read_text())
    local_eval = json.loads((Path(local.run_dir) / "evaluation.json").read_text())
    champion, reference = evaluation["champion"], local_eval["challenger"]
    for key in ("n_rows", "confusion_matrix", "per_class", "per_user", "acceptance", "top_confusion_pairs"):
        assert champion[key] == reference[key], key
    for key in ("macro_f1", "weighted_f1", "accuracy", "reject_rate"):
        assert champion[key] == reference[key], key
    assert champion["expected_calibration_error"] == pytest.approx(reference["expected_calibration_error"], abs=1e-9)
    assert champion["multiclass_log_loss"] == pytest.approx(reference["multiclass_log_loss"], abs=1e-9)
    assert evaluation["bootstrap"]["resamples"] == 1000
    assert result.regression is not None

    # The saved model is an ordinary LightGBM text model on the serving contract.
    bundle = load_bundle(Path(result.run_dir))
    assert bundle.booster.feature_name() == list(bundle.metadata.feature_names or [])
    # One set of training rules: the same rows masked (so the same vocabularies), the same
    # recorded parameters (what differs is where the work ran).
    local_bundle = load_bundle(Path(local.run_dir))
    assert dict(bundle.encoders) == dict(local_bundle.encoders)
    recorded, local_recorded = (json.loads((Path(d) / "metadata.json").read_text()) for d in (result.run_dir, local.run_dir))
    assert recorded.get("params") == local_recorded.get("params")
    prepared = prepare_data(loaded.features, loaded.spans, holdout_user_fraction=0.0, source={},
                            warnings=[], clock=Clock(None))
    eval_df = prepared.eval_df
    proba = predict_proba(bundle.booster, eval_df, bundle.booster.feature_name(), dict(bundle.encoders))
    served = evaluate_predictions("challenger", label_codes(eval_df["label"]), apply_reject(proba, 0.55),
                                  eval_df["user_id"].to_numpy())
    assert served.macro_f1 == pytest.approx(result.challenger_macro_f1, abs=1e-12)
    assert np.allclose(proba.sum(axis=1), 1.0)


def test_unreachable_scheduler_is_one_line_exit_2_and_saves_nothing(team: Team, tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("taskclf")
    make_home(tmp_path, compute={"connect_timeout_s": 2})  # the home's config bounds the wait
    proc = subprocess.run(
        [str(exe), "train", "retrain", "--force", "--data-dir", str(team.data_dir), "--from", str(DATE_FROM),
         "--to", str(DATE_TO), "--models-dir", str(tmp_path / "models"), "--out-dir", str(tmp_path / "artifacts"),
         "--scheduler", "tcp://127.0.0.1:9"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "TASKCLF_HOME": str(tmp_path)},
    )
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == [line for line in proc.stderr.splitlines() if not line.startswith("note:")]
    assert errors[0].startswith("error: cannot reach the Dask scheduler at tcp://127.0.0.1:9 within 2 s")
    assert "no run was saved and the registry was not touched" in errors[0]
    _nothing_saved(tmp_path)


def test_a_worker_that_cannot_see_a_day_file_is_named_and_nothing_is_saved(team: Team, tmp_path: Path) -> None:
    hidden: list[Path] = []

    def hide_a_day(stage: str, _fraction: float) -> None:
        if stage == "connecting":  # the client has listed the files; the workers read them now
            day = sorted(team.data_dir.glob("features_v1/date=*/features.parquet"))[4]
            day.rename(day.with_name("away.parquet"))
            hidden.append(day)

    # Through the service, as the CLI and the app run it: the config's compute section picks the engine.
    home = make_home(tmp_path, compute={"engine": "dask", "scheduler": team.scheduler})
    request = RetrainRequest(force=True, data_dir=team.data_dir, date_from=DATE_FROM, date_to=DATE_TO)
    try:
        with pytest.raises(DataError, match=r"Dask worker tcp://127\.0\.0\.1:\d+ cannot read .*date=2026-03-06"
                                            r"/features\.parquet: the file is not there\. Every worker must see"):
            run_retrain(home, request, progress=hide_a_day)
    finally:
        for day in hidden:
            day.with_name("away.parquet").rename(day)
    _nothing_saved(tmp_path)


def test_a_worker_killed_mid_fit_is_a_clear_error_and_no_run_is_saved(team: Team, tmp_path: Path) -> None:
    from distributed import Client

    with Client(team.scheduler, timeout=10) as client:
        pids = sorted(client.run(os.getpid).values())
    killed: list[int] = []

    def kill_a_worker(stage: str, fraction: float) -> None:
        if stage == "training" and fraction == 0.2:  # the distributed fit starts
            def kill() -> None:
                time.sleep(0.3)
                os.kill(pids[-1], signal.SIGKILL)  # a worker process this test's cluster started
                killed.append(pids[-1])
            threading.Thread(target=kill, daemon=True).start()

    slow = CONFIG.model_copy(update={"train_params": CONFIG.train_params.model_copy(update={"num_boost_round": 400})})
    started = time.monotonic()
    with pytest.raises(ClusterError) as caught:
        run_dask_retrain_pipeline(
            slow, _compute(team, fit_timeout_minutes=1), data_dir=team.data_dir, date_from=DATE_FROM, date_to=DATE_TO,
            models_dir=tmp_path / "models", out_dir=tmp_path / "artifacts", force=True, progress=kill_a_worker,
        )
    assert killed
    message = str(caught.value)
    assert "\n" not in message
    assert "during training" in message and "no run was saved and the registry was not touched" in message
    assert time.monotonic() - started < 120
    _nothing_saved(tmp_path)
