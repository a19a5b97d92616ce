"""The Dask engine's split (counts, cut timestamps, per-partition assignment) equals the local split.

Pure functions, no cluster: the partitions are day-sized pieces of a random frame, as the
day files are on the workers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from taskclf_core.data.split import split_by_time
from taskclf_core.train.dask import data as ddata


def _frame(seed: int, users: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(users):
        n = int(rng.integers(1, 400))
        minutes = np.sort(rng.choice(6 * 24 * 60, size=n, replace=False))
        rows += [(f"user-{u:02d}", m) for m in rng.permutation(minutes)]
    frame = pd.DataFrame(rows, columns=["user_id", "minute"])
    frame["bucket_start_ts"] = pd.Timestamp("2026-05-01", tz="UTC") + pd.to_timedelta(frame["minute"], unit="min")
    return frame.drop(columns="minute").sample(frac=1.0, random_state=seed).reset_index(drop=True)


@pytest.mark.parametrize(("seed", "users", "holdout"), [(0, 1, 0.0), (1, 7, 0.0), (2, 12, 0.25), (3, 30, 0.5)])
def test_counts_and_cut_times_give_the_local_split_row_for_row(seed: int, users: int, holdout: float) -> None:
    frame = _frame(seed, users)
    days = frame["bucket_start_ts"].dt.floor("D")
    parts = [part for _, part in frame.groupby(days, sort=True)]  # one partition per day file
    user_days: dict[tuple[str, int], int] = {}
    for part in parts:
        d = int(part["bucket_start_ts"].iloc[0].floor("D").value // 86_400_000_000_000)
        for user, n in part["user_id"].value_counts().items():
            user_days[(str(user), d)] = int(n)

    reference = split_by_time(frame, holdout_user_fraction=holdout)
    plan = ddata.plan_split(user_days, holdout_user_fraction=holdout)
    wanted = ddata.cut_requests(plan)
    assert all(len({d for (u, d) in wanted if u == user}) <= 2 for user in plan.users)  # at most 2 user-days
    found = pd.concat([ddata.cut_rows(p, wanted) for p in parts], ignore_index=True)
    assigned = pd.concat([ddata.assign_split(p, ddata.cut_times(plan, found), plan.holdout_users) for p in parts])

    split = assigned[ddata.SPLIT].sort_index().to_numpy()
    for code, name in ((ddata.TRAIN, "train"), (ddata.VAL, "val"), (ddata.TEST, "test")):
        assert np.array_equal(np.flatnonzero(split == code), reference[name]), name  # type: ignore[literal-required]
    assert plan.holdout_users == reference["holdout_users"]
    assert (plan.train_rows, plan.val_rows, plan.test_rows) == tuple(len(reference[k]) for k in ("train", "val", "test"))  # type: ignore[literal-required]
