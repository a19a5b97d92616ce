"""Data warnings: what taskclf accepts is kept and counted, what it refuses stays refused."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers_data import copy_fixture, day_file, rewrite_frame, set_cell

from taskclf_core.data.datadir import load_data_dir
from taskclf_core.data.labelfiles import read_labels, read_labels_with_warnings
from taskclf_core.data.quality import (
    DataWarning,
    combine_warnings,
    data_warnings,
    partition_warnings,
)
from taskclf_core.errors import DataError

AW = "v3-aw"
SEPT_9, SEPT_11 = date(2025, 9, 9), date(2025, 9, 11)
DEVELOPER = "0e444d9a-44bc-4a1e-8ad5-f14307f31c96"


@pytest.fixture(scope="module")
def aw_fixture() -> Path:
    return Path(__file__).parent / "fixtures" / "taskclf-data" / AW


def test_taskclfs_own_activitywatch_data_loads_with_its_warnings(aw_fixture: Path) -> None:
    loaded = load_data_dir(aw_fixture, SEPT_9, SEPT_11)
    assert (len(loaded.features), len(loaded.spans), loaded.schema_version) == (1351, 117, "v3")
    # The fixture README: 20 / 51 / 59 rows above 60 s, the largest 60.34; none are clipped.
    assert [(w.kind, w.column, w.rows, w.min_value, w.max_value, w.allowed) for w in loaded.warnings] == [
        ("out_of_range", "active_seconds_keyboard", 20, None, 60.1, "[0, 60]"),
        ("out_of_range", "active_seconds_mouse", 51, None, 60.34, "[0, 60]"),
        ("out_of_range", "active_seconds_any", 59, None, 60.34, "[0, 60]"),
    ]
    assert float(loaded.features["active_seconds_any"].max()) == 60.34
    assert loaded.warnings[2].message == (
        "active_seconds_any: 59 rows outside the documented range [0, 60] (max 60.34); "
        "taskclf accepts them, kept as they are"
    )


def test_warnings_of_user_day_partitions_add_up_to_the_whole(aw_fixture: Path) -> None:
    features = load_data_dir(aw_fixture, SEPT_9, SEPT_11).features
    day = features["bucket_start_ts"].dt.floor("D")
    parts = [partition_warnings(p) for _, p in features.groupby([features["user_id"], day])]
    assert len(parts) == 6
    whole = partition_warnings(features)
    assert combine_warnings(parts) == whole
    assert combine_warnings(reversed(parts)) == whole
    assert data_warnings(features) == list(whole.values())


def test_warnings_of_different_columns_do_not_add() -> None:
    a = DataWarning(kind="out_of_range", column="a", rows=1, max_value=61.0, allowed="[0, 60]")
    b = a.model_copy(update={"column": "b"})
    with pytest.raises(ValueError, match="cannot add a warning about 'b' to one about 'a'"):
        a + b
    assert (a + a).rows == 2


def test_a_value_taskclf_refuses_is_still_refused(tmp_path: Path) -> None:
    data = copy_fixture(AW, tmp_path)
    path = day_file(data, "v3", SEPT_9)
    rewrite_frame(path, set_cell("active_seconds_mouse", 3, -0.5))
    with pytest.raises(DataError) as info:
        load_data_dir(data, SEPT_9, SEPT_11)
    assert str(info.value) == (
        f"{path} row 4, column active_seconds_mouse: -0.5 is below 0 (expected >= 0)"
    )


def test_nulls_taskclf_allows_in_entropy_columns_are_kept(tmp_path: Path) -> None:
    # taskclf's FeatureRow declares app_entropy_5m/15m and top2_app_concentration_15m
    # Optional: a file with nulls there is taskclf's, not broken.
    data = copy_fixture(AW, tmp_path)
    path = day_file(data, "v3", SEPT_9)
    rewrite_frame(
        path,
        lambda f: f.assign(
            app_entropy_5m=np.where(f.index < 5, np.nan, f["app_entropy_5m"]),
            top2_app_concentration_15m=np.nan,
        ),
    )
    features = load_data_dir(data, SEPT_9, SEPT_11).features
    assert int(features["app_entropy_5m"].isna().sum()) == 5
    assert int(features["top2_app_concentration_15m"].isna().sum()) == 445


def test_negative_keys_per_minute_is_a_warning_like_taskclf(tmp_path: Path) -> None:
    # taskclf's FeatureRow sets no bound on keys_per_min; our documented range is >= 0.
    data = copy_fixture(AW, tmp_path)
    rewrite_frame(day_file(data, "v3", SEPT_9), set_cell("keys_per_min", 0, -3.0))
    loaded = load_data_dir(data, SEPT_9, SEPT_11)
    assert ("keys_per_min", 1, -3.0, None, ">= 0") in [
        (w.column, w.rows, w.min_value, w.max_value, w.allowed) for w in loaded.warnings
    ]


# --------------------------------------------------------------------------- label files

HEADER = "start_ts,end_ts,label,provenance,user_id\n"


def _labels(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "labels.csv"
    path.write_text(HEADER + "".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_labels_mixing_naive_and_offset_timestamps_warn_naming_file_and_counts(
    tmp_path: Path,
) -> None:
    path = _labels(
        tmp_path,
        [
            "2025-09-09 09:00:00+02:00,2025-09-09 10:00:00+02:00,Build,manual,u1",
            "2025-09-09 10:00:00,2025-09-09 11:00:00,Debug,manual,u1",
            "2025-09-09T11:00:00Z,2025-09-09T12:00:00Z,Write,manual,u1",
        ],
    )
    spans, warnings = read_labels_with_warnings(path)
    assert len(spans) == 3  # accepted: naive is read as UTC, as before
    assert spans["start_ts"].iloc[1] == pd.Timestamp("2025-09-09 10:00", tz="UTC")
    (warning,) = warnings
    assert (warning.kind, warning.rows, warning.source) == ("mixed_time_zones", 2, str(path))
    assert warning.message == (
        f"{path}: start_ts, end_ts: 2 timestamps without a UTC offset "
        "(e.g. '2025-09-09 10:00:00') and 4 with one (e.g. '2025-09-09 09:00:00+02:00') in "
        "the same file; the ones without were read as UTC, so if they are local time their "
        "spans are shifted: give every timestamp an offset"
    )
    pd.testing.assert_frame_equal(read_labels(path), spans)


@pytest.mark.parametrize(
    "times",
    [
        ("2025-09-09 09:00:00", "2025-09-09 10:00:00"),
        ("2025-09-09 09:00:00+00:00", "2025-09-09T10:00:00.5Z"),
        ("2025-09-09", "2025-09-10"),
    ],
)
def test_labels_with_one_kind_of_timestamp_do_not_warn(tmp_path: Path, times: tuple) -> None:
    path = _labels(tmp_path, [f"{times[0]},{times[1]},Build,manual,u1"])
    assert read_labels_with_warnings(path)[1] == []


def test_loader_returns_the_label_file_warning_after_the_feature_warnings(tmp_path: Path) -> None:
    data = copy_fixture(AW, tmp_path)
    (data / "labels_v1" / "labels.parquet").unlink()
    text = (data / "labels.csv").read_text(encoding="utf-8")
    lines = text.splitlines()
    # Drop the offset of one span's start: one naive timestamp among 233 aware ones.
    lines[1] = lines[1].replace("+00:00", "", 1)
    (data / "labels.csv").write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    loaded = load_data_dir(data, SEPT_9, SEPT_11)
    assert [w.kind for w in loaded.warnings] == ["out_of_range"] * 3 + ["mixed_time_zones"]
    last = loaded.warnings[-1]
    assert (last.rows, last.source) == (1, str(data / "labels.csv"))
    assert "1 timestamp without a UTC offset" in last.message
    assert "and 233 with one" in last.message
