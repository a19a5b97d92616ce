"""What the Dask engine's client reads itself: the day-file list and the label spans.

Both are small. The rules and messages are the local loader's
(:func:`~taskclf_core.data.datadir.load_data_dir`): newest schema version per day, no
mixed versions in one range, the labels from ``labels_v1/labels.parquet`` else
``labels.csv``, only spans overlapping the range (and the user).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from taskclf_core.data.datadir import find_day_files, read_range_labels
from taskclf_core.data.quality import DataWarning


@dataclass(frozen=True)
class DataPlan:
    """The day files a run reads (on the workers) and the spans (read here)."""

    data_dir: Path
    files: list[Path]
    days: list[date]
    days_missing: list[date]
    schema_version: str
    spans: pd.DataFrame
    label_warnings: list[DataWarning]


def plan_data(data_dir: Path, date_from: date, date_to: date, user_id: str | None) -> DataPlan:
    """List the day files of the range and read the spans, as the local loader does.

    Raises:
        DataError: as :func:`~taskclf_core.data.datadir.load_data_dir`, plus no label file.
    """
    day_files = find_day_files(data_dir, date_from, date_to)
    data_dir = day_files.data_dir
    _, spans, label_warnings = read_range_labels(data_dir, date_from, date_to, user_id, required=True)
    return DataPlan(
        data_dir=data_dir,
        files=day_files.files,
        days=day_files.days,
        days_missing=day_files.days_missing,
        schema_version=day_files.schema_version,
        spans=spans,
        label_warnings=label_warnings,
    )
