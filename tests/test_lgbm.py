"""Training: deterministic bytes, categoricals with an unknown token, missing numbers as 0,
and training on the data directories taskclf itself wrote (v1, v2, v3)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from taskclf_core.data.datadir import load_data_dir
from taskclf_core.data.projection import project_spans
from taskclf_core.data.schema import DEFAULT_REJECT_THRESHOLD, FEATURES, LABELS
from taskclf_core.data.split import split_by_time
from taskclf_core.data.synthetic import generate_team
from taskclf_core.model.evaluation import apply_reject, evaluate_predictions
from taskclf_core.model.lgbm import class_weights, label_codes, train_lgbm
from taskclf_core.model.serving import UNKNOWN_TOKEN, feature_matrix, predict_proba
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


def test_categoricals_use_a_vocabulary_with_unknown_token_and_missing_numbers_are_zero():
    team = generate_team("default", users=1, days=3, date_to=date(2025, 7, 3), seed=0)
    labelled = project_spans(team.features, team.spans)
    model = train_lgbm(labelled, schema_version="v1", num_boost_round=3)
    vocab = model.encoders["app_id"]
    assert vocab == sorted(vocab) and UNKNOWN_TOKEN in vocab
    rows = labelled.head(3).copy()
    rows["app_id"] = ["never.seen.app", None, rows["app_id"].iloc[2]]
    rows["keys_per_min"] = [np.nan, 0.0, 5.0]
    X = feature_matrix(rows, model.feature_names, model.encoders)
    assert X.dtype == np.float64
    col = model.feature_names.index("app_id")
    # unseen and null categories both take the unknown token's code, as taskclf serves them
    assert X[0, col] == X[1, col] == vocab.index(UNKNOWN_TOKEN)
    keys = model.feature_names.index("keys_per_min")
    assert X[0, keys] == 0.0 and X[2, keys] == 5.0  # taskclf fills missing numbers with 0
    assert not np.isnan(X).any()
    infos = model.booster.dump_model()["feature_infos"]
    # LightGBM lists the categories of a categorical feature, none for a numeric one
    assert len(infos["app_id"]["values"]) > 5 and infos["keys_per_min"]["values"] == []
    assert model.feature_names[-1] == "user_id" and len(infos["user_id"]["values"]) >= 1


def test_training_masks_rare_values_and_a_seeded_five_percent_per_user_day_to_unknown():
    from taskclf_core.model.encoding import fit_training_codes

    # Two users; user "u" has 404 windows on one day, user "w" 200 on each of two days.
    start = pd.Timestamp("2025-07-01 00:00", tz="UTC")
    u_ts = pd.date_range(start, periods=404, freq="min")
    w_ts = pd.date_range(start, periods=200, freq="min").append(pd.date_range(start + pd.Timedelta(days=1),
                                                                              periods=200, freq="min"))
    frame = pd.DataFrame({
        "user_id": ["u"] * 404 + ["w"] * 400,
        "bucket_start_ts": u_ts.append(w_ts),
        "app_id": ["a"] * 300 + ["b"] * 100 + ["rare"] * 4 + ["a"] * 400,
        "app_category": ["x"] * 804,
    })
    fitted = fit_training_codes(frame, ["app_id", "app_category"], seed=7)
    assert fitted.encoders["app_id"] == ["__unknown__", "a", "b"]  # "rare" (4 < 5) is gone
    unknown = fitted.codes["app_id"] == 0.0
    # the 4 rare rows, plus round(400 * 0.05) = 20 of u's day and round(200 * 0.05) = 10 of each of w's
    assert unknown[400:404].all()
    assert (unknown[:400].sum(), unknown[404:604].sum(), unknown[604:].sum()) == (20, 10, 10)
    category = fitted.codes["app_category"] == 0.0
    assert (category[:404].sum(), category[404:604].sum(), category[604:].sum()) == (20, 10, 10)
    assert not np.array_equal(category[:404], unknown[:404])  # each column draws its own rows
    # The draw reads the rows, not their order: shuffled rows mask the same windows.
    shuffled = frame.sample(frac=1.0, random_state=3)
    again = fit_training_codes(shuffled, ["app_id", "app_category"], seed=7)
    assert np.array_equal(again.codes["app_id"][np.argsort(shuffled.index.to_numpy())], fitted.codes["app_id"])
    other = fit_training_codes(frame, ["app_id", "app_category"], seed=8)
    assert not np.array_equal(other.codes["app_id"], fitted.codes["app_id"])


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
    test = labelled.iloc[parts["test"]].reset_index(drop=True)
    proba = predict_proba(model.booster, test, model.feature_names, model.encoders)
    pred = apply_reject(proba, DEFAULT_REJECT_THRESHOLD)
    report = evaluate_predictions("challenger", label_codes(test["label"]), pred, test["user_id"].to_numpy(), proba=proba)
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
