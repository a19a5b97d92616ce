"""We read taskclf's deployment and serve it as taskclf does, on every scenario it made.

``tests/fixtures/upstream-policy`` (made by taskclf 0.4.15's own commands; see its README):
six deployments (threshold only; temperature and isotonic stores; per-user thresholds; a
stale ``active.json``; a store fitted for another model), each with what taskclf resolved
(``served.json``) and served (``predictions.csv``, all 1,351 rows of ``taskclf-data/v3-aw``),
plus ``probes.json``: 23 edited copies and what taskclf did with each.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from taskclf_core.data.datadir import load_data_dir
from taskclf_core.data.projection import project_codes
from taskclf_core.data.schema import LABELS, REJECT_LABEL
from taskclf_core.model.calibration import (
    EligibilityRule,
    fit_calibrator_set,
    tune_reject_threshold,
)
from taskclf_core.model.served import serve
from taskclf_core.model.serving import predict_proba
from taskclf_core.paths import Home
from taskclf_core.registry.calstore import read_store, store_file_bytes
from taskclf_core.registry.deployment import inspect_deployment
from taskclf_core.train.champion import load_champion

FIXTURES = Path(__file__).parent / "fixtures"
POLICY = FIXTURES / "upstream-policy"
SCENARIOS = sorted(p.name for p in POLICY.iterdir() if p.name.startswith("policy-"))
RAW = [f"raw_p_{label}" for label in LABELS]
CAL = [f"cal_p_{label}" for label in LABELS]
DEV = "0e444d9a-44bc-4a1e-8ad5-f14307f31c96"
MGR = "d3535273-611c-48b5-b0b2-9f81ab577b83"
A = "2026-11-29_212741_run-2436"
B = "2026-12-06_155542_run-4952"
#: Temperature scaling may differ by up to 2.2e-16 between CPUs (numpy's SIMD exp/log); the
#: README: "compare temperature-calibrated values with a tolerance of about 1e-15".
TOLERANCE = 1e-15


def _copy(tmp_path: Path, scenario: str) -> Home:
    root = tmp_path / scenario
    shutil.copytree(POLICY / scenario, root)
    return Home.resolve(root)


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    """The 1,351 rows, sorted by (user_id, bucket_start_ts) as the fixture's serving step 1."""
    loaded = load_data_dir(FIXTURES / "taskclf-data" / "v3-aw", date(2025, 9, 9), date(2025, 9, 11))
    return loaded.features.sort_values(["user_id", "bucket_start_ts"]).reset_index(drop=True)


def test_the_fixture_has_six_scenarios_of_1351_rows() -> None:
    assert SCENARIOS == ["policy-isotonic", "policy-mismatched-calibrator", "policy-per-user", "policy-stale",
                         "policy-temperature", "policy-threshold"]
    for scenario in SCENARIOS:
        assert json.loads((POLICY / scenario / "served.json").read_text())["rows"] == 1351


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_our_reading_of_the_deployment_is_what_taskclf_resolved(scenario: str, tmp_path: Path) -> None:
    served = json.loads((POLICY / scenario / "served.json").read_text())
    before = sorted((p.relative_to(POLICY / scenario), p.read_bytes()) for p in (POLICY / scenario).rglob("*") if p.is_file())
    deployment = inspect_deployment(_copy(tmp_path, scenario))
    path = deployment.served
    assert path.model_id == served["served_model_id"]
    assert path.source == served["resolved_from"]
    assert path.fallback is None and path.error is None
    assert path.reject_threshold == served["reject_threshold"]
    assert path.per_user_thresholds == (served["per_user_reject_thresholds"] or {})
    store = served["calibrator_store"]
    if store is None:
        assert path.store is None
    else:
        assert path.store is not None
        record = path.store.record
        assert (record.method, record.model_bundle_id, record.model_schema_hash) == (
            store["method"], store["model_bundle_id"], store["model_schema_hash"])
        assert record.temperatures.get("global") == store["global_temperature"]
        assert sorted(record.calibrators.user_calibrators) == sorted(store["user_calibrators"])
        for uid, cal in store["user_calibrators"].items():
            assert record.temperatures.get(uid) == cal["temperature"]
    # the batch path serves active.json's model, raw, at 0.55
    active = json.loads((POLICY / scenario / "models" / "active.json").read_text())
    assert (deployment.batch.model_id, deployment.batch.reject_threshold, deployment.batch.store) == (
        active["model_id"], 0.55, None)
    after = sorted((p.relative_to(POLICY / scenario), p.read_bytes()) for p in (POLICY / scenario).rglob("*") if p.is_file())
    assert before == after  # reading wrote nothing


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_champion_as_served_reproduces_predictions_csv_on_every_row(
    scenario: str, rows: pd.DataFrame, tmp_path: Path
) -> None:
    expected = pd.read_csv(POLICY / scenario / "predictions.csv")
    assert len(expected) == len(rows) == 1351
    assert [ts.isoformat() for ts in rows["bucket_start_ts"]] == list(expected["bucket_start_ts"])
    champion = load_champion(_copy(tmp_path, scenario))  # the pipeline's own loading of the champion
    assert champion.error is None and champion.model is not None
    raw = predict_proba(champion.model.booster, rows, champion.model.feature_names, champion.model.encoders)
    out = serve(raw, rows["user_id"].astype("str").to_numpy(), champion.rule)
    assert np.array_equal(raw, expected[RAW].to_numpy())
    largest = float(np.max(np.abs(out.proba - expected[CAL].to_numpy())))
    assert largest <= TOLERANCE, f"{scenario}: largest calibrated difference {largest}"
    if "temperature" not in json.dumps(json.loads((POLICY / scenario / "served.json").read_text())["calibrator_store"]):
        assert np.array_equal(out.proba, expected[CAL].to_numpy())  # identity and isotonic: exact
    assert list(out.routes) == list(expected["calibrator"])
    assert np.array_equal(out.thresholds, expected["reject_threshold"].to_numpy())
    names = np.asarray([*LABELS, REJECT_LABEL], dtype=object)
    assert list(names[out.argmax]) == list(expected["argmax_label"])
    assert list(names[out.pred]) == list(expected["label_after_reject"])
    served = json.loads((POLICY / scenario / "served.json").read_text())
    assert int((out.pred == len(LABELS)).sum()) == served["rejected"]


def test_the_batch_path_of_the_per_user_policy_ignores_per_user_thresholds(rows: pd.DataFrame, tmp_path: Path) -> None:
    expected = pd.read_csv(POLICY / "policy-per-user" / "predictions.csv")
    home = _copy(tmp_path, "policy-per-user")
    deployment = inspect_deployment(home)
    champion = load_champion(home)
    assert champion.model is not None
    raw = predict_proba(champion.model.booster, rows, champion.model.feature_names, champion.model.encoders)
    users = rows["user_id"].astype("str").to_numpy()
    # what run_batch_inference gives with the same config: the policy's store, one global threshold
    batch_rule = type(champion.rule)(champion.rule.calibrators, champion.rule.reject_threshold, {})
    out = serve(raw, users, batch_rule)
    names = np.asarray([*LABELS, REJECT_LABEL], dtype=object)
    assert list(names[out.pred]) == list(expected["batch_label_after_reject"])
    assert np.array_equal(out.thresholds, expected["batch_reject_threshold"].to_numpy())
    differ = int((expected["batch_label_after_reject"] != expected["label_after_reject"]).sum())
    assert differ == 76
    assert [p.code for p in deployment.problems] == ["per_user_paths"]


def test_stale_and_mismatched_deployments_are_problems_with_their_fix(tmp_path: Path) -> None:
    stale = inspect_deployment(_copy(tmp_path, "policy-stale"))
    problem = stale.problems[0]
    assert problem.code == "policy_active_differ" and problem.severity == "error"
    assert f"serves {A}" in problem.what and f"active.json names {B}" in problem.what
    assert "promote or roll back from the console" in problem.fix
    assert (stale.served.model_id, stale.batch.model_id) == (A, B)

    mismatched = inspect_deployment(_copy(tmp_path, "policy-mismatched-calibrator"))
    codes = [p.code for p in mismatched.problems]
    assert codes == ["policy_active_differ", "store_other_model"]
    other = mismatched.problems[1]
    assert f"fitted for {A}, but the policy serves {B}" in other.what
    assert "refit the calibrator" in other.fix

    for clean in ("policy-threshold", "policy-temperature", "policy-isotonic"):
        assert inspect_deployment(_copy(tmp_path, clean)).problems == ()


# --------------------------------------------------------------------------- probes


def _edit_policy(home: Home, change: Any) -> None:
    path = home.models_dir / "inference_policy.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


def _pop(key: str) -> Any:
    return lambda d: d.pop(key)


def _set(key: str, value: Any) -> Any:
    return lambda d: d.__setitem__(key, value)


def _edit_store(home: Home, key: str, value: Any) -> None:
    path = home.root / "artifacts" / "calibrator_store" / "store.json"
    data = json.loads(path.read_text())
    data[key] = value
    path.write_text(json.dumps(data, indent=2))


#: Each probe of probes.json: the edit it names, applied to a copy of its base scenario.
PROBES: dict[str, Any] = {
    "baseline-temperature": lambda h: None,
    "policy-not-json": lambda h: (h.models_dir / "inference_policy.json").write_text("{not json"),
    "policy-missing-reject_threshold": lambda h: _edit_policy(h, _pop("reject_threshold")),
    "policy-missing-model_schema_hash": lambda h: _edit_policy(h, _pop("model_schema_hash")),
    "policy-version-v2": lambda h: _edit_policy(h, _set("policy_version", "v2")),
    "policy-threshold-is-string": lambda h: _edit_policy(h, _set("reject_threshold", "0.9")),
    "policy-threshold-1.5": lambda h: _edit_policy(h, _set("reject_threshold", 1.5)),
    "policy-unknown-key": lambda h: _edit_policy(h, _set("_help", "ignored")),
    "policy-model_dir-missing": lambda h: _edit_policy(h, _set("model_dir", "models/no-such-run")),
    "policy-model_dir-bare-run-id": lambda h: _edit_policy(h, _set("model_dir", A)),
    "policy-model_dir-absolute": lambda h: _edit_policy(h, _set("model_dir", str(h.models_dir / A))),
    "policy-wrong-schema-hash": lambda h: _edit_policy(h, _set("model_schema_hash", "000000000000")),
    "policy-wrong-label-set": lambda h: _edit_policy(h, _set("model_label_set", ["Build", "Debug"])),
    "policy-calibration_method-says-isotonic": lambda h: _edit_policy(h, _set("calibration_method", "isotonic")),
    "policy-store-dir-missing": lambda h: _edit_policy(h, _set("calibrator_store_dir", "artifacts/no-such-store")),
    "store-json-missing": lambda h: (h.root / "artifacts" / "calibrator_store" / "store.json").unlink(),
    "store-schema-hash-differs": lambda h: _edit_store(h, "model_schema_hash", "4077fe0dba70"),
    "store-user-file-missing": lambda h: (h.root / "artifacts" / "calibrator_store" / "users" / f"{DEV}.json").unlink(),
    "policy-model_dir-not-a-bundle": lambda h: ((h.models_dir / "empty-dir").mkdir(),
                                                _edit_policy(h, _set("model_dir", "models/empty-dir"))),
    "active-json-missing-policy-valid": lambda h: (h.models_dir / "active.json").unlink(),
    "stale-policy-not-json": lambda h: (h.models_dir / "inference_policy.json").write_text("{not json"),
    "stale-policy-model_dir-missing": lambda h: _edit_policy(h, _set("model_dir", "models/no-such-run")),
    "mismatched-policy-removed": lambda h: (h.models_dir / "inference_policy.json").unlink(),
}
PROBE_RECORDS = json.loads((POLICY / "probes.json").read_text())


def test_every_probe_of_the_fixture_is_covered() -> None:
    assert sorted(PROBES) == sorted(PROBE_RECORDS)


@pytest.mark.parametrize("name", sorted(PROBES))
def test_probe_resolves_as_taskclf_did(name: str, rows: pd.DataFrame, tmp_path: Path) -> None:
    record = PROBE_RECORDS[name]
    home = _copy(tmp_path, record["base"])
    PROBES[name](home)
    deployment = inspect_deployment(home)
    path = deployment.served
    if record["outcome"] == "exception":
        assert path.error is not None, f"{name}: taskclf raised ({record['exception']}); we serve {path.model_id}"
        assert any(p.code == "policy_unservable" for p in deployment.problems)
        return
    assert path.error is None
    assert path.model_id == record["served_model"]
    assert (path.source == "inference_policy.json") == record["policy_used"]
    assert path.reject_threshold == record["reject_threshold"]
    assert (path.store is not None) == (record["calibrator_store"] is not None)
    if not record["policy_used"] and name != "mismatched-policy-removed":
        assert path.fallback is not None  # why the policy was not used, shown as a problem
        assert deployment.problems[0].code == "policy_ignored"
    champion = load_champion(home)
    assert champion.model is not None
    raw = predict_proba(champion.model.booster, rows, champion.model.feature_names, champion.model.encoders)
    rule = path.rule if path.source == "inference_policy.json" else champion.rule
    out = serve(raw, rows["user_id"].astype("str").to_numpy(), rule)
    assert int((out.pred == len(LABELS)).sum()) == record["rejected"], name


# --------------------------------------------------------------------------- fitting as taskclf


@pytest.fixture(scope="module")
def taskclf_validation(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """taskclf's validation split of v3-aw (README: developer 97 rows 2025-09-11 08:56-12:51,
    manager 62 rows 2025-09-10 15:33 to 2025-09-11 12:00), with model A's raw probabilities."""
    loaded = load_data_dir(FIXTURES / "taskclf-data" / "v3-aw", date(2025, 9, 9), date(2025, 9, 11))
    codes = project_codes(rows, loaded.spans)
    ts = rows["bucket_start_ts"]
    dev = (rows["user_id"] == DEV) & (ts >= pd.Timestamp("2025-09-11 08:56Z")) & (ts <= pd.Timestamp("2025-09-11 12:51Z"))
    mgr = (rows["user_id"] == MGR) & (ts >= pd.Timestamp("2025-09-10 15:33Z")) & (ts <= pd.Timestamp("2025-09-11 12:00Z"))
    mask = (dev | mgr).to_numpy() & (codes >= 0)
    raw = pd.read_csv(POLICY / "policy-temperature" / "predictions.csv")[RAW].to_numpy()
    return {"y": codes[mask], "raw": raw[mask], "users": rows["user_id"].astype("str").to_numpy()[mask],
            "days": ts[mask].dt.strftime("%Y-%m-%d").to_numpy()}


def test_the_validation_split_is_taskclfs(taskclf_validation: dict[str, np.ndarray]) -> None:
    users = taskclf_validation["users"]
    assert (len(users), int((users == DEV).sum()), int((users == MGR).sum())) == (159, 97, 62)


@pytest.mark.parametrize("method", ["temperature", "isotonic"])
def test_calibrators_are_fitted_as_taskclfs_train_calibrate(method: str, taskclf_validation: dict[str, np.ndarray]) -> None:
    v = taskclf_validation
    calibrators, eligibility = fit_calibrator_set(method, v["y"], v["raw"], v["users"], v["days"], EligibilityRule(80, 1, 3))
    assert [(e.user_id, e.windows, e.days, e.labels, e.eligible) for e in eligibility] == [
        (DEV, 97, 1, 4, True), (MGR, 62, 2, 4, False)]
    files = store_file_bytes(calibrators, model_bundle_id=A, model_schema_hash="7f29b4b8795e", created_at="x")
    store = POLICY / f"policy-{method}" / "artifacts" / "calibrator_store"
    for rel in ("global.json", f"users/{DEV}.json"):
        assert files[rel] == (store / rel).read_bytes(), f"{method} {rel}"
    # with taskclf's defaults (200 windows, 3 days, 3 labels) nobody qualifies
    _, defaults = fit_calibrator_set(method, v["y"], v["raw"], v["users"], v["days"])
    assert not any(e.eligible for e in defaults)


@pytest.mark.parametrize(
    ("report", "store_scenario", "user"),
    [
        ("policy-threshold/artifacts/reject_tuning.json", None, None),
        ("policy-temperature/artifacts/reject_tuning.json", "policy-temperature", None),
        ("policy-isotonic/artifacts/reject_tuning.json", "policy-isotonic", None),
        (f"policy-per-user/artifacts/reject_tuning_{MGR}.json", "policy-per-user", MGR),
    ],
)
def test_tune_reject_reproduces_taskclfs_sweep(
    report: str, store_scenario: str | None, user: str | None, taskclf_validation: dict[str, np.ndarray]
) -> None:
    v = taskclf_validation
    rows = v["users"] == user if user else np.ones(len(v["y"]), dtype=bool)
    scores = v["raw"][rows]
    if store_scenario is not None:
        store = read_store(POLICY / store_scenario / "artifacts" / "calibrator_store").calibrators
        # tune-reject scores every row with the store's global calibrator (the per-user sweep:
        # that user's calibrator, which for the manager is the global one)
        scores = (store.for_user(user) if user else store.global_calibrator).apply(scores)
    expected = json.loads((POLICY / report).read_text())
    tuned = tune_reject_threshold(v["y"][rows], scores)
    assert tuned.best_threshold == expected["best_threshold"]
    assert [vars(point) for point in tuned.sweep] == expected["sweep"]
