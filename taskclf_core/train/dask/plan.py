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

from taskclf_core.data.datadir import find_day_files, find_labels_file, spans_in_range
from taskclf_core.data.labelfiles import read_labels_with_warnings
from taskclf_core.data.quality import DataWarning
from taskclf_core.errors import DataError

#: What a data directory must hold for labels (as ``taskclf_core.console.service`` says it).
LABEL_FILES = "expected labels_v1/labels.parquet or labels.csv (label spans: user_id, start_ts, end_ts, label)"


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
    labels_file = find_labels_file(data_dir)
    if labels_file is None:
        raise DataError(f"no labels file in {data_dir}: {LABEL_FILES}")
    all_spans, label_warnings = read_labels_with_warnings(labels_file)
    return DataPlan(
        data_dir=data_dir,
        files=day_files.files,
        days=day_files.days,
        days_missing=day_files.days_missing,
        schema_version=day_files.schema_version,
        spans=spans_in_range(all_spans, date_from, date_to, user_id),
        label_warnings=list(label_warnings),
    )
