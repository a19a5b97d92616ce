"""The deployment in the console: Status, History and ``train models`` show what each taskclf
path serves and name every inconsistency with its fix; the ``serving:`` section; the plan a
challenger follows; calibrator refits from the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from taskclf_core.console.request import RetrainRequest
from taskclf_core.console.service import run_retrain
from taskclf_core.errors import ConfigError
from taskclf_core.paths import Home
from taskclf_core.registry.deployment import inspect_deployment
from taskclf_core.registry.history import read_history
from taskclf_core.registry.promotion import promote
from taskclf_core.train.champion import load_champion
from taskclf_core.train.config import parse_retrain_yaml
from taskclf_core.train.deploy import plan_deployment
from tests.conftest import APP
from tests.helpers_upstream import DATA, A, B, sample_config, upstream_home

PERMISSIVE = sample_config(macro_f1=0.3, reject_rate_max=0.8)


def _home(tmp_path: Path, scenario: str, config: str | None = None) -> Path:
    return upstream_home(tmp_path / scenario, scenario, config)


def _cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"TASKCLF_HOME": str(root), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "COLUMNS": "400"}
    return subprocess.run([sys.executable, "-m", "taskclf_core.console.cli", *args], capture_output=True, text=True,
                          env=env, cwd=root, timeout=300)


# --------------------------------------------------------------------------- Status, History, CLI


@pytest.mark.parametrize(("scenario", "what", "fix"), [
    ("policy-stale", f"serves {A} to the tray and the online predictor, while active.json names {B}",
     "promote or roll back from the console"),
    ("policy-mismatched-calibrator", f"was fitted for {A}, but the policy serves {B}", "refit the calibrator"),
])
def test_status_shows_each_path_and_the_problem_with_its_fix(
    scenario: str, what: str, fix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _home(tmp_path, scenario)
    monkeypatch.setenv("TASKCLF_HOME", str(root))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception, at.exception
    errors = [re.sub(r"\\(.)", r"\1", e.value) for e in at.error]  # as the reader sees it
    assert any(what in e and fix.capitalize() in e for e in errors), errors
    table = next(d.value for d in at.dataframe if "taskclf path" in d.value.columns)
    served = dict(zip(table["taskclf path"], table["model"], strict=True))
    assert served["tray, and infer online after a policy reload"] == (A if scenario == "policy-stale" else B)
    assert served["infer batch, and infer online at start-up"] == (B if scenario == "policy-stale" else A)
    assert set(table["reject threshold"]) == {"0.9", "0.55 (its --reject-threshold default)"}


@pytest.mark.slow
def test_train_models_names_the_problem_and_what_each_path_serves(tmp_path: Path) -> None:
    root = _home(tmp_path, "policy-stale")
    result = _cli(root, "train", "models")
    assert result.returncode == 0, result.stderr
    problem = [line for line in result.stderr.splitlines() if line.startswith("Problem: ")]
    assert problem and f"active.json names {B}" in problem[0] and "Fix: promote or roll back" in problem[0]
    assert "What taskclf serves now" in result.stdout
    rows = json.loads(_cli(root, "train", "models", "--json").stdout)
    by_id = {r["model_id"]: r["served_by"] for r in rows}
    assert by_id == {A: "tray, and infer online after a policy reload", B: "infer batch, and infer online at start-up"}


def test_history_shows_the_deployment_before_and_after_a_promotion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _home(tmp_path, "policy-temperature", PERMISSIVE)
    home = Home.resolve(root)
    result = run_retrain(home, RetrainRequest(force=True, data_dir=DATA, date_from=date(2025, 9, 9), date_to=date(2025, 9, 11)))
    assert result.outcome == "awaiting_signoff", result.reason
    promote(home, result.run_id, approver="alice", note="deploy", auto_promote=False)
    monkeypatch.setenv("TASKCLF_HOME", str(root))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("pages/3_History.py").run()
    assert not at.exception, at.exception
    changes = next(d.value for d in at.dataframe if "deployment (before → after)" in d.value.columns)
    shown = changes["deployment (before → after)"].iloc[0]
    assert shown.startswith(f"{A}, calibration temperature (1 per-user calibrator, fitted for {A}), threshold 0.9 → ")
    assert f"{result.run_id}, calibration temperature, threshold" in shown


# --------------------------------------------------------------------------- the serving: section and the plan


def test_the_serving_section_is_checked_and_optional() -> None:
    assert parse_retrain_yaml("").serving is None  # the shipped default: follow the deployment
    config = parse_retrain_yaml("serving:\n  reject_threshold: 0.8\n  calibration: isotonic\n")
    assert config.serving is not None and (config.serving.reject_threshold, config.serving.calibration) == (0.8, "isotonic")
    with pytest.raises(ConfigError, match=r"reject_threshold must be 'tune' or a number in \(0, 1\]; got 1.5"):
        parse_retrain_yaml("serving:\n  reject_threshold: 1.5\n")
    with pytest.raises(ConfigError, match="serving.calibration"):
        parse_retrain_yaml("serving:\n  calibration: platt\n")
    with pytest.raises(ConfigError, match="serving.eligibility.min_days"):
        parse_retrain_yaml("serving:\n  eligibility:\n    min_days: 0\n")


@pytest.mark.parametrize(("scenario", "expected"), [
    ("policy-temperature", (True, "temperature", "tune", False)),
    ("policy-isotonic", (True, "isotonic", 0.85, False)),  # `policy create --reject-threshold 0.85`: kept
    ("policy-per-user", (True, "temperature", "tune", True)),
    ("policy-threshold", (True, "none", "tune", False)),
])
def test_without_a_serving_section_the_challenger_follows_the_deployment(
    scenario: str, expected: tuple[object, ...], tmp_path: Path
) -> None:
    champion = load_champion(Home.resolve(_home(tmp_path, scenario)))
    plan = plan_deployment(None, champion.deployment, 0.55)
    assert (plan.policy, plan.calibration, plan.threshold, plan.per_user_thresholds) == expected
    assert plan.origin == "follows the current deployment"


def test_no_policy_stays_no_policy(tmp_path: Path) -> None:
    root = _home(tmp_path, "policy-temperature")
    (root / "models" / "inference_policy.json").unlink()
    champion = load_champion(Home.resolve(root))
    plan = plan_deployment(None, champion.deployment, 0.55)
    assert (plan.policy, plan.threshold, plan.origin) == (False, 0.55, "no policy")


@pytest.mark.slow
def test_the_dask_engine_refuses_a_deployment_it_cannot_judge_as_served(tmp_path: Path) -> None:
    root = _home(tmp_path, "policy-temperature")
    result = _cli(root, "train", "retrain", "--synthetic", "--force", "--engine", "dask", "--users", "2")
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "the Dask engine judges raw model outputs only" in errors[0] and "--engine local" in errors[0]


# --------------------------------------------------------------------------- calibrator refits


@pytest.mark.slow
def test_a_refit_is_gated_applied_for_the_same_model_and_recorded(tmp_path: Path) -> None:
    root = _home(tmp_path, "policy-temperature", PERMISSIVE)
    args = ("train", "calibrate", "--data-dir", str(DATA), "--from", "2025-09-09", "--to", "2025-09-11")
    not_due = _cli(root, *args)
    assert not_due.returncode == 0 and "Outcome: not_due. Calibrator refit not due: calibrator store updated" in not_due.stdout
    result = json.loads(_cli(root, *args, "--force", "--json").stdout)
    assert result["outcome"] == "awaiting_signoff", result["reason"]
    assert [g["name"] for g in result["gates"]] == ["served_macro_f1_no_regression", "ece_not_worse", "brier_improvement"]
    run_id = result["run_id"]
    before = inspect_deployment(Home.resolve(root))
    applied = _cli(root, "train", "promote", run_id, "--approver", "alice", "--note", "refit")
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.strip() == (f"Applied calibrator refit {run_id}: {A} keeps serving with the refitted "
                                      "calibrator and threshold, by alice.")
    after = inspect_deployment(Home.resolve(root))
    assert (after.served.model_id, after.batch.model_id) == (A, A)
    assert after.served.store is not None and after.served.store.folder == f"artifacts/calibrator_stores/{run_id}"
    assert after.served.store.fitted_for == A and after.problems == ()
    entry = read_history(Home.resolve(root))[0]
    assert (entry.action, entry.run_id, entry.new_champion, entry.previous_champion) == ("recalibrate", run_id, A, A)
    assert entry.deployment_before is not None and entry.deployment_before.policy_sha256 == before.policy_sha256
    again = _cli(root, "train", "promote", run_id, "--approver", "bob", "--note", "again")
    assert again.returncode == 2 and f"calibrator refit {run_id} was already applied" in again.stderr
    runs = {r["run_id"]: r for r in json.loads(_cli(root, "train", "runs", "--json").stdout)}
    assert runs[run_id]["state"].startswith("refit applied")


@pytest.mark.slow
def test_a_refit_that_does_not_improve_brier_by_5_percent_is_rejected(tmp_path: Path) -> None:
    root = _home(tmp_path, "policy-temperature", sample_config(calibration_brier_improvement=None))
    result = json.loads(_cli(root, "train", "calibrate", "--data-dir", str(DATA), "--from", "2025-09-09",
                              "--to", "2025-09-11", "--force", "--json").stdout)
    assert result["outcome"] == "rejected"
    brier = next(g for g in result["gates"] if g["name"] == "brier_improvement")
    assert brier["status"] == "failed" and brier["threshold"] == ">= 0.05"
    refused = _cli(root, "train", "promote", result["run_id"], "--approver", "a", "--note", "n")
    assert refused.returncode == 2 and "was rejected by gate(s) brier_improvement" in refused.stderr


@pytest.mark.slow
def test_a_refit_needs_a_champion(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    (root / "models").mkdir(parents=True)
    result = _cli(root, "train", "calibrate", "--synthetic", "--users", "2", "--force")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: there is no champion whose calibrator could be refitted: promote a model first")
