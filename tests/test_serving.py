"""Our prediction path reproduces taskclf's own predictions on taskclf-made bundles.

The bundles, the input rows and taskclf's probabilities are in
``tests/fixtures/upstream-registry`` (made by taskclf 0.4.15's own code; see its README).
Every row is compared, including rows with null numbers and unseen categories.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import lightgbm
import numpy as np
import pandas as pd
import pytest

from taskclf_core.data.datadir import load_data_dir
from taskclf_core.data.schema import CATEGORICAL_BY_VERSION, FEATURES, LABELS, REJECT_LABEL
from taskclf_core.model.evaluation import apply_reject
from taskclf_core.model.serving import category_codes, predict_proba

FIXTURES = Path(__file__).parent / "fixtures"
UPSTREAM = FIXTURES / "upstream-registry"
FACTS = json.loads((UPSTREAM / "upstream_facts.json").read_text())
CASES = {
    # schema: (data folder, first day, last day, user of v2 rows)
    "v1": ("taskclf-data/v1", date(2025, 7, 1), date(2025, 7, 3), None),
    "v2": ("taskclf-data/v2", date(2025, 7, 1), date(2025, 7, 3), "94f7f790-6ac8-5241-8e27-6c984d608741"),
    "v3": ("taskclf-data/v3-aw", date(2025, 9, 9), date(2025, 9, 11), None),
}
PROBA_COLUMNS = [f"p_{label}" for label in LABELS]


def _bundle(version: str) -> tuple[lightgbm.Booster, dict[str, list[str]], dict]:
    folder = UPSTREAM / version / "models" / FACTS["bundles_in_this_fixture"][version]["run_id"]
    booster = lightgbm.Booster(model_file=str(folder / "model.txt"))
    encoders = json.loads((folder / "categorical_encoders.json").read_text())
    metadata = json.loads((folder / "metadata.json").read_text())
    return booster, encoders, metadata


def _compare(version: str, ours: np.ndarray, expected: pd.DataFrame, what: str) -> None:
    theirs = expected[PROBA_COLUMNS].to_numpy(dtype=np.float64)
    assert ours.shape == theirs.shape
    delta = float(np.max(np.abs(ours - theirs)))
    assert delta <= 1e-9, f"{version} {what}: max |dp| {delta}"
    argmax = [LABELS[i] for i in ours.argmax(axis=1)]
    assert argmax == list(expected["argmax_label"])
    names = [*LABELS, REJECT_LABEL]
    after_reject = [names[code] for code in apply_reject(ours, FACTS["default_reject_threshold"])]
    assert after_reject == list(expected["label_after_reject"])


def test_our_feature_lists_are_taskclfs() -> None:
    for version, facts in FACTS["schemas"].items():
        assert list(FEATURES[version]) == facts["model_feature_columns"]
        assert list(CATEGORICAL_BY_VERSION[version]) == facts["categorical_columns"]


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
def test_predictions_on_taskclf_bundles_match_taskclf_on_every_row(version: str) -> None:
    folder, first, last, user = CASES[version]
    booster, encoders, metadata = _bundle(version)
    assert booster.feature_name() == list(FEATURES[metadata["schema_version"]])
    loaded = load_data_dir(FIXTURES / folder, first, last, user_id=user)
    expected = pd.read_csv(UPSTREAM / version / "predictions.csv")
    key = ["bucket_start_ts"] if version == "v2" else ["user_id", "bucket_start_ts"]
    rows = loaded.features.sort_values(key).reset_index(drop=True)
    assert len(rows) == len(expected)
    stamps = [ts.isoformat() for ts in rows["bucket_start_ts"]]
    assert stamps == list(expected["bucket_start_ts"])
    numeric = [c for c in FEATURES[version] if c not in encoders]
    assert rows[numeric].isna().any(axis=1).sum() > 0  # rows with nulls are among those compared
    ours = predict_proba(booster, rows, booster.feature_name(), encoders)
    _compare(version, ours, expected, "predictions.csv")


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
def test_unseen_categories_are_coded_and_predicted_as_taskclf_does(version: str) -> None:
    booster, encoders, _ = _bundle(version)
    rows = pd.read_parquet(UPSTREAM / version / "unseen" / "features.parquet")
    expected = pd.read_csv(UPSTREAM / version / "unseen" / "predictions.csv")
    for column in ("app_id", "app_category", "domain_category"):
        codes = category_codes(rows[column], encoders[column])
        assert list(codes.astype(int)) == list(expected[f"code_{column}"])
    ours = predict_proba(booster, rows, booster.feature_name(), encoders)
    _compare(version, ours, expected, "unseen/predictions.csv")


def test_null_and_unseen_values_take_the_unknown_code_or_minus_one() -> None:
    column = pd.Series(["b", None, "zz", "a"], dtype="string")
    assert list(category_codes(column, ["b", "__unknown__", "a"])) == [2.0, 0.0, 0.0, 1.0]
    # a legacy vocabulary without the token: unseen and null are -1, as in taskclf
    assert list(category_codes(column, ["a", "b"])) == [1.0, -1.0, -1.0, 0.0]
