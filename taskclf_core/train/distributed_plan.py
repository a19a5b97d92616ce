"""What the Dask engine's client reads itself: the day-file list and the label spans.

Both are small. The rules and messages are the local loader's
(:func:`~taskclf_core.data.datadir.load_data_dir`): newest schema version per day, no
mixed versions in one range, the labels from ``labels_v1/labels.parquet`` else
``labels.csv``, only spans overlapping the range (and the user).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from taskclf_core.data.datadir import (
    LABELS_CSV,
    LABELS_PARQUET,
    _available_days_text,
    _day_runs,
    _filter_spans,
    _find_day_files,
)
from taskclf_core.data.featurefiles import FEATURE_FILE_NAME
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
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(
            f"data directory {data_dir} does not exist (expected a taskclf processed-data "
            "directory with features_<version>/date=YYYY-MM-DD/features.parquet)"
        )
    if date_from > date_to:
        raise DataError(f"date range {date_from}..{date_to} is empty: date_from is after date_to")
    days = [date_from + timedelta(days=i) for i in range((date_to - date_from).days + 1)]
    found = _find_day_files(data_dir, days)
    if not found:
        raise DataError(
            f"no feature files in {data_dir} for {date_from}..{date_to} (looked for "
            f"features_{{v3,v2,v1}}/date=YYYY-MM-DD/{FEATURE_FILE_NAME}); "
            f"{_available_days_text(data_dir)}"
        )
    loaded = sorted(found)
    versions = [found[d][0] for d in loaded]
    if len(set(versions)) > 1:
        raise DataError(
            f"{_day_runs(loaded, versions)}: mixed schema versions in one range "
            f"({date_from}..{date_to} in {data_dir}); choose a range with one version"
        )
    labels_file = next((c for c in (data_dir / LABELS_PARQUET, data_dir / LABELS_CSV) if c.is_file()), None)
    if labels_file is None:
        raise DataError(f"no labels file in {data_dir}: {LABEL_FILES}")
    all_spans, label_warnings = read_labels_with_warnings(labels_file)
    return DataPlan(
        data_dir=data_dir,
        files=[found[d][1] for d in loaded],
        days=loaded,
        days_missing=[d for d in days if d not in found],
        schema_version=versions[0],
        spans=_filter_spans(all_spans, date_from, date_to, user_id),
        label_warnings=list(label_warnings),
    )
