"""Reading, validating and writing taskclf data directories (real files in tmp_path)."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers_data import (
    FIXTURES,
    JULY_1,
    JULY_2,
    JULY_3,
    USER_A,
    USER_B,
    copy_fixture,
    day_file,
    rewrite_frame,
    rewrite_table,
    set_cell,
)

from taskclf_core.data import schema
from taskclf_core.data.columns import STRING_DTYPE, TIMESTAMP_DTYPE
from taskclf_core.data.datadir import LoadedData, load_data_dir, write_data_dir
from taskclf_core.data.featurecheck import validate_features
from taskclf_core.data.featurefiles import read_feature_file, write_features_day
from taskclf_core.data.labelfiles import read_labels
from taskclf_core.errors import DataError

ROWS_PER_DAY = {JULY_1: 117, JULY_2: 119, JULY_3: 121}


def load(data_dir: Path, user_id: str | None = None) -> LoadedData:
    return load_data_dir(data_dir, JULY_1, JULY_3, user_id=user_id)


def assert_feature_dtypes(frame: pd.DataFrame, version: str) -> None:
    expected = schema.COLUMNS["v3" if version == "v3" else "v1"]
    assert tuple(frame.columns) == expected
    assert frame["bucket_start_ts"].dtype == TIMESTAMP_DTYPE
    assert frame["bucket_end_ts"].dtype == TIMESTAMP_DTYPE
    for column in (
        "user_id",
        "device_id",
        "session_id",
        "app_id",
        "app_category",
        "domain_category",
    ):
        assert frame[column].dtype == STRING_DTYPE, column
    for column in schema.BOOL_FEATURES:
        assert frame[column].dtype == np.bool_, column
    for column in schema.INT_FEATURES:
        assert frame[column].dtype == np.int64, column
    for column in schema.NULLABLE_FEATURES:
        assert frame[column].dtype == np.float64, column
    assert isinstance(frame.index, pd.RangeIndex)


# --------------------------------------------------------------------------- fixtures


@pytest.mark.parametrize("day", [JULY_1, JULY_2, JULY_3])
def test_read_feature_file_v1_day(day: date) -> None:
    frame = read_feature_file(day_file(FIXTURES / "v1", "v1", day))
    assert len(frame) == ROWS_PER_DAY[day]
    assert_feature_dtypes(frame, "v1")
    assert set(frame["user_id"]) == {USER_A, USER_B}
    assert frame["device_id"].isna().all()
    assert (frame["bucket_start_ts"].dt.date == day).all()
    assert all(len(ids) == 1 and ids[0].startswith("dummy-") for ids in frame["source_ids"])


@pytest.mark.parametrize("version", ["v1", "v3"])
def test_load_fixture_with_user_ids(version: str) -> None:
    loaded = load(FIXTURES / version)
    assert len(loaded.features) == 357
    assert len(loaded.spans) == 62
    assert loaded.schema_version == version
    assert loaded.days_loaded == [JULY_1, JULY_2, JULY_3]
    assert loaded.days_missing == []
    assert loaded.files == [
        day_file(FIXTURES / version, version, d) for d in (JULY_1, JULY_2, JULY_3)
    ]
    assert loaded.labels_file == FIXTURES / version / "labels_v1" / "labels.parquet"
    assert loaded.features["user_id"].value_counts().to_dict() == {USER_A: 180, USER_B: 177}
    assert_feature_dtypes(loaded.features, version)


def test_load_fixture_v3_has_the_title_columns() -> None:
    features = load(FIXTURES / "v3").features
    assert features.shape == (357, 308)
    assert tuple(features.columns[47:]) == schema.V3_TITLE_FEATURES
    assert (features[list(schema.TITLE_SKETCH_FEATURES)] == 0.0).all().all()
    assert features["title_char_count"].dtype == np.int64


def test_load_fixture_v2_with_user_id() -> None:
    loaded = load(FIXTURES / "v2", user_id=USER_A)
    assert len(loaded.features) == 180
    assert len(loaded.spans) == 30
    assert loaded.schema_version == "v2"
    assert (loaded.features["user_id"] == USER_A).all()
    assert loaded.spans["user_id"].isna().all()
    assert_feature_dtypes(loaded.features, "v2")


def test_load_fixture_v2_without_user_id_says_how_to_fix_it() -> None:
    with pytest.raises(DataError) as info:
        load(FIXTURES / "v2")
    path = day_file(FIXTURES / "v2", "v2", JULY_1)
    assert str(info.value) == (
        f"{path} is a schema v2 file, which has no user_id column: give the id of the user "
        "these rows belong to (user_id=..., or --user-id on the command line)"
    )


def test_read_feature_file_with_user_id_keeps_that_users_rows() -> None:
    frame = read_feature_file(day_file(FIXTURES / "v1", "v1", JULY_1), user_id=USER_A)
    assert len(frame) == 60
    assert (frame["user_id"] == USER_A).all()


def test_load_with_user_id_keeps_that_user_and_shared_spans() -> None:
    loaded = load(FIXTURES / "v1", user_id=USER_B)
    assert len(loaded.features) == 177
    assert len(loaded.spans) == 32
    assert (loaded.spans["user_id"] == USER_B).all()


def test_load_unknown_user_is_refused() -> None:
    with pytest.raises(
        DataError, match=r"no feature rows for user 'nobody' in .*2025-07-01\.\.2025-07-03"
    ):
        load(FIXTURES / "v1", user_id="nobody")


def test_spans_are_filtered_to_the_range() -> None:
    loaded = load_data_dir(FIXTURES / "v1", JULY_2, JULY_2)
    spans = loaded.spans
    assert 0 < len(spans) < 62
    assert (spans["start_ts"] < pd.Timestamp("2025-07-03", tz="UTC")).all()
    assert (spans["end_ts"] > pd.Timestamp("2025-07-02", tz="UTC")).all()
    assert len(loaded.features) == 119


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
def test_write_then_read_gives_equal_frames(tmp_path: Path, version: str) -> None:
    user = USER_A if version == "v2" else None
    original = load(FIXTURES / version, user_id=user)
    written = write_data_dir(tmp_path / "out", original.features, original.spans, version=version)
    assert [p.relative_to(tmp_path / "out").as_posix() for p in written] == [
        f"features_{version}/date=2025-07-01/features.parquet",
        f"features_{version}/date=2025-07-02/features.parquet",
        f"features_{version}/date=2025-07-03/features.parquet",
        "labels_v1/labels.parquet",
        "labels.csv",
    ]
    again = load(tmp_path / "out", user_id=user)
    pd.testing.assert_frame_equal(again.features, original.features)
    pd.testing.assert_frame_equal(again.spans, original.spans)
    assert again.schema_version == version
    assert not list((tmp_path / "out").rglob(".tmp-*"))


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
def test_written_files_have_taskclf_column_order_and_types(tmp_path: Path, version: str) -> None:
    user = USER_A if version == "v2" else None
    original = load(FIXTURES / version, user_id=user)
    write_data_dir(tmp_path, original.features, original.spans, version=version)
    ours = pq.read_schema(day_file(tmp_path, version, JULY_1))
    theirs = pq.read_schema(day_file(FIXTURES / version, version, JULY_1))
    assert ours.names == theirs.names == list(schema.COLUMNS[version])
    for name in ours.names:
        if name == "device_id":  # taskclf's is null-typed (never set); ours is a nullable string
            assert ours.field(name).type == pa.large_string()
        else:
            assert ours.field(name).type == theirs.field(name).type, name


def test_write_then_read_keeps_labels_csv_in_taskclf_format(tmp_path: Path) -> None:
    original = load(FIXTURES / "v1")
    write_data_dir(tmp_path, original.features, read_labels(original.labels_file or ""))
    assert (tmp_path / "labels.csv").read_bytes() == (FIXTURES / "v1" / "labels.csv").read_bytes()


def test_write_features_day_refuses_rows_of_another_day(tmp_path: Path) -> None:
    features = load(FIXTURES / "v1").features
    with pytest.raises(DataError) as info:
        write_features_day(tmp_path, JULY_1, features, version="v1")
    assert str(info.value).startswith(
        "features for 2025-07-01 row 118, column bucket_start_ts: 2025-07-02"
    )
    assert not (tmp_path / "features_v1").exists()


def test_write_v2_refuses_more_than_one_user(tmp_path: Path) -> None:
    loaded = load(FIXTURES / "v1")
    features = loaded.features.assign(schema_version="v2")
    with pytest.raises(DataError) as info:
        write_data_dir(tmp_path, features, loaded.spans, version="v2")
    assert str(info.value) == (
        "features frame: schema v2 files hold one user and have no user_id column, but the "
        f"rows have 2 users ({USER_A}, {USER_B}); write v1 or v3"
    )
    assert not list(tmp_path.iterdir())


def test_write_refuses_a_version_that_does_not_match_the_rows(tmp_path: Path) -> None:
    loaded = load(FIXTURES / "v1")
    with pytest.raises(
        DataError, match=r"rows have schema_version 'v1' but version='v3' was asked"
    ):
        write_data_dir(tmp_path, loaded.features, loaded.spans, version="v3")


# --------------------------------------------------------------------------- validation errors


@pytest.fixture
def v1_dir(tmp_path: Path) -> Path:
    return copy_fixture("v1", tmp_path)


def load_error(data_dir: Path) -> str:
    with pytest.raises(DataError) as info:
        load(data_dir)
    return str(info.value)


def test_missing_column_is_named(v1_dir: Path) -> None:
    path = day_file(v1_dir, "v1", JULY_2)
    rewrite_frame(path, lambda f: f.drop(columns=["keys_per_min"]))
    assert load_error(v1_dir) == (
        f"{path}: missing column(s) keys_per_min (expected the 47 columns of schema v1)"
    )


def test_extra_column_is_named(v1_dir: Path) -> None:
    path = day_file(v1_dir, "v1", JULY_1)
    rewrite_frame(path, lambda f: f.assign(favourite_colour="blue"))
    assert load_error(v1_dir) == (
        f"{path}: unexpected column(s) favourite_colour (not part of schema v1; "
        "check the file's schema_version)"
    )


def test_string_in_a_numeric_column_is_named(v1_dir: Path) -> None:
    path = day_file(v1_dir, "v1", JULY_3)
    rewrite_frame(path, set_cell("keys_per_min", 4, "lots"))
    assert load_error(v1_dir) == (
        f"{path} row 5, column keys_per_min: 'lots' is text, not a number "
        "(column type str; expected a numeric column)"
    )


def test_unknown_category_is_kept_with_a_warning(v1_dir: Path) -> None:
    # taskclf accepts any text as a category: the row is kept and counted.
    path = day_file(v1_dir, "v1", JULY_1)
    rewrite_frame(path, set_cell("app_category", 9, "gaming"))
    loaded = load(v1_dir)
    assert "gaming" in set(loaded.features["app_category"])
    assert [(w.column, w.rows, w.examples) for w in loaded.warnings] == [
        ("app_category", 1, ("gaming",))
    ]


def test_unknown_domain_category_is_kept_with_a_warning(v1_dir: Path) -> None:
    path = day_file(v1_dir, "v1", JULY_1)
    rewrite_frame(path, set_cell("domain_category", 0, "warez"))
    (warning,) = load(v1_dir).warnings
    assert warning.message.startswith(
        "domain_category: 1 row with a value outside the known categories ('warez')"
    )


@pytest.mark.parametrize(
    ("column", "value", "what"),
    [
        ("active_seconds_any", -1.0, "-1.0 is below 0 (expected >= 0)"),
        ("clicks_per_min", -1.0, "-1.0 is below 0 (expected >= 0)"),
        ("hour_of_day", 24, "24 is outside [0, 23] (expected a value from 0 to 23)"),
        ("title_repeat_count_session", -2, "-2 is below 0 (expected >= 0)"),
        ("mouse_distance_delta", np.inf, "inf is not a finite number"),
    ],
)
def test_out_of_range_value_is_named(v1_dir: Path, column: str, value: object, what: str) -> None:
    path = day_file(v1_dir, "v1", JULY_2)
    rewrite_frame(path, set_cell(column, 2, value))
    assert load_error(v1_dir) == f"{path} row 3, column {column}: {what}"


def test_null_in_a_non_nullable_column_is_named(v1_dir: Path) -> None:
    path = day_file(v1_dir, "v1", JULY_2)
    rewrite_frame(path, set_cell("app_dwell_time_seconds", 6, np.nan))
    assert load_error(v1_dir) == (
        f"{path} row 7, column app_dwell_time_seconds: missing value "
        "(expected a number; this column is never null)"
    )


def test_nulls_in_nullable_columns_are_kept_as_nan(v1_dir: Path) -> None:
    path = day_file(v1_dir, "v1", JULY_2)
    rewrite_frame(path, lambda f: f.assign(keys_per_min=np.nan, backspace_ratio=None))
    features = load(v1_dir).features
    day2 = features["bucket_start_ts"].dt.date == JULY_2
    assert features.loc[day2, "keys_per_min"].isna().all()
    assert features["backspace_ratio"].dtype == np.float64
    assert features.loc[~day2, "keys_per_min"].notna().all()


def test_naive_timestamps_are_read_as_utc(v1_dir: Path) -> None:
    path = day_file(v1_dir, "v1", JULY_1)
    naive = pa.timestamp("us")

    def drop_zone(table: pa.Table) -> pa.Table:
        for name in ("bucket_start_ts", "bucket_end_ts"):
            i = table.schema.get_field_index(name)
            table = table.set_column(i, name, table.column(name).cast(naive))
        return table.replace_schema_metadata(None)

    rewrite_table(path, drop_zone)
    assert pq.read_schema(path).field("bucket_start_ts").type == naive
    pd.testing.assert_frame_equal(
        read_feature_file(path), read_feature_file(day_file(FIXTURES / "v1", "v1", JULY_1))
    )


def test_other_time_zones_are_converted_to_utc(v1_dir: Path) -> None:
    path = day_file(v1_dir, "v1", JULY_1)
    rewrite_frame(
        path,
        lambda f: f.assign(
            bucket_start_ts=f["bucket_start_ts"].dt.tz_convert("Asia/Kolkata"),
            bucket_end_ts=f["bucket_end_ts"].dt.tz_convert("America/New_York"),
        ),
    )
    frame = read_feature_file(path)
    pd.testing.assert_frame_equal(frame, read_feature_file(day_file(FIXTURES / "v1", "v1", JULY_1)))
    assert str(frame["bucket_start_ts"].dt.tz) == "UTC"


def test_validate_features_refuses_naive_timestamps_in_memory() -> None:
    features = load(FIXTURES / "v1").features
    naive = features.assign(bucket_start_ts=features["bucket_start_ts"].dt.tz_localize(None))
    with pytest.raises(DataError, match=r"^frame: column bucket_start_ts: naive timestamps"):
        validate_features(naive, source="frame")


def test_timestamp_stored_as_text_is_refused(v1_dir: Path) -> None:
    path = day_file(v1_dir, "v1", JULY_1)
    rewrite_frame(path, lambda f: f.assign(bucket_end_ts=f["bucket_end_ts"].astype(str)))
    assert load_error(v1_dir).startswith(
        f"{path} row 1, column bucket_end_ts: '2025-07-01 09:01:00+00:00' is not a timestamp "
        "(column type str; expected timestamp[us, tz=UTC])"
    )


def test_bucket_end_must_be_start_plus_60_seconds(v1_dir: Path) -> None:
    path = day_file(v1_dir, "v1", JULY_1)
    rewrite_frame(
        path,
        set_cell("bucket_end_ts", 0, pd.Timestamp("2025-07-01 09:02:00", tz="UTC")),
    )
    assert load_error(v1_dir) == (
        f"{path} row 1, column bucket_end_ts: 2025-07-01 09:02:00+00:00 is not bucket_start_ts "
        "+ 60 s (bucket_start_ts is 2025-07-01 09:00:00+00:00; expected 2025-07-01 09:01:00+00:00)"
    )


def test_duplicate_primary_key_is_named(v1_dir: Path) -> None:
    path = day_file(v1_dir, "v1", JULY_1)
    rewrite_frame(path, lambda f: pd.concat([f, f.iloc[[3]]], ignore_index=True))
    start = pq.read_table(path).column("bucket_start_ts")[3].as_py()
    assert load_error(v1_dir) == (
        f"{path} row 4, column user_id, bucket_start_ts: ('{USER_A}', {pd.Timestamp(start)}) "
        "appears more than once (expected one row per user and minute); 1 more row like this"
    )


def test_duplicate_primary_key_across_day_files_names_both(v1_dir: Path) -> None:
    day1, day2 = day_file(v1_dir, "v1", JULY_1), day_file(v1_dir, "v1", JULY_2)
    stray = pq.read_table(day2).to_pandas().iloc[[0]]
    rewrite_frame(day1, lambda f: pd.concat([f, stray], ignore_index=True))
    message = load_error(v1_dir)
    assert message.startswith(
        f"{day1} row 118, column user_id, bucket_start_ts: ('{USER_A}', 2025-07-02"
    )
    assert message.endswith("; 1 more row like this in 2 files")


def test_mixed_schema_versions_in_one_file_are_refused(v1_dir: Path) -> None:
    path = day_file(v1_dir, "v1", JULY_2)
    rewrite_frame(path, set_cell("schema_version", 5, "v3"))
    assert (
        f"{path}: column schema_version: mixed schema versions v1 (118 rows), v3 (1 row) in "
        "one file (expected one version per file)"
    ) in load_error(v1_dir)


def test_unknown_schema_version_value_is_named(v1_dir: Path) -> None:
    path = day_file(v1_dir, "v1", JULY_2)
    rewrite_frame(path, lambda f: f.assign(schema_version="v9"))
    assert load_error(v1_dir).startswith(
        f"{path} row 1, column schema_version: 'v9' is not a known schema version "
        "(expected one of v1, v2, v3); 118 more rows like this"
    )


def test_many_problems_come_in_one_capped_message(v1_dir: Path) -> None:
    path = day_file(v1_dir, "v1", JULY_1)

    def break_everything(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        for column in schema.VALUE_RANGES:
            if column in frame.columns:
                frame.loc[1, column] = -5
        return frame

    rewrite_frame(path, break_everything)
    lines = load_error(v1_dir).splitlines()
    assert lines[0].startswith(f"{path}: ") and lines[0].endswith(" problems")
    total = int(lines[0].split(": ")[1].split()[0])
    assert total > 10
    assert len(lines) == 12
    assert all(line.startswith(f"{path} row 2, column ") for line in lines[1:11])
    assert lines[11] == f"... and {total - 10} more problems"


def test_a_file_that_is_not_parquet_is_named(v1_dir: Path) -> None:
    path = day_file(v1_dir, "v1", JULY_3)
    path.write_bytes(b"not parquet at all")
    assert load_error(v1_dir).startswith(f"{path}: not a readable parquet file (")


def test_files_with_different_arrow_types_still_load(v1_dir: Path) -> None:
    # Flags stored as 0/1 integers in one day file: the tables cannot be concatenated
    # as they are, so the loader reads file by file and gets the same frame.
    path = day_file(v1_dir, "v1", JULY_2)
    rewrite_frame(path, lambda f: f.assign(is_browser=f["is_browser"].astype("int64")))
    assert pq.read_schema(path).field("is_browser").type == pa.int64()
    pd.testing.assert_frame_equal(load(v1_dir).features, load(FIXTURES / "v1").features)


# --------------------------------------------------------------------------- the data dir


def test_mixed_schema_versions_in_a_range_are_refused(v1_dir: Path) -> None:
    v3_day = day_file(v1_dir, "v3", JULY_3)
    v3_day.parent.mkdir(parents=True)
    shutil.copyfile(day_file(FIXTURES / "v3", "v3", JULY_3), v3_day)
    assert load_error(v1_dir) == (
        "2025-07-01..2025-07-02 are v1, 2025-07-03 is v3: mixed schema versions in one range "
        f"(2025-07-01..2025-07-03 in {v1_dir}); choose a range with one version"
    )
    newest = load_data_dir(v1_dir, JULY_3, JULY_3)
    assert newest.schema_version == "v3" and newest.files == [v3_day]


def test_no_data_at_all_names_dir_range_and_pattern(v1_dir: Path) -> None:
    with pytest.raises(DataError) as info:
        load_data_dir(v1_dir, date(2025, 8, 1), date(2025, 8, 31))
    assert str(info.value) == (
        f"no feature files in {v1_dir} for 2025-08-01..2025-08-31 (looked for "
        "features_{v3,v2,v1}/date=YYYY-MM-DD/features.parquet); the directory has v1 files "
        "for 3 day(s) from 2025-07-01 to 2025-07-03"
    )


def test_empty_data_dir_says_it_has_no_feature_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="the directory has no feature files at all$"):
        load_data_dir(tmp_path, JULY_1, JULY_3)


def test_missing_days_are_listed_not_fatal(v1_dir: Path) -> None:
    shutil.rmtree(day_file(v1_dir, "v1", JULY_2).parent)
    loaded = load_data_dir(v1_dir, date(2025, 6, 30), date(2025, 7, 4))
    assert loaded.days_loaded == [JULY_1, JULY_3]
    assert loaded.days_missing == [date(2025, 6, 30), JULY_2, date(2025, 7, 4)]
    assert len(loaded.features) == 117 + 121


def test_nonexistent_data_dir_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError) as info:
        load(missing)
    assert str(info.value) == (
        f"data directory {missing} does not exist (expected a taskclf processed-data directory "
        "with features_<version>/date=YYYY-MM-DD/features.parquet)"
    )


def test_reversed_range_is_refused(v1_dir: Path) -> None:
    with pytest.raises(DataError, match="date range 2025-07-03..2025-07-01 is empty"):
        load_data_dir(v1_dir, JULY_3, JULY_1)


def test_labels_csv_is_used_when_the_parquet_is_missing(v1_dir: Path) -> None:
    (v1_dir / "labels_v1" / "labels.parquet").unlink()
    loaded = load(v1_dir)
    assert loaded.labels_file == v1_dir / "labels.csv"
    pd.testing.assert_frame_equal(loaded.spans, load(FIXTURES / "v1").spans)


def test_no_label_file_gives_an_empty_span_frame(v1_dir: Path) -> None:
    (v1_dir / "labels_v1" / "labels.parquet").unlink()
    (v1_dir / "labels.csv").unlink()
    loaded = load(v1_dir)
    assert loaded.labels_file is None
    assert len(loaded.spans) == 0
    assert list(loaded.spans.columns) == list(schema.SPAN_COLUMNS)


def test_invalid_labels_file_is_named(v1_dir: Path) -> None:
    path = v1_dir / "labels_v1" / "labels.parquet"
    rewrite_frame(path, set_cell("label", 0, "Nap"))
    assert load_error(v1_dir).startswith(f"{path} row 1, column label: 'Nap' is not a known label")
