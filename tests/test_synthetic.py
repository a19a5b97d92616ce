"""The synthetic team generator: layout, values, determinism, scenarios, errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from taskclf_core.data import schema
from taskclf_core.data.synthetic import SCENARIOS, generate_team
from taskclf_core.errors import ConfigError

LAST_DAY = date(2025, 7, 14)
STRING_COLUMNS = (
    "user_id",
    "session_id",
    "schema_version",
    "schema_hash",
    "app_id",
    "app_category",
    "window_title_hash",
    "domain_category",
)
TIMESTAMP = "datetime64[us, UTC]"


@pytest.fixture(scope="module")
def team() -> object:
    return generate_team(users=3, days=7, date_to=LAST_DAY, seed=0)


def _labellable_windows(spans: pd.DataFrame) -> int:
    """Whole minutes inside the spans: an upper bound on what projection can label."""
    epoch = pd.Timestamp(0, tz="UTC")
    first = np.ceil((spans["start_ts"] - epoch) / pd.Timedelta(minutes=1))  # first whole minute
    last = np.floor((spans["end_ts"] - epoch) / pd.Timedelta(minutes=1))  # end of the last one
    return int(np.maximum(0, last - first).sum())


def test_default_team_has_every_label_as_spans(team) -> None:
    assert set(team.spans["label"]) == set(schema.LABELS)
    assert team.spans.groupby("label").size().min() >= 5


def test_team_metadata_echoes_the_arguments(team) -> None:
    assert (team.scenario, team.seed, team.users) == ("default", 0, 3)
    assert (team.date_from, team.date_to) == (date(2025, 7, 8), LAST_DAY)
    assert team.features["user_id"].nunique() == 3


def test_same_arguments_give_identical_frames() -> None:
    first = generate_team("drift", users=2, days=3, date_to=LAST_DAY, seed=7)
    second = generate_team("drift", users=2, days=3, date_to=LAST_DAY, seed=7)
    pd.testing.assert_frame_equal(first.features, second.features)
    pd.testing.assert_frame_equal(first.spans, second.spans)


def test_different_seed_gives_different_data() -> None:
    a = generate_team(users=2, days=2, date_to=LAST_DAY, seed=0)
    b = generate_team(users=2, days=2, date_to=LAST_DAY, seed=1)
    assert set(a.features["user_id"]).isdisjoint(b.features["user_id"])
    assert not a.features["keys_per_min"].head(200).equals(b.features["keys_per_min"].head(200))
    assert not a.spans["start_ts"].equals(b.spans["start_ts"])


def test_users_keep_their_ids_whatever_the_team_size() -> None:
    small = generate_team(users=2, days=1, date_to=LAST_DAY).features["user_id"]
    large = generate_team(users=4, days=1, date_to=LAST_DAY).features["user_id"]
    assert set(small) < set(large)


def test_columns_and_dtypes_follow_the_v1_layout(team) -> None:
    df = team.features
    assert tuple(df.columns) == schema.COLUMNS["v1"]
    for column in ("bucket_start_ts", "bucket_end_ts"):
        assert str(df[column].dtype) == TIMESTAMP
    for column in STRING_COLUMNS:
        assert df[column].dtype == "str", column
    for column in schema.BOOL_FEATURES:
        assert df[column].dtype == bool, column
    for column in schema.INT_FEATURES:
        assert df[column].dtype == np.int64, column
    numeric = set(schema.CORE_FEATURES) - set(schema.CATEGORICAL_FEATURES)
    for column in numeric - set(schema.BOOL_FEATURES) - set(schema.INT_FEATURES):
        assert df[column].dtype == np.float64, column
    assert df["device_id"].dtype == "str" and df["device_id"].isna().all()
    assert set(df["schema_version"]) == {"v1"}
    assert set(df["schema_hash"]) == {schema.SCHEMA_HASHES["v1"]}
    assert all(isinstance(ids, list) and len(ids) == 1 for ids in df["source_ids"])


def test_span_frame_follows_the_span_conventions(team) -> None:
    spans = team.spans
    assert tuple(spans.columns) == schema.SPAN_COLUMNS
    assert str(spans["start_ts"].dtype) == TIMESTAMP and str(spans["end_ts"].dtype) == TIMESTAMP
    assert spans["label"].dtype == "str" and spans["user_id"].dtype == "str"
    assert spans["confidence"].dtype == np.float64 and spans["extend_forward"].dtype == bool
    assert set(spans["provenance"]) == {"synthetic"}
    assert not spans["extend_forward"].any()
    assert (spans["end_ts"] > spans["start_ts"]).all()
    assert set(spans["user_id"]) <= set(team.features["user_id"])
    assert spans["confidence"].dropna().between(0, 1).all() and spans["confidence"].isna().any()


def test_values_stay_in_their_ranges_and_domains(team) -> None:
    df = team.features
    for column, (low, high) in schema.VALUE_RANGES.items():
        if column not in df:
            continue
        values = df[column].dropna()
        assert low is None or (values >= low).all(), column
        assert high is None or (values <= high).all(), column
    assert set(df["app_category"]) <= set(schema.APP_CATEGORIES)
    assert set(df["domain_category"]) <= set(schema.DOMAIN_CATEGORIES)
    assert (df["domain_category"] == "non_browser").equals(~df["is_browser"])
    assert df["window_title_hash"].str.fullmatch(r"[0-9a-f]{12}").all()


def test_time_columns_agree_with_the_utc_timestamp(team) -> None:
    df = team.features
    start = df["bucket_start_ts"]
    assert (df["bucket_end_ts"] - start == pd.Timedelta(seconds=60)).all()
    assert (start.dt.second == 0).all()
    assert df["hour_of_day"].equals(start.dt.hour.astype(np.int64))
    assert df["day_of_week"].equals(start.dt.dayofweek.astype(np.int64))
    assert set(start.dt.date) == {LAST_DAY - timedelta(days=d) for d in range(7)}


def test_primary_key_is_unique_and_rows_are_in_user_time_order(team) -> None:
    df = team.features
    assert not df.duplicated(list(schema.PRIMARY_KEY)).any()
    ordered = df.sort_values(list(schema.PRIMARY_KEY), kind="stable")
    assert ordered.index.equals(df.index)


def test_every_day_has_working_hours_in_a_few_sessions(team) -> None:
    df = team.features
    per_day = df.groupby(["user_id", df["bucket_start_ts"].dt.date])
    rows = per_day.size()
    assert len(rows) == 3 * 7
    assert rows.between(300, 541).all()
    sessions = per_day["session_id"].nunique()
    assert sessions.max() >= 3 and sessions.mean() > 1.5


def test_collector_gaps_leave_input_columns_null_not_zero(team) -> None:
    df = team.features
    gaps = df["keys_per_min"].isna()
    assert 0 < gaps.mean() < 0.05
    assert df.loc[gaps, "active_seconds_any"].isna().all()
    non_nullable = [c for c in schema.CORE_FEATURES if c not in schema.NULLABLE_FEATURES]
    assert not df[non_nullable].isna().any().any()


def test_breaks_show_the_lockscreen(team) -> None:
    df = team.features
    spans = team.spans[team.spans["label"] == "BreakIdle"]
    in_break = np.zeros(len(df), dtype=bool)
    for span in spans.itertuples():
        in_break |= (
            (df["user_id"] == span.user_id)
            & (df["bucket_start_ts"] >= span.start_ts)
            & (df["bucket_end_ts"] <= span.end_ts)
        ).to_numpy()
    assert (df.loc[in_break, "app_category"] == "lockscreen").mean() > 0.4
    assert (df.loc[~in_break, "app_category"] == "lockscreen").mean() < 0.02


def test_some_span_edges_are_off_the_minute_and_some_windows_unlabelled(team) -> None:
    spans = team.spans
    off_minute = (spans["start_ts"].dt.second != 0) | (spans["end_ts"].dt.second != 0)
    assert 0.2 < off_minute.mean() < 0.8
    assert _labellable_windows(spans) < 0.95 * len(team.features)


def test_sparse_team_has_fewer_than_100_labellable_windows() -> None:
    sparse = generate_team("sparse", users=20, days=30, date_to=LAST_DAY)
    assert 0 < _labellable_windows(sparse.spans) < 100
    assert len(sparse.features) > 200_000


def test_scenarios_have_one_line_descriptions() -> None:
    assert set(SCENARIOS) == {"default", "drift", "noisy", "one_user_worse", "sparse"}
    for name, scenario in SCENARIOS.items():
        assert scenario.name == name
        assert scenario.description and "\n" not in scenario.description


def test_date_range_defaults_to_30_days_ending_today() -> None:
    team = generate_team(users=1, days=None)
    today = datetime.now(UTC).date()
    assert (team.date_from, team.date_to) in {
        (today - timedelta(days=29), today),
        (today - timedelta(days=30), today - timedelta(days=1)),  # midnight passed meanwhile
    }
    given = generate_team(users=1, date_from=date(2025, 7, 1), date_to=date(2025, 7, 3))
    assert (given.date_from, given.date_to) == (date(2025, 7, 1), date(2025, 7, 3))
    assert generate_team(users=1, days=2, date_from=date(2025, 7, 1)).date_to == date(2025, 7, 2)


def test_unknown_scenario_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ConfigError) as err:
        generate_team("chaos")
    assert (
        str(err.value) == "unknown synthetic scenario 'chaos'; known: default, drift, noisy, one_user_worse, sparse"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"users": 0}, "users must be a whole number >= 1; got 0"),
        ({"days": 0}, "days must be a whole number >= 1; got 0"),
        ({"seed": -1}, "seed must be a whole number >= 0; got -1"),
        (
            {"date_from": date(2025, 7, 3), "date_to": date(2025, 7, 1)},
            "date_from must not be after date_to; got 2025-07-03 > 2025-07-01",
        ),
        (
            {"days": 5, "date_from": date(2025, 7, 1), "date_to": date(2025, 7, 3)},
            "days=5 contradicts 2025-07-01..2025-07-03 (3 days); give the dates or days",
        ),
    ],
)
def test_out_of_range_arguments_are_refused_with_the_value(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        generate_team(**kwargs)
    assert str(err.value) == message


@pytest.mark.parametrize("version", ["v1", "v3"])
def test_default_team_trains_a_challenger_that_passes_every_acceptance_check(version: str) -> None:
    from taskclf_core.data.projection import project_spans
    from taskclf_core.data.split import split_by_time
    from taskclf_core.model.baseline import baseline_codes
    from taskclf_core.model.evaluation import apply_reject, evaluate_predictions
    from taskclf_core.model.lgbm import label_codes, train_lgbm
    from taskclf_core.model.serving import predict_proba

    team = generate_team(users=3, days=14, date_to=LAST_DAY, seed=0, schema_version=version)
    labelled = project_spans(team.features, team.spans)
    parts = split_by_time(labelled)
    model = train_lgbm(
        labelled.iloc[parts["train"]], schema_version=version, num_boost_round=30, num_threads=1
    )
    test = labelled.iloc[parts["test"]]
    y, users = label_codes(test["label"]), test["user_id"].to_numpy()
    proba = predict_proba(model.booster, test, model.feature_names, model.encoders)
    report = evaluate_predictions("challenger", y, apply_reject(proba, 0.55), users, proba=proba)
    baseline = evaluate_predictions("baseline", y, baseline_codes(test), users)
    assert report.acceptance_passed, report.acceptance_details
    assert report.macro_f1 > baseline.macro_f1
    assert 0.08 <= report.reject_rate <= 0.25


def test_team_round_trips_through_a_data_directory_unchanged(tmp_path) -> None:
    from taskclf_core.data.datadir import load_data_dir, write_data_dir
    from taskclf_core.data.featurecheck import validate_features

    team = generate_team(users=2, days=2, date_to=LAST_DAY, seed=3)
    validate_features(team.features, source="synthetic")
    write_data_dir(tmp_path, team.features, team.spans, version="v1")
    loaded = load_data_dir(tmp_path, team.date_from, team.date_to)
    back = loaded.features.sort_values(list(schema.PRIMARY_KEY)).reset_index(drop=True)
    # The loader keeps source_ids Arrow-backed; every other column comes back identical.
    pd.testing.assert_frame_equal(
        back.drop(columns="source_ids"), team.features.drop(columns="source_ids")
    )
    assert [list(ids) for ids in back["source_ids"]] == team.features["source_ids"].tolist()
    pd.testing.assert_frame_equal(loaded.spans.reset_index(drop=True), team.spans)
