"""Read and write a whole taskclf data directory, one (day) partition at a time.

Layout (taskclf's ``data/processed``)::

    <data_dir>/features_<version>/date=YYYY-MM-DD/features.parquet   one file per UTC day
    <data_dir>/labels_v1/labels.parquet                               all label spans
    <data_dir>/labels.csv                                             CSV export of the spans

:func:`load_data_dir` maps :func:`~taskclf_core.data.featurefiles.read_feature_files`
over the days of a range, so a Dask step can map the same function over partitions;
:func:`write_data_dir` validates everything, then writes one file per day and the labels.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Final

import pandas as pd

from taskclf_core.data.columns import name_list
from taskclf_core.data.featurecheck import validate_features
from taskclf_core.data.featurefiles import (
    FEATURE_FILE_NAME,
    check_one_user,
    check_version_values,
    normalise_features,
    read_feature_files,
    read_projected_files,
    write_day,
)
from taskclf_core.data.hashing import PartitionDigest, combine_digests, dataset_hash, span_digest
from taskclf_core.data.labelcheck import validate_span_frame
from taskclf_core.data.labelfiles import (
    read_labels_with_warnings,
    write_labels_csv,
    write_labels_parquet,
)
from taskclf_core.data.labels import spans_to_frame
from taskclf_core.data.quality import DataWarning, data_warnings
from taskclf_core.data.schema import pipeline_columns
from taskclf_core.errors import DataError
from taskclf_core.fs.atomic import fsync_dir

#: Versions in the order a day's files are tried: newest first.
VERSION_PREFERENCE: Final[tuple[str, ...]] = ("v3", "v2", "v1")

LABELS_PARQUET: Final = Path("labels_v1") / "labels.parquet"
LABELS_CSV: Final = Path("labels.csv")
_DATE_DIR: Final = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class LoadedData:
    """Features and spans of one date range of a taskclf data directory.

    Attributes:
        features: Feature frame (in-memory convention), rows in day-file order.
        spans: Span frame, restricted to spans overlapping the range (and the user).
        schema_version: The one schema version of every loaded day file.
        days_loaded: Days with a feature file, ascending.
        days_missing: Days of the range without a feature file, ascending.
        files: The feature files read, one per loaded day.
        labels_file: The label file read, or ``None`` when the directory has none.
        warnings: Values kept although they look wrong (see
            :mod:`taskclf_core.data.quality`): feature columns first, then the label file.
        hashed_columns: With ``project``: every column of the files, which
            ``partition_digests`` cover (``features`` holds fewer).
        partition_digests: With ``project``: the (user, day) digests over every column,
            so the dataset hash is the whole files' although fewer columns were kept.
    """

    features: pd.DataFrame
    spans: pd.DataFrame
    schema_version: str
    days_loaded: list[date]
    days_missing: list[date]
    files: list[Path]
    labels_file: Path | None = None
    warnings: tuple[DataWarning, ...] = ()
    hashed_columns: list[str] | None = None
    partition_digests: list[PartitionDigest] | None = None

    def dataset_hash(self) -> str:
        """The dataset hash of the whole files and the spans (as if nothing was dropped)."""
        if self.partition_digests is None or self.hashed_columns is None:
            return dataset_hash(self.features, self.spans)
        return combine_digests(self.hashed_columns, self.partition_digests, span_digest(self.spans))


# --------------------------------------------------------------------------- reading


def _day_runs(days: list[date], versions: list[str]) -> str:
    """'2025-07-01..2025-07-02 are v1, 2025-07-03 is v3' over consecutive same-version days."""
    parts: list[str] = []
    start = 0
    for i in range(1, len(days) + 1):
        if i == len(days) or versions[i] != versions[start]:
            first, last = days[start], days[i - 1]
            if first == last:
                parts.append(f"{first} is {versions[start]}")
            else:
                parts.append(f"{first}..{last} are {versions[start]}")
            start = i
    return ", ".join(parts)


def _find_day_files(data_dir: Path, days: list[date]) -> dict[date, tuple[str, Path]]:
    listed: dict[str, set[str]] = {}
    for version in VERSION_PREFERENCE:
        root = data_dir / f"features_{version}"
        listed[version] = {e.name for e in os.scandir(root)} if root.is_dir() else set()
    found: dict[date, tuple[str, Path]] = {}
    for day in days:
        name = f"date={day.isoformat()}"
        for version in VERSION_PREFERENCE:
            path = data_dir / f"features_{version}" / name / FEATURE_FILE_NAME
            if name in listed[version] and path.is_file():
                found[day] = (version, path)
                break
    return found


def _available_days_text(data_dir: Path) -> str:
    seen: dict[str, list[str]] = {}
    for version in VERSION_PREFERENCE:
        root = data_dir / f"features_{version}"
        if root.is_dir():
            days = sorted(m.group(1) for e in os.scandir(root) if (m := _DATE_DIR.match(e.name)))
            if days:
                seen[version] = days
    if not seen:
        return "the directory has no feature files at all"
    return "the directory has " + "; ".join(
        f"{v} files for {len(d)} day(s) from {d[0]} to {d[-1]}" for v, d in seen.items()
    )


def spans_in_range(
    spans: pd.DataFrame, date_from: date, date_to: date, user_id: str | None
) -> pd.DataFrame:
    begin = pd.Timestamp(date_from, tz="UTC")
    end = pd.Timestamp(date_to + timedelta(days=1), tz="UTC")
    starts, ends = spans["start_ts"], spans["end_ts"]
    keep = (starts < end) & ((ends > begin) | ((ends == starts) & (starts >= begin)))
    if user_id is not None:
        keep &= spans["user_id"].isna() | (spans["user_id"] == user_id)
    return spans.loc[keep].reset_index(drop=True)


@dataclass(frozen=True)
class DayFiles:
    """The day files of a date range: one schema version, newest first per day."""

    data_dir: Path
    files: list[Path]
    days: list[date]
    days_missing: list[date]
    schema_version: str


def find_day_files(data_dir: Path | str, date_from: date, date_to: date) -> DayFiles:
    """The day files of ``[date_from, date_to]`` (each day's newest schema version).

    Raises:
        DataError: Missing data dir, reversed range, no feature file in the range, or day
            files of several schema versions.
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
    return DayFiles(data_dir, [found[d][1] for d in loaded], loaded,
                    [d for d in days if d not in found], versions[0])


def find_labels_file(data_dir: Path) -> Path | None:
    """``labels_v1/labels.parquet``, else ``labels.csv``, else None (taskclf's order)."""
    return next((c for c in (data_dir / LABELS_PARQUET, data_dir / LABELS_CSV) if c.is_file()), None)


#: What a data directory must hold for labels (taskclf's layout).
LABEL_FILES_EXPECTED: Final = (
    "expected labels_v1/labels.parquet or labels.csv (label spans: user_id, start_ts, end_ts, label)"
)


def read_range_labels(
    data_dir: Path, date_from: date, date_to: date, user_id: str | None, *, required: bool
) -> tuple[Path | None, pd.DataFrame, list[DataWarning]]:
    """The label file of ``data_dir``, its spans overlapping the range (and ``user_id``) and
    its warnings, for both engines. Without a label file: no spans, or with ``required``
    a :class:`DataError` naming the folder and what it must hold."""
    labels_file = find_labels_file(data_dir)
    if labels_file is None:
        if required:
            raise DataError(f"no labels file in {data_dir}: {LABEL_FILES_EXPECTED}")
        return None, spans_to_frame([]), []
    all_spans, warnings = read_labels_with_warnings(labels_file)
    return labels_file, spans_in_range(all_spans, date_from, date_to, user_id), list(warnings)


def load_data_dir(
    data_dir: Path | str, date_from: date, date_to: date, *, user_id: str | None = None,
    project: bool = False, labels_required: bool = False,
) -> LoadedData:
    """Load the feature days of ``[date_from, date_to]`` and the label spans of a data dir.

    Each day takes the newest schema version that has a file for it (v3, then v2, then
    v1). Days without a file are listed in ``days_missing``. Spans come from
    ``labels_v1/labels.parquet``, else the top-level ``labels.csv``, else none (an empty
    span frame); only spans overlapping the range (and matching ``user_id`` when given)
    are kept.

    Args:
        data_dir: A taskclf processed-data directory.
        date_from: First UTC day, inclusive.
        date_to: Last UTC day, inclusive.
        user_id: User of v2 files (required when a v2 file is loaded); for v1/v3 files
            only this user's rows (and spans without a user or of this user) are kept.
        project: Keep only the columns a retrain reads (:func:`schema.pipeline_columns`),
            reading one day file at a time: each file is validated and hashed whole, then
            only those columns are kept, so memory does not grow with the other columns.
        labels_required: A data directory without a label file is an error (a retrain), not
            a range without spans.

    Returns:
        The loaded features, spans and what was read.

    Raises:
        DataError: Missing data dir, reversed range, no feature file in the range, day
            files of several schema versions, a v2 file without ``user_id``, no rows for
            ``user_id``, or any validation problem of a file.
    """
    day_files = find_day_files(data_dir, date_from, date_to)
    data_dir, files, versions = day_files.data_dir, day_files.files, [day_files.schema_version]
    projected = read_projected_files(files, pipeline_columns(versions[0]), user_id=user_id) if project else None
    features = projected.features if projected is not None else read_feature_files(files, user_id=user_id)
    if user_id is not None and len(features) == 0:
        raise DataError(
            f"no feature rows for user {user_id!r} in {data_dir} for {date_from}..{date_to} "
            f"({len(files)} day file(s) read)"
        )

    labels_file, spans, label_warnings = read_range_labels(
        data_dir, date_from, date_to, user_id, required=labels_required)
    return LoadedData(
        features=features,
        spans=spans,
        schema_version=versions[0],
        days_loaded=day_files.days,
        days_missing=day_files.days_missing,
        files=files,
        labels_file=labels_file,
        warnings=(*data_warnings(features), *label_warnings),
        hashed_columns=projected.columns if projected is not None else None,
        partition_digests=projected.digests if projected is not None else None,
    )


# --------------------------------------------------------------------------- writing


def write_data_dir(
    data_dir: Path | str,
    features_df: pd.DataFrame,
    spans_frame: pd.DataFrame,
    *,
    version: str = "v1",
) -> list[Path]:
    """Write features (one file per UTC day) and spans in taskclf's data-dir layout.

    Everything is validated before the first file is written. Writes
    ``features_<version>/date=YYYY-MM-DD/features.parquet`` per day of
    ``bucket_start_ts``, ``labels_v1/labels.parquet`` and ``labels.csv``, each atomically.
    Existing day files of other days are left alone.

    Args:
        data_dir: Target directory (created if needed).
        features_df: Feature frame (in-memory convention) whose ``schema_version`` is
            ``version``.
        spans_frame: Span frame.
        version: Schema version to write.

    Returns:
        The files written: day files in day order, then the labels parquet and CSV.

    Raises:
        DataError: Invalid features or spans, version mismatch, or (v2) several users.
    """
    data_dir = Path(data_dir)
    source = "features frame"
    check_version_values(features_df, version, source)
    validate_features(features_df, source=source)
    spans = validate_span_frame(spans_frame, source="span frame")
    frame = normalise_features(features_df, version)
    check_one_user(frame, version, source)
    days = frame["bucket_start_ts"].dt.floor("D")
    written = [
        write_day(data_dir, day_ts.date(), part, version)
        for day_ts, part in frame.groupby(days, sort=True)
    ]
    labels_parquet = data_dir / LABELS_PARQUET
    labels_csv = data_dir / LABELS_CSV
    write_labels_parquet(labels_parquet, spans)
    write_labels_csv(labels_csv, spans)
    return [*written, labels_parquet, labels_csv]


#: What a taskclf data directory holds: everything else in a target folder is not ours.
_DATA_ENTRY: Final = re.compile(r"^(features_v\d+|labels_v1|labels\.csv)$")


def _describe_entry(path: Path) -> str:
    if path.is_dir() and not path.is_symlink():
        days = sum(1 for e in os.scandir(path) if _DATE_DIR.match(e.name))
        return (
            f"{path.name}/ ({days} day folder{'s' if days != 1 else ''})"
            if days
            else f"{path.name}/"
        )
    return path.name


def check_data_dir_target(data_dir: Path | str, *, overwrite: bool) -> None:
    """Refuse a target folder that already holds something, unless ``overwrite``.

    Even with ``overwrite`` only a taskclf data directory (``features_v*/``,
    ``labels_v1/``, ``labels.csv``) may be replaced: a folder holding anything else is
    refused, so a mistyped ``--out`` never deletes other files.

    Args:
        data_dir: The folder to write.
        overwrite: Replace the taskclf data already there.

    Raises:
        DataError: ``data_dir`` is a file, or is not empty and ``overwrite`` is false, or
            holds entries that are not taskclf data.
    """
    target = Path(data_dir)
    if not target.exists() and not target.is_symlink():
        return
    if not target.is_dir() or target.is_symlink():
        raise DataError(f"{target} is not a folder (expected an empty or new data folder)")
    entries = sorted(Path(e.path) for e in os.scandir(target))
    if not entries:
        return
    foreign = [e.name for e in entries if not _DATA_ENTRY.match(e.name)]
    if foreign:
        raise DataError(
            f"{target} is not empty and not a taskclf data folder (it holds "
            f"{name_list(foreign, 5)}); choose an empty or new folder"
        )
    if not overwrite:
        raise DataError(
            f"{target} already holds taskclf data ({', '.join(map(_describe_entry, entries))}); "
            "choose an empty or new folder, or pass --overwrite to replace it"
        )


def replace_data_dir(
    data_dir: Path | str,
    features_df: pd.DataFrame,
    spans_frame: pd.DataFrame,
    *,
    version: str = "v1",
    overwrite: bool = False,
) -> list[Path]:
    """Write a complete data directory as :func:`write_data_dir` does, all or nothing.

    The files are written into a temporary sibling folder which is then renamed into
    place; with ``overwrite`` the previous taskclf data moves aside first and is deleted
    afterwards, so the folder never mixes old days or spans with new ones.

    Args:
        data_dir: The target folder (see :func:`check_data_dir_target`).
        features_df: As for :func:`write_data_dir`.
        spans_frame: As for :func:`write_data_dir`.
        version: As for :func:`write_data_dir`.
        overwrite: Replace the taskclf data already in ``data_dir``.

    Returns:
        The files written, under their final paths.

    Raises:
        DataError: The target is refused (see :func:`check_data_dir_target`), or the data
            is invalid.
    """
    target = Path(data_dir)
    check_data_dir_target(target, overwrite=overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}.{uuid.uuid4().hex[:8]}"
    tmp = target.parent / f".{target.name}.writing.{tag}"
    try:
        written = write_data_dir(tmp, features_df, spans_frame, version=version)
        if target.exists():
            old = target.parent / f".{target.name}.replaced.{tag}"
            os.rename(target, old)
            os.rename(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, target)
        fsync_dir(target.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [target / p.relative_to(tmp) for p in written]
