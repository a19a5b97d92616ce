"""Helpers for the data and label tests: writable copies of the taskclf fixtures."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

FIXTURES = Path(__file__).parent / "fixtures" / "taskclf-data"
USER_A = "94f7f790-6ac8-5241-8e27-6c984d608741"
USER_B = "5181852c-c2f5-5e6f-b300-e9d735ed7c0c"
JULY_1 = date(2025, 7, 1)
JULY_2 = date(2025, 7, 2)
JULY_3 = date(2025, 7, 3)


def copy_fixture(version: str, dest: Path) -> Path:
    """A writable copy of ``fixtures/taskclf-data/<version>`` at ``dest/<version>``."""
    target = dest / version
    shutil.copytree(FIXTURES / version, target, copy_function=shutil.copyfile)
    for root, _dirs, _files in os.walk(target):
        os.chmod(root, 0o755)
    return target


def day_file(data_dir: Path, version: str, day: date) -> Path:
    """``<data_dir>/features_<version>/date=<day>/features.parquet``."""
    return data_dir / f"features_{version}" / f"date={day.isoformat()}" / "features.parquet"


def rewrite_frame(path: Path, edit: Callable[[pd.DataFrame], pd.DataFrame]) -> None:
    """Read a parquet file as plain pandas, apply ``edit`` and write it back."""
    frame = pq.read_table(path).to_pandas()
    pq.write_table(pa.Table.from_pandas(edit(frame), preserve_index=False), path)


def rewrite_table(path: Path, edit: Callable[[pa.Table], pa.Table]) -> None:
    """Read a parquet file as an Arrow table, apply ``edit`` and write it back."""
    pq.write_table(edit(pq.read_table(path)), path)


def set_cell(column: str, row: int, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """An edit that sets one cell (0-based row)."""

    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        if isinstance(value, str) and not pd.api.types.is_string_dtype(frame[column].dtype):
            frame[column] = frame[column].astype(str)
        frame.loc[row, column] = value
        return frame

    return edit
