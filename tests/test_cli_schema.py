"""Synthetic teams are written in today's taskclf schema (v3) unless ``--schema`` says otherwise."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from taskclf_core.console.cli import app
from taskclf_core.console.request import synthetic_size_problem
from taskclf_core.data.schema import COLUMNS

runner = CliRunner()


def _synthesize(out: Path, *extra: str):
    return runner.invoke(app, ["data", "synthesize", "--out", str(out), "--users", "1", "--days", "2",
                               "--to", "2025-07-02", *extra], catch_exceptions=False)


def test_synthesize_writes_v3_by_default_and_the_schema_asked_for(tmp_path: Path) -> None:
    done = _synthesize(tmp_path / "v3")
    assert done.exit_code == 0, done.output
    day = tmp_path / "v3" / "features_v3" / "date=2025-07-02" / "features.parquet"
    assert pq.read_schema(day).names == list(COLUMNS["v3"])  # 308 columns, taskclf's order
    assert _synthesize(tmp_path / "v1", "--schema", "v1").exit_code == 0
    assert (tmp_path / "v1" / "features_v1").is_dir() and not (tmp_path / "v1" / "features_v3").exists()


def test_an_unknown_schema_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = _synthesize(tmp_path / "bad", "--schema", "v9")
    assert done.exit_code == 2
    assert done.stderr.strip() == "error: unknown schema version 'v9'; known: v1, v2, v3"
    assert not (tmp_path / "bad").exists()
    retrain = runner.invoke(app, ["train", "retrain", "--synthetic", "--force", "--schema", "v4"])
    assert retrain.exit_code == 2
    assert retrain.stderr.strip().startswith("error: --schema must be 'v1', 'v2' or 'v3'; got 'v4'")


def test_size_estimate_counts_v3_windows_as_wider() -> None:
    v3 = synthetic_size_problem(500, 3650, "v3")
    v1 = synthetic_size_problem(500, 3650, "v1")
    assert v3 is not None and v1 is not None
    assert "a synthetic v3 team of 500 users x 3,650 days is about 821,250,000 one-minute windows" in v3
    assert "(~9,855.0 GB of memory)" in v3 and "(~2,463.8 GB of memory)" in v1
