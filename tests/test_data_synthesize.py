"""Writing synthetic teams: never over existing data without --overwrite; only valid spans."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from helpers_data import copy_fixture
from typer.testing import CliRunner

from taskclf_core.console.cli import app
from taskclf_core.data.datadir import check_data_dir_target, load_data_dir
from taskclf_core.data.labelfiles import read_labels, write_labels_csv
from taskclf_core.data.synthetic import generate_team, synthesize_data_dir
from taskclf_core.errors import DataError

LAST_DAY = date(2026, 11, 29)
runner = CliRunner()


def synthesize(out: Path, *extra: str):
    return runner.invoke(
        app,
        ["data", "synthesize", "--out", str(out), "--users", "1", "--days", "2", "--to", "2025-07-02",
         "--json", *extra],
        catch_exceptions=False,
    )


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------- 11.1


def test_synthesize_refuses_an_existing_data_folder_and_leaves_it_alone(tmp_path: Path) -> None:
    data = copy_fixture("v1", tmp_path)
    before = tree(data)
    result = synthesize(data)
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: {data} already holds taskclf data (features_v1/ (3 day folders), labels.csv, "
        "labels_v1/); choose an empty or new folder, or pass --overwrite to replace it"
    )
    assert tree(data) == before


def test_synthesize_overwrite_replaces_the_whole_data_folder(tmp_path: Path) -> None:
    data = copy_fixture("v1", tmp_path)
    result = synthesize(data, "--overwrite")
    assert result.exit_code == 0, result.stderr
    # Nothing of the old folder survives: no fixture day (the new team is v3), no fixture span.
    assert not (data / "features_v1").exists()
    assert sorted(p.name for p in (data / "features_v3").iterdir()) == [
        "date=2025-07-01",
        "date=2025-07-02",
    ]
    loaded = load_data_dir(data, date(2025, 7, 1), date(2025, 7, 3))
    assert loaded.days_missing == [date(2025, 7, 3)]
    assert set(loaded.spans["provenance"]) == {"synthetic"}
    assert len(loaded.spans) == json.loads(result.stdout)["spans"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left


def test_synthesize_writes_into_a_new_or_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for out in (tmp_path / "empty", tmp_path / "new" / "data"):
        result = synthesize(out)
        assert result.exit_code == 0, result.stderr
        assert (out / "labels_v1" / "labels.parquet").is_file()


def test_overwrite_never_deletes_a_folder_that_is_not_taskclf_data(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "labels.csv").write_text("start_ts,end_ts,label,provenance\n")
    with pytest.raises(DataError) as info:
        synthesize_data_dir(tmp_path, users=1, days=1, date_to=LAST_DAY, overwrite=True)
    assert str(info.value) == (
        f"{tmp_path} is not empty and not a taskclf data folder (it holds notes.txt); "
        "choose an empty or new folder"
    )
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_file_is_not_a_target(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(DataError, match="is not a folder"):
        check_data_dir_target(target, overwrite=True)


# --------------------------------------------------------------------------- 11.17


@pytest.mark.parametrize("seed", [11, 21, 30])
def test_seeds_that_wrote_reversed_spans_now_write_valid_ones(seed: int) -> None:
    spans = generate_team(users=5, days=30, date_to=LAST_DAY, seed=seed).spans
    assert bool((spans["end_ts"] > spans["start_ts"]).all())


def test_every_seed_writes_only_spans_that_end_after_they_start() -> None:
    # The old generator wrote a reversed span for seeds 50, 52, 70 and 99 at this size.
    for seed in range(100):
        spans = generate_team(users=2, days=15, date_to=LAST_DAY, seed=seed).spans
        assert bool((spans["end_ts"] > spans["start_ts"]).all()), seed


def test_synthetic_spans_read_back_from_a_label_file_unchanged(tmp_path: Path) -> None:
    spans = generate_team(users=5, days=30, date_to=LAST_DAY, seed=11).spans
    write_labels_csv(tmp_path / "labels.csv", spans)
    pd.testing.assert_frame_equal(read_labels(tmp_path / "labels.csv"), spans)
