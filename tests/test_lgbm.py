"""Training: deterministic bytes, categoricals with an unknown token, nulls kept missing,
and training on the data directories taskclf itself wrote (v1, v2, v3)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from taskclf_core.data.datadir import load_data_dir
from taskclf_core.data.projection import project_spans
from taskclf_core.data.schema import FEATURES, LABELS
from taskclf_core.data.split import split_by_time
from taskclf_core.data.synthetic import generate_team
from taskclf_core.model.evaluation import evaluate_model
from taskclf_core.model.lgbm import UNKNOWN_TOKEN, class_weights, feature_matrix, train_lgbm
from taskclf_core.train.retrain import compute_dataset_hash

FIXTURES = "tests/fixtures/taskclf-data"
JULY = (date(2025, 7, 1), date(2025, 7, 3))


def test_same_seed_gives_the_same_dataset_hash_and_model_bytes():
    a = generate_team("default", users=2, days=7, date_to=date(2025, 7, 7), seed=11)
    b = generate_team("default", users=2, days=7, date_to=date(2025, 7, 7), seed=11)
    other = generate_team("default", users=2, days=7, date_to=date(2025, 7, 7), seed=12)
    assert compute_dataset_hash(a.features, a.spans) == compute_dataset_hash(b.features, b.spans)
    assert compute_dataset_hash(other.features, other.spans) != compute_dataset_hash(a.features, a.spans)
    models = []
    for team in (a, b):
        labelled = project_spans(team.features, team.spans)
        train = labelled.iloc[split_by_time(labelled)["train"]]
        models.append(train_lgbm(train, schema_version="v1", num_boost_round=15, seed=0).model_text().encode())
    assert models[0] == models[1]


def test_categoricals_use_a_vocabulary_with_unknown_token_and_nulls_stay_missing():
    team = generate_team("default", users=1, days=3, date_to=date(2025, 7, 3), seed=0)
    labelled = project_spans(team.features, team.spans)
    model = train_lgbm(labelled, schema_version="v1", num_boost_round=3)
    vocab = model.encoders["app_id"]
    assert vocab == sorted(vocab) and UNKNOWN_TOKEN in vocab
    rows = labelled.head(3).copy()
    rows["app_id"] = ["never.seen.app", None, rows["app_id"].iloc[2]]
    rows["keys_per_min"] = [np.nan, 0.0, 5.0]
    X = feature_matrix(rows, model.feature_names, model.encoders)
    col = model.feature_names.index("app_id")
    assert X[0, col] == vocab.index(UNKNOWN_TOKEN) and np.isnan(X[1, col])
    keys = model.feature_names.index("keys_per_min")
    assert np.isnan(X[0, keys]) and X[1, keys] == 0.0  # null is not zero activity
    infos = model.booster.dump_model()["feature_infos"]
    # LightGBM lists the categories of a categorical feature, none for a numeric one
    assert len(infos["app_id"]["values"]) > 5 and infos["keys_per_min"]["values"] == []


def test_balanced_class_weights():
    y = np.array([0, 0, 0, 1])
    w = class_weights(y, "balanced")
    assert list(w) == pytest.approx([4 / 6, 4 / 6, 4 / 6, 2.0])
    assert class_weights(y, "none") is None


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
def test_trains_and_evaluates_on_data_written_by_taskclf(version):
    user = "94f7f790-6ac8-5241-8e27-6c984d608741" if version == "v2" else None
    loaded = load_data_dir(f"{FIXTURES}/{version}", *JULY, user_id=user)
    labelled = project_spans(loaded.features, loaded.spans)
    assert len(labelled) == len(loaded.features)  # the fixture spans tile every row
    parts = split_by_time(labelled)
    model = train_lgbm(labelled.iloc[parts["train"]], schema_version=version, num_boost_round=10)
    assert model.feature_names == list(FEATURES[version])
    report, pred = evaluate_model(model, labelled.iloc[parts["test"]].reset_index(drop=True))
    assert report.n_rows == len(parts["test"]) == len(pred)
    assert 0.0 <= report.macro_f1 <= 1.0 and len(report.confusion_matrix) == len(LABELS)
    assert isinstance(report.per_user, dict) and report.per_user


def test_missing_feature_column_is_a_clear_error():
    team = generate_team("default", users=1, days=2, date_to=date(2025, 7, 2), seed=0)
    labelled = project_spans(team.features, team.spans)
    model = train_lgbm(labelled, schema_version="v1", num_boost_round=2)
    from taskclf_core.errors import DataError

    with pytest.raises(DataError, match="the model needs 1 feature column\\(s\\) the data lacks: keys_per_min"):
        feature_matrix(labelled.drop(columns=["keys_per_min"]), model.feature_names, model.encoders)
