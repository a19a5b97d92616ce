"""The Dask engine's training: the serving matrix per partition and ``DaskLGBMClassifier``.

The training rules are the local engine's own functions, called per partition:
vocabularies and the unknown-category mask from :mod:`taskclf_core.model.encoding` (the
values kept are counted with one groupby over all the training partitions; the seeded
sample is drawn per (user, day), and a (user, day) lives in one day file, so each
partition masks exactly the rows the local engine masks), class weights from
:func:`~taskclf_core.model.lgbm.class_weight_table` and the recorded parameters from
:func:`~taskclf_core.model.lgbm.recorded_params`.

Each partition becomes the exact matrix taskclf serves (:func:`~taskclf_core.model.serving.
feature_matrix`: feature order, categorical codes, missing numbers 0, float64); training
and scoring use nothing else, so the saved model is served by taskclf identically.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from taskclf_core.data.schema import LABELS
from taskclf_core.errors import InsufficientDataError
from taskclf_core.model.encoding import MaskedColumn, RowKeys, kept_values, mask_column
from taskclf_core.model.lgbm import BASE_PARAMS, TrainedModel, train_params
from taskclf_core.model.serving import (
    categorical_columns,
    categorical_indices,
    feature_columns,
    feature_matrix,
)
from taskclf_core.train.dask.data import LABEL_CODE

LABEL_COLUMN = "__label__"
WEIGHT_COLUMN = "__weight__"


def kept_by_column(counts: Mapping[str, Mapping[Any, int]]) -> dict[str, set[str]]:
    """Per column, the values kept (:func:`~taskclf_core.model.encoding.kept_values`) from
    the value counts summed over all training partitions."""
    return {c: kept_values({str(v): int(n) for v, n in per_value.items()}) for c, per_value in counts.items()}


def masked_columns(frame: pd.DataFrame, columns: Sequence[str], kept: Mapping[str, set[str]],
                   seed: int) -> dict[str, MaskedColumn]:
    """Each categorical column of one training partition, masked as the local engine masks it."""
    keys = RowKeys.of(frame)
    return {column: mask_column(frame[column], kept[column], keys, seed=seed, column_position=position)
            for position, column in enumerate(columns)}


def present_values(frame: pd.DataFrame, columns: list[str], kept: dict[str, set[str]], seed: int) -> pd.DataFrame:
    """The distinct values left after masking in one partition (runs on a worker)."""
    masked = masked_columns(frame, columns, kept, seed)
    rows = [(c, v) for c in columns for v in sorted(masked[c].present())]
    return pd.DataFrame(rows, columns=["column", "value"]).astype(object)


def training_matrix(
    frame: pd.DataFrame, feature_names: list[str], columns: list[str], kept: dict[str, set[str]],
    encoders: dict[str, list[str]], seed: int, class_weight: np.ndarray | None,
) -> pd.DataFrame:
    """One training partition as the serving matrix, plus label and weight (runs on a worker)."""
    masked = masked_columns(frame, columns, kept, seed)
    codes = {column: masked[column].codes(encoders[column]) for column in columns}
    matrix = feature_matrix(frame, feature_names, encoders, codes=codes)
    out = pd.DataFrame(matrix, columns=feature_names)
    labels = frame[LABEL_CODE].to_numpy(dtype=np.int64)
    out[LABEL_COLUMN] = labels
    out[WEIGHT_COLUMN] = np.ones(len(frame)) if class_weight is None else class_weight[labels]
    return out


def dask_params(*, seed: int, num_boost_round: int, fit_timeout_minutes: int) -> dict[str, Any]:
    """The local engine's LightGBM parameters, in ``DaskLGBMClassifier``'s words.

    ``num_class`` and ``num_threads`` are set by LightGBM's Dask interface (classes found,
    each worker's threads); ``time_out`` bounds a rank waiting for a lost one.
    """
    params = train_params(seed=seed)
    for name in ("num_class", "num_threads", "min_data_in_leaf"):
        params.pop(name, None)
    params.update(
        n_estimators=num_boost_round, min_child_samples=BASE_PARAMS["min_data_in_leaf"],
        random_state=seed, time_out=fit_timeout_minutes,
    )
    return params


def check_classes(label_sets: Sequence[set[int]], workers: Sequence[str]) -> None:
    """Every worker's training share must hold every class (LightGBM's Dask interface fits
    its label encoder per worker; a missing class breaks training with a socket error).

    Raises:
        InsufficientDataError: a class is missing overall or on one worker, naming both.
    """
    every = set().union(*label_sets) if label_sets else set()
    missing = [LABELS[c] for c in range(len(LABELS)) if c not in every]
    if missing:
        raise InsufficientDataError(
            f"the training rows have no {', '.join(missing)} window: the Dask engine trains on "
            "all 8 classes; label such windows, widen the date range, or use engine: local"
        )
    for labels, worker in zip(label_sets, workers, strict=True):
        lacking = [LABELS[c] for c in range(len(LABELS)) if c not in labels]
        if lacking:
            raise InsufficientDataError(
                f"Dask worker {worker}'s share of the training rows has no {', '.join(lacking)} "
                "window (LightGBM's Dask training needs every class on every worker): use fewer "
                "workers, a wider date range, or engine: local"
            )


def label_set(frame: pd.DataFrame) -> set[int]:
    return {int(v) for v in pd.unique(frame[LABEL_COLUMN])}


def fitted_model(booster: Any, schema_version: str, encoders: dict[str, list[str]], params: dict[str, Any]) -> TrainedModel:
    """The trained booster as the local engine's :class:`TrainedModel` (same feature list)."""
    import lightgbm as lgb

    # A plain Booster from the model text: what model.txt holds and what taskclf loads.
    plain = lgb.Booster(model_str=booster.model_to_string())
    return TrainedModel(plain, feature_columns(schema_version), encoders, schema_version, params)


def categorical_positions(schema_version: str) -> list[int]:
    names = feature_columns(schema_version)
    return categorical_indices(names, categorical_columns(schema_version))


class _QuietLogger:
    """LightGBM's log kept off the console (a run's messages are its errors and records)."""

    def info(self, message: str) -> None:
        pass

    def warning(self, message: str) -> None:
        logging.getLogger("lightgbm").debug(message)  # "n_jobs will be ignored": expected here


def quiet_lightgbm() -> None:
    """Send LightGBM's info lines nowhere in this process (run on every worker)."""
    import lightgbm as lgb

    lgb.register_logger(_QuietLogger())


@contextmanager
def quiet_lightgbm_here() -> Iterator[None]:
    """:func:`quiet_lightgbm` in this process for a while, then LightGBM's own logger again."""
    import lightgbm.basic as basic

    previous = (basic._LOGGER, basic._INFO_METHOD_NAME, basic._WARNING_METHOD_NAME)
    quiet_lightgbm()
    try:
        yield
    finally:
        basic.register_logger(previous[0], previous[1], previous[2])
