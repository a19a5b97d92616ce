"""split_by_time: per-user time order, held-out users, and its errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from taskclf_core.data.split import holdout_users_for, split_by_time
from taskclf_core.errors import DataError, InsufficientDataError


def frame(n_per_user: dict[str, int]) -> pd.DataFrame:
    rows = []
    for user, n in n_per_user.items():
        start = pd.Timestamp("2025-07-01", tz="UTC")
        # reversed time order on disk, as in real files
        rows += [(user, start + pd.Timedelta(minutes=i)) for i in reversed(range(n))]
    return pd.DataFrame(rows, columns=["user_id", "bucket_start_ts"])


def test_each_user_is_split_in_time_order():
    df = frame({"a": 100, "b": 20})
    parts = split_by_time(df)
    for user, n in (("a", 100), ("b", 20)):
        ts = {}
        for k in ("train", "val", "test"):
            part = df.iloc[parts[k]]
            ts[k] = part.loc[part["user_id"] == user, "bucket_start_ts"]
        assert (len(ts["train"]), len(ts["val"])) == (int(n * 0.7), int(n * 0.15))
        assert ts["train"].max() < ts["val"].min() and ts["val"].max() < ts["test"].min()
    assert sorted(np.concatenate([parts["train"], parts["val"], parts["test"]])) == list(range(len(df)))


def test_holdout_users_go_entirely_to_test():
    df = frame({u: 50 for u in "abcdefghij"})
    parts = split_by_time(df, holdout_user_fraction=0.2)
    held = parts["holdout_users"]
    assert held == holdout_users_for(list("abcdefghij"), 0.2) and len(held) == 2
    assert set(df.iloc[parts["train"]]["user_id"]).isdisjoint(held)
    assert set(held) <= set(df.iloc[parts["test"]]["user_id"])
    assert len(holdout_users_for(["x", "y"], 0.1)) == 1  # at least one when fraction > 0


def test_errors_name_the_problem():
    with pytest.raises(DataError, match="needs a 'user_id' column"):
        split_by_time(pd.DataFrame({"bucket_start_ts": []}))
    with pytest.raises(DataError, match="train_ratio=0.9, val_ratio=0.2"):
        split_by_time(frame({"a": 10}), train_ratio=0.9, val_ratio=0.2)
    with pytest.raises(InsufficientDataError, match="validation part is empty: 3 labelled rows from 1 user"):
        split_by_time(frame({"a": 3}))
