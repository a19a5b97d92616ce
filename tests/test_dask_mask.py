"""Both engines mask the same rows to ``__unknown__`` for the same seed (one set of rules).

No cluster: the Dask engine's worker functions run here on each day file, exactly as its
tasks run them on the workers (read and project the file, assign the split, mask and
encode the training rows); the local engine's rows come from its own prepare stage and
the encoding ``train_lgbm`` does. Row for row (keyed by user and window start), every
categorical code must agree, and the vocabularies too.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from taskclf_core.data.datadir import find_day_files, load_data_dir, write_data_dir
from taskclf_core.model.encoding import fit_training_codes, value_counts, vocabulary
from taskclf_core.model.serving import UNKNOWN_TOKEN, categorical_columns, feature_columns
from taskclf_core.synthetic.team import generate_team
from taskclf_core.train.dask import data as ddata
from taskclf_core.train.dask import fit as dfit
from taskclf_core.train.stages import Clock, prepare_data

DATE_FROM, DATE_TO = date(2026, 3, 2), date(2026, 3, 8)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    team = generate_team("default", users=3, date_from=DATE_FROM, date_to=DATE_TO, seed=5)
    root = tmp_path_factory.mktemp("mask-team") / "data"
    write_data_dir(root, team.features, team.spans)
    return root


def _local_codes(data_dir: Path, seed: int) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    loaded = load_data_dir(data_dir, DATE_FROM, DATE_TO)
    prepared = prepare_data(loaded.features, loaded.spans, holdout_user_fraction=0.0, source={},
                            warnings=[], clock=Clock(None))
    train = loaded.features.iloc[prepared.train_positions]
    cats = categorical_columns(prepared.schema_version)
    fitted = fit_training_codes(train, cats, seed=seed)  # what train_lgbm encodes with
    codes = pd.DataFrame({"user_id": train["user_id"].astype("str").to_numpy(),
                          "ts": train["bucket_start_ts"].to_numpy(), **fitted.codes})
    return codes, fitted.encoders


def _dask_codes(data_dir: Path, seed: int) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """The Dask engine's steps, one day file per partition, run in this process."""
    files = find_day_files(data_dir, DATE_FROM, DATE_TO).files
    spans = load_data_dir(data_dir, DATE_FROM, DATE_TO).spans
    version = "v1"
    keep = ["user_id", "bucket_start_ts", *feature_columns(version)]
    loaded = [ddata.load_day(str(f), spans=spans, columns=keep, user_id=None) for f in reversed(files)]
    frames = [frame for frame, _ in loaded]
    user_days: dict[tuple[str, int], int] = {}
    for _, summary in loaded:
        user_days.update(summary.user_days)
    plan = ddata.plan_split(user_days, holdout_user_fraction=0.0)
    found = pd.concat([ddata.cut_rows(f, ddata.cut_requests(plan)) for f in frames], ignore_index=True)
    cuts = ddata.cut_times(plan, found)
    train = [part[part[ddata.SPLIT] == ddata.TRAIN] for part in
             (ddata.assign_split(f, cuts, plan.holdout_users) for f in frames)]
    cats = categorical_columns(version)
    # The groupby's sums over all partitions, then the per-partition sample and vocabulary.
    counts = {c: pd.Series([value_counts(p[c]) for p in train]).apply(pd.Series).sum().to_dict() for c in cats}
    kept = dfit.kept_by_column(counts)
    present = pd.concat([dfit.present_values(p, cats, kept, seed) for p in train], ignore_index=True)
    encoders = {c: vocabulary(map(str, present.loc[present["column"] == c, "value"])) for c in cats}
    names = feature_columns(version)
    parts = []
    for p in train:
        matrix = dfit.training_matrix(p, names, cats, kept, encoders, seed, None)
        parts.append(pd.DataFrame({"user_id": p["user_id"].astype("str").to_numpy(),
                                   "ts": p["bucket_start_ts"].to_numpy(),
                                   **{c: matrix[c].to_numpy() for c in cats}}))
    return pd.concat(parts, ignore_index=True), encoders


def _by_row(codes: pd.DataFrame) -> pd.DataFrame:
    return codes.sort_values(["user_id", "ts"]).reset_index(drop=True)


def test_the_local_and_dask_engines_mask_the_same_rows_for_the_same_seed(data_dir: Path) -> None:
    local, local_vocab = _local_codes(data_dir, seed=11)
    dask, dask_vocab = _dask_codes(data_dir, seed=11)
    assert dask_vocab == local_vocab
    local, dask = _by_row(local), _by_row(dask)
    assert len(local) == len(dask) > 1000
    for column in categorical_columns("v1"):
        unknown = float(local_vocab[column].index(UNKNOWN_TOKEN))
        masked = local[column].to_numpy() == unknown
        assert 0.03 < masked.mean() < 0.2, column  # the 5 % sample (plus rare values) is there
        assert np.array_equal(dask[column].to_numpy(), local[column].to_numpy()), column

    # Another seed masks other rows, in both engines alike.
    other, _ = _local_codes(data_dir, seed=12)
    other_dask, _ = _dask_codes(data_dir, seed=12)
    other, other_dask = _by_row(other), _by_row(other_dask)
    assert not np.array_equal(other["app_id"].to_numpy(), local["app_id"].to_numpy())
    assert np.array_equal(other_dask["app_id"].to_numpy(), other["app_id"].to_numpy())
