"""The Dask engine's data stage: one task per day file, on the workers.

Each task reads one ``features_<v>/date=YYYY-MM-DD/features.parquet`` with the same reader
as the local engine (:func:`~taskclf_core.data.featurefiles.read_feature_file`: validation
and the in-memory dtypes), then, still on the worker: digests its (user, day) partitions
(:func:`~taskclf_core.data.hashing.partition_digests`), counts its data warnings
(:func:`~taskclf_core.data.quality.partition_warnings`), projects the label spans onto its
windows and keeps only the labelled rows and the columns the pipeline reads (column
projection). The client gets a small :class:`DaySummary` per file; the labelled rows stay
on the workers as the partitions of a ``dask.dataframe``.

The split (:func:`split_cuts`) needs only per-(user, day) row counts and, per user, the
timestamps of at most two user-days: no rows are collected to one process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from taskclf_core.data.featurefiles import read_feature_file
from taskclf_core.data.hashing import PartitionDigest, partition_digests
from taskclf_core.data.projection import labelled_rows, project_codes, timestamps_us
from taskclf_core.data.quality import DataWarning, partition_warnings
from taskclf_core.data.split import check_split_sizes, holdout_users_for
from taskclf_core.errors import DataError

_US_PER_DAY = 86_400_000_000
#: Columns the engine adds to each labelled partition.
LABEL_CODE = "__label_code__"
SPLIT = "__split__"
TRAIN, VAL, TEST = 0, 1, 2


def worker_name() -> str:
    """The address of the Dask worker running this task (``this process`` outside one)."""
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return "this process"


@dataclass(frozen=True)
class DaySummary:
    """What the client learns about one day file: small, whatever the file's size."""

    path: str
    schema_version: str
    columns: tuple[str, ...]
    feature_rows: int
    digests: list[PartitionDigest]
    warnings: dict[str, DataWarning]
    #: Labelled rows per (user_id, UTC day since epoch).
    user_days: dict[tuple[str, int], int] = field(default_factory=dict)
    #: Labelled rows per label code.
    classes: list[int] = field(default_factory=list)
    ts_min: int | None = None  # microseconds since epoch, labelled rows
    ts_max: int | None = None


def load_day(
    path: str, spans: pd.DataFrame, columns: Sequence[str], user_id: str | None
) -> tuple[pd.DataFrame, DaySummary]:
    """Read, validate, hash and project one day file (runs on a worker).

    Args:
        path: The day file, as every worker must see it.
        spans: The label spans of the run (broadcast to every worker).
        columns: Columns to keep of the labelled rows (when the file has them).
        user_id: As for :func:`~taskclf_core.data.datadir.load_data_dir`.

    Returns:
        The labelled rows (kept columns plus the label code) and the file's summary.

    Raises:
        DataError: the worker cannot see the file, or the file is invalid.
    """
    file = Path(path)
    if not file.is_file():
        raise DataError(
            f"Dask worker {worker_name()} cannot read {path}: the file is not there. Every worker "
            "must see the data directory at the same path (a shared or copied folder); check "
            "--data-dir and the workers' mounts"
        )
    features = read_feature_file(file, user_id=user_id)
    version = str(features["schema_version"].iloc[0]) if len(features) else ""
    codes = project_codes(features, spans)
    keep = [c for c in dict.fromkeys(columns) if c in features.columns]
    labelled = labelled_rows(features, codes, columns=keep).drop(columns="label")
    labelled[LABEL_CODE] = codes[codes >= 0].astype(np.int64)
    ts = timestamps_us(labelled["bucket_start_ts"])
    user_days: dict[tuple[str, int], int] = {}
    if len(labelled):
        grouped = pd.DataFrame({"u": labelled["user_id"].astype("str").to_numpy(dtype=object),
                                "d": ts // _US_PER_DAY}).value_counts()
        user_days = {(str(key[0]), int(key[1])): int(n) for key, n in grouped.items()}  # type: ignore[index]
    summary = DaySummary(
        path=path,
        schema_version=version,
        columns=tuple(map(str, features.columns)),
        feature_rows=len(features),
        digests=partition_digests(features),
        warnings=partition_warnings(features),
        user_days=user_days,
        classes=np.bincount(labelled[LABEL_CODE].to_numpy(), minlength=8).tolist(),
        ts_min=int(ts.min()) if len(ts) else None,
        ts_max=int(ts.max()) if len(ts) else None,
    )
    return labelled, summary


def frame_of(part: tuple[pd.DataFrame, DaySummary]) -> pd.DataFrame:
    return part[0]


def summary_of(part: tuple[pd.DataFrame, DaySummary]) -> DaySummary:
    return part[1]


def check_partitions(summaries: Sequence[DaySummary]) -> None:
    """Refuse what the local loader refuses across files: one (user, day) in two files.

    The dataset hash digests each (user, day) once; the local loader refuses the same
    (user, time) in two files. A user-day split over two files is refused here.

    Raises:
        DataError: a (user, day) has rows in two files, naming both.
    """
    seen: dict[tuple[str, int], str] = {}
    for summary in summaries:
        for digest in summary.digests:
            key = (digest.user_id, digest.day)
            if key in seen:
                day = pd.Timestamp(digest.day * _US_PER_DAY, unit="us").date()
                raise DataError(
                    f"rows of user {digest.user_id!r} on {day} are in two day files ({seen[key]} and "
                    f"{summary.path}); each day file must hold only its own day"
                )
            seen[key] = summary.path


@dataclass(frozen=True)
class SplitPlan:
    """Per-user cut ranks of the time split, computed from row counts alone."""

    users: list[str]
    holdout_users: list[str]
    #: user -> (rank of the first validation row, rank of the first test row)
    cut_ranks: dict[str, tuple[int, int]]
    #: user -> rows per day, in day order
    days: dict[str, list[tuple[int, int]]]
    train_rows: int
    val_rows: int
    test_rows: int


def plan_split(
    user_days: dict[tuple[str, int], int], *, holdout_user_fraction: float,
    train_ratio: float = 0.70, val_ratio: float = 0.15,
) -> SplitPlan:
    """The split sizes per user, exactly as :func:`~taskclf_core.data.split.split_by_time` sizes them.

    Raises:
        InsufficientDataError: the train or validation part would be empty (same message
            as the local split).
    """
    per_user: dict[str, list[tuple[int, int]]] = {}
    for (user, day), n in sorted(user_days.items()):
        per_user.setdefault(user, []).append((day, n))
    users = sorted(per_user)
    held = holdout_users_for(users, holdout_user_fraction)
    cuts: dict[str, tuple[int, int]] = {}
    train = val = test = 0
    for user in users:
        n = sum(c for _, c in per_user[user])
        n_train = int(np.floor(n * train_ratio + 1e-9))
        n_val = int(np.floor(n * val_ratio + 1e-9))
        cuts[user] = (n_train, n_train + n_val)
        if user in held:
            test += n
        else:
            train, val, test = train + n_train, val + n_val, test + n - n_train - n_val
    check_split_sizes(train_rows=train, val_rows=val, rows=sum(user_days.values()), users=len(users), held=len(held))
    return SplitPlan(users, held, cuts, per_user, train, val, test)


def cut_requests(plan: SplitPlan) -> dict[tuple[str, int], list[int]]:
    """(user, day) -> ranks inside that day whose timestamp is a cut (at most 2 days a user)."""
    wanted: dict[tuple[str, int], list[int]] = {}
    for user in plan.users:
        if user in plan.holdout_users:
            continue
        days = plan.days[user]
        starts = np.cumsum([0] + [n for _, n in days])
        for rank in plan.cut_ranks[user]:
            if rank >= starts[-1]:
                continue  # no row at that rank: every later row is in the earlier part
            i = int(np.searchsorted(starts, rank, side="right") - 1)
            wanted.setdefault((user, days[i][0]), []).append(int(rank - starts[i]))
    return wanted


def cut_rows(frame: pd.DataFrame, wanted: dict[tuple[str, int], list[int]]) -> pd.DataFrame:
    """Timestamps at the requested in-day ranks of this partition (runs on a worker)."""
    out: list[tuple[str, int, int, int]] = []
    if len(frame) and wanted:
        users = frame["user_id"].astype("str").to_numpy(dtype=object)
        ts = timestamps_us(frame["bucket_start_ts"])
        days = ts // _US_PER_DAY
        for (user, day), ranks in wanted.items():
            rows = (users == user) & (days == day)
            if rows.any():
                ordered = np.sort(ts[rows])
                out.extend((user, day, r, int(ordered[r])) for r in ranks)
    return pd.DataFrame(out, columns=["user_id", "day", "rank", "ts"]).astype(
        {"user_id": object, "day": "int64", "rank": "int64", "ts": "int64"}
    )


def cut_times(plan: SplitPlan, found: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """user -> (first validation timestamp, first test timestamp), microseconds.

    A cut with no row at its rank is "never" (``2**62``): every later row is earlier.
    """
    never = 2**62
    at: dict[tuple[str, int, int], int] = {
        (str(u), int(d), int(r)): int(t)
        for u, d, r, t in found[["user_id", "day", "rank", "ts"]].itertuples(index=False)
    }
    cuts: dict[str, tuple[int, int]] = {}
    for user in plan.users:
        if user in plan.holdout_users:  # every row is test (assign_split)
            cuts[user] = (never, never)
            continue
        days = plan.days[user]
        starts = np.cumsum([0] + [n for _, n in days])
        times = []
        for rank in plan.cut_ranks[user]:
            if rank >= starts[-1]:
                times.append(never)
                continue
            i = int(np.searchsorted(starts, rank, side="right") - 1)
            times.append(at[(user, days[i][0], int(rank - starts[i]))])
        cuts[user] = (times[0], times[1])
    return cuts


def assign_split(
    frame: pd.DataFrame, cuts: dict[str, tuple[int, int]], holdout: Sequence[str]
) -> pd.DataFrame:
    """Add the split code per row: train before the user's first cut, then val, then test.

    ``assign`` under pandas' copy-on-write shares the other columns with ``frame``: the
    partition is not copied (the input, which the cluster may still hold, is not changed).
    """
    if len(frame) == 0:
        return frame.assign(**{SPLIT: np.zeros(0, dtype=np.int8)})
    users = frame["user_id"].astype("str").to_numpy(dtype=object)
    ts = timestamps_us(frame["bucket_start_ts"])
    uniques, codes = np.unique(users, return_inverse=True)
    t_val = np.array([cuts[u][0] for u in uniques], dtype=np.int64)[codes]
    t_test = np.array([cuts[u][1] for u in uniques], dtype=np.int64)[codes]
    split = np.where(ts < t_val, TRAIN, np.where(ts < t_test, VAL, TEST)).astype(np.int8)
    if holdout:
        split[np.isin(users, list(holdout))] = TEST
    return frame.assign(**{SPLIT: split})
