"""Time-based train / validation / test split per user, with optional held-out users."""

from __future__ import annotations

import hashlib
from typing import TypedDict

import numpy as np
import pandas as pd

from taskclf_core.errors import DataError, InsufficientDataError

HOLDOUT_SALT = "taskclf-holdout:"


class SplitIndices(TypedDict):
    """Positional row indices of each part, and the held-out users."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    holdout_users: list[str]


def holdout_users_for(users: list[str], fraction: float) -> list[str]:
    """The users held out for ``fraction``: the first ``max(1, int(n * fraction))`` by
    SHA-256 of ``"taskclf-holdout:" + user_id`` (none when ``fraction`` is 0)."""
    if fraction <= 0 or not users:
        return []
    ranked = sorted(users, key=lambda u: hashlib.sha256((HOLDOUT_SALT + u).encode()).hexdigest())
    return ranked[: max(1, int(len(users) * fraction))]


def split_by_time(
    df: pd.DataFrame,
    *,
    train_ratio: float = 0.70,
    val_ratio: float = 0.15,
    holdout_user_fraction: float = 0.0,
) -> SplitIndices:
    """Split rows per user in time order: first 70 % train, next 15 % validation, rest test.

    Held-out users (see :func:`holdout_users_for`) go entirely to test. A user's part
    sizes are ``floor(n * train_ratio)`` and ``floor(n * val_ratio)``.

    Args:
        df: Labelled rows with ``user_id`` and ``bucket_start_ts``.
        train_ratio: Share of each user's rows for training, in (0, 1).
        val_ratio: Share for validation, in [0, 1); ``train_ratio + val_ratio <= 1``.
        holdout_user_fraction: Share of users held out for test, in [0, 1).

    Returns:
        Positional indices (into ``df``) of train, val and test rows, and the held-out users.

    Raises:
        DataError: ``user_id`` missing, or ratios out of range.
        InsufficientDataError: the train or validation part would be empty.
    """
    for column in ("user_id", "bucket_start_ts"):
        if column not in df.columns:
            raise DataError(f"split_by_time needs a {column!r} column; the frame has {list(df.columns)[:8]}...")
    if not 0 < train_ratio < 1 or not 0 <= val_ratio < 1 or train_ratio + val_ratio > 1 + 1e-12:
        raise DataError(
            f"split ratios must satisfy 0 < train_ratio < 1, 0 <= val_ratio < 1 and "
            f"train_ratio + val_ratio <= 1; got train_ratio={train_ratio}, val_ratio={val_ratio}"
        )
    if not 0 <= holdout_user_fraction < 1:
        raise DataError(f"holdout_user_fraction must be in [0, 1); got {holdout_user_fraction}")

    user_codes, users = pd.factorize(df["user_id"].astype("str"), sort=True)
    user_list = [str(u) for u in users]
    ts = df["bucket_start_ts"].to_numpy(dtype="datetime64[us]") if not isinstance(
        df["bucket_start_ts"].dtype, pd.DatetimeTZDtype
    ) else df["bucket_start_ts"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    order = np.lexsort((ts.astype(np.int64), user_codes))
    sorted_codes = user_codes[order]
    counts = np.bincount(user_codes, minlength=len(user_list))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(len(order)) - starts[sorted_codes]
    n = counts[sorted_codes]
    n_train = np.floor(n * train_ratio + 1e-9).astype(np.int64)
    n_val = np.floor(n * val_ratio + 1e-9).astype(np.int64)
    part = np.where(rank < n_train, 0, np.where(rank < n_train + n_val, 1, 2))

    held = holdout_users_for(user_list, holdout_user_fraction)
    if held:
        held_codes = np.isin(sorted_codes, [user_list.index(u) for u in held])
        part = np.where(held_codes, 2, part)

    train, val, test = (np.sort(order[part == k]) for k in range(3))
    check_split_sizes(train_rows=len(train), val_rows=len(val), rows=len(df), users=len(user_list), held=len(held))
    return SplitIndices(train=train, val=val, test=test, holdout_users=held)


def check_split_sizes(*, train_rows: int, val_rows: int, rows: int, users: int, held: int) -> None:
    """Refuse a split whose train or validation part is empty (both engines call this).

    Raises:
        InsufficientDataError: naming the empty part, the rows, users and held-out users.
    """
    if train_rows == 0 or val_rows == 0:
        empty = "train" if train_rows == 0 else "validation"
        raise InsufficientDataError(
            f"the {empty} part is empty: {rows} labelled rows from {users} user(s) "
            f"({held} held out); label more windows, widen the date range or lower "
            "the held-out user fraction"
        )
