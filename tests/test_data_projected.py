"""Loading only the columns a retrain reads: same rows, same dataset hash, less memory."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from taskclf_core.data.datadir import load_data_dir, write_data_dir
from taskclf_core.data.hashing import dataset_hash
from taskclf_core.data.schema import COLUMNS, pipeline_columns
from taskclf_core.errors import DataError
from taskclf_core.synthetic.team import generate_team

FIXTURES = Path(__file__).parent / "fixtures" / "taskclf-data"


@pytest.mark.parametrize(("folder", "first", "last", "user"), [
    ("v3-aw", date(2025, 9, 9), date(2025, 9, 11), None),
    ("v1", date(2025, 7, 1), date(2025, 7, 3), None),
    ("v2", date(2025, 7, 1), date(2025, 7, 3), "94f7f790-6ac8-5241-8e27-6c984d608741"),
])
def test_projected_load_keeps_the_pipeline_columns_and_the_whole_files_hash(folder, first, last, user) -> None:
    whole = load_data_dir(FIXTURES / folder, first, last, user_id=user)
    projected = load_data_dir(FIXTURES / folder, first, last, user_id=user, project=True)
    kept = [c for c in pipeline_columns(whole.schema_version) if c in whole.features.columns]
    assert list(projected.features.columns) == kept
    assert len(kept) < len(whole.features.columns)
    pd.testing.assert_frame_equal(projected.features, whole.features[kept].reset_index(drop=True))
    assert projected.dataset_hash() == whole.dataset_hash() == dataset_hash(whole.features, whole.spans)
    assert projected.warnings == whole.warnings


def test_v3_drops_only_what_no_stage_reads() -> None:
    dropped = set(COLUMNS["v3"]) - set(pipeline_columns("v3"))
    assert dropped == {"device_id", "session_id", "schema_hash", "source_ids", "window_title_hash"}


def test_a_partition_split_over_two_files_falls_back_to_reading_whole_files(tmp_path: Path) -> None:
    team = generate_team("default", users=1, days=2, date_to=date(2025, 7, 2), seed=3, schema_version="v1")
    write_data_dir(tmp_path, team.features, team.spans, version="v1")
    day1 = tmp_path / "features_v1" / "date=2025-07-01" / "features.parquet"
    day2 = tmp_path / "features_v1" / "date=2025-07-02" / "features.parquet"
    first, second = pd.read_parquet(day1), pd.read_parquet(day2)
    # the last row of day 1 moved into day 2's file: its (user, day) partition is in two files
    pd.concat([second, first.tail(1)]).to_parquet(day2, index=False)
    first.iloc[:-1].to_parquet(day1, index=False)
    whole = load_data_dir(tmp_path, date(2025, 7, 1), date(2025, 7, 2))
    projected = load_data_dir(tmp_path, date(2025, 7, 1), date(2025, 7, 2), project=True)
    assert projected.partition_digests is None  # read whole instead
    assert projected.dataset_hash() == whole.dataset_hash()
    # a key present in two files is refused either way
    pd.concat([second, first.tail(1), first.tail(1)]).to_parquet(day2, index=False)
    with pytest.raises(DataError):
        load_data_dir(tmp_path, date(2025, 7, 1), date(2025, 7, 2), project=True)
