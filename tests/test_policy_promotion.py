"""A promotion deploys what taskclf serves; a rollback gives the old deployment back, byte for byte.

In a copy of the fixture's ``policy-temperature`` home (taskclf's own policy: model A, a
temperature store, threshold 0.9 from ``tune-reject``) the console retrains on the real
taskclf data, signs the run off, and then taskclf's resolution and serving steps, written
independently from the fixture README (``tests/taskclf_policy_rules.py``) and taskclf's
bundle serving (``tests/taskclf_serving.py``), must give the new model, a calibrator store
bound to it and the new threshold, and reproduce the served figures Review showed.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import taskclf_policy_rules as taskclf_rules
import taskclf_serving

from taskclf_core.console.read import review
from taskclf_core.console.request import RetrainRequest
from taskclf_core.console.service import rollback_model, run_retrain
from taskclf_core.data.datadir import load_data_dir
from taskclf_core.data.schema import LABELS, REJECT_LABEL
from taskclf_core.paths import Home
from taskclf_core.registry.deployment import inspect_deployment
from taskclf_core.registry.history import read_history
from tests.helpers_upstream import DATA, A, sample_config, upstream_home


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def promoted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Home, str, dict[str, bytes]]:
    """The fixture home after a console retrain and its sign-off."""
    root = upstream_home(tmp_path_factory.mktemp("policy") / "home")
    original = _tree(root)
    (root / "configs").mkdir()
    (root / "configs" / "retrain.yaml").write_text(sample_config(macro_f1=0.3, reject_rate_max=0.6, num_boost_round=30))
    home = Home.resolve(root)
    result = run_retrain(home, RetrainRequest(force=True, data_dir=DATA, date_from=date(2025, 9, 9),
                                              date_to=date(2025, 9, 11)))
    assert result.outcome == "awaiting_signoff", result.reason
    review.sign_off(home, result.run_id, approver="alice", note="deploy the policy")
    return home, result.run_id, original


def test_taskclf_serves_the_new_model_with_a_store_bound_to_it_and_the_new_threshold(
    promoted: tuple[Home, str, dict[str, bytes]],
) -> None:
    home, run_id, _ = promoted
    deployment = json.loads((home.root / "artifacts" / "runs" / run_id / "deployment.json").read_text())
    resolved = taskclf_rules.resolve(home.models_dir)
    assert resolved.from_policy and resolved.model_dir.name == run_id
    assert resolved.threshold == deployment["reject_threshold"]
    assert resolved.store_dir is not None and resolved.store_dir.name == run_id
    store = json.loads((resolved.store_dir / "store.json").read_text())
    assert store["model_bundle_id"] == run_id and store["method"] == "temperature"
    assert resolved.global_cal == deployment["global_calibrator"]
    # infer batch (active.json) moved too: no taskclf path is left on the old model
    active = json.loads((home.models_dir / "active.json").read_text())
    assert active["model_dir"] == f"models/{run_id}"
    # the store is never edited in place: taskclf's original store is untouched
    assert (home.root / "artifacts" / "calibrator_store" / "store.json").is_file()
    assert inspect_deployment(home).problems == ()


def test_taskclf_serving_reproduces_the_served_figures_review_showed(
    promoted: tuple[Home, str, dict[str, bytes]],
) -> None:
    home, run_id, _ = promoted
    run = home.root / "artifacts" / "runs" / run_id
    rows = pd.read_parquet(run / "served_rows.parquet")
    rv = review.run_review(home, run_id)
    assert rv.served is not None and rv.served.serving.judged == "served"
    shown = rv.reports["challenger"]  # the report Review's headline, gates and charts show
    assert shown is not None and shown.n_rows == len(rows)

    loaded = load_data_dir(DATA, date(2025, 9, 9), date(2025, 9, 11))
    features = loaded.features.set_index(["user_id", "bucket_start_ts"])
    test_rows = features.loc[list(zip(rows["user_id"], rows["bucket_start_ts"], strict=True))].reset_index()
    resolved = taskclf_rules.resolve(home.models_dir)
    raw = taskclf_serving.serve(resolved.model_dir, test_rows)
    served = taskclf_rules.serve_rows(resolved, raw, list(test_rows["user_id"].astype(str)))

    names = np.asarray([*LABELS, REJECT_LABEL], dtype=object)
    assert served.labels == list(names[rows["challenger_pred"].to_numpy()])
    assert np.array_equal(served.thresholds, rows["challenger_threshold"].to_numpy())
    largest = float(np.max(np.abs(served.proba.max(axis=1) - rows["challenger_confidence"].to_numpy())))
    assert largest <= 1e-15
    rejected = sum(label == REJECT_LABEL for label in served.labels)
    assert rejected / len(rows) == shown.reject_rate
    truth = names[rows["label"].to_numpy()]
    accepted = [i for i, label in enumerate(served.labels) if label != REJECT_LABEL]
    confusion = [[0] * len(LABELS) for _ in LABELS]
    for i in accepted:
        confusion[LABELS.index(truth[i])][LABELS.index(served.labels[i])] += 1
    assert confusion == shown.confusion_matrix


def test_rollback_gives_back_the_old_deployments_files_byte_for_byte(
    promoted: tuple[Home, str, dict[str, bytes]], tmp_path: Path
) -> None:
    home, run_id, original = promoted
    root = tmp_path / "home"
    shutil.copytree(home.root, root)  # the module's home stays promoted for the other tests
    copy = Home.resolve(root)
    entry = rollback_model(copy, A, approver="bob", note="back to taskclf's deployment", expected_champion=run_id)
    assert entry.deployment_before is not None and entry.deployment_before.model_id == run_id
    assert entry.deployment_after is not None and entry.deployment_after.model_id == A
    now = _tree(root)
    for name in ("models/inference_policy.json", *[k for k in original if k.startswith("artifacts/calibrator_store/")],
                 *[k for k in original if k.startswith(f"models/{A}/")]):
        assert now[name] == original[name], name
    resolved = taskclf_rules.resolve(copy.models_dir)
    assert (resolved.model_dir.name, resolved.threshold, resolved.store_dir) == (
        A, 0.9, root / "artifacts" / "calibrator_store")
    assert json.loads((copy.models_dir / "active.json").read_text())["model_id"] == A
    actions = [e.action for e in read_history(copy)]
    assert actions[:2] == ["rollback", "promote"]
