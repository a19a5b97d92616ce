"""The Dask engine's training: vocabularies, the serving matrix and ``DaskLGBMClassifier``.

Vocabularies follow taskclf's trainer (:mod:`taskclf_core.model.encoding`): values seen
fewer than 5 times in the training rows and a 5 % sample of the rest become
``__unknown__``. On Dask the counts come from one groupby over the training partitions,
and the sample is drawn **per partition**: ``round(5 % x known rows of the partition)``
rows, from a ``numpy.random.RandomState`` seeded with (seed, the partition's day, the
column's position). The local engine draws ``round(5 % x all known rows)`` from one stream
over the whole column, so the two engines mask different rows (and the total can differ
by the per-partition rounding), but each engine is deterministic for the same data.

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
from taskclf_core.model.encoding import MIN_CATEGORY_FREQ, UNKNOWN_MASK_RATE
from taskclf_core.model.lgbm import BASE_PARAMS, ClassWeight, TrainedModel, train_params
from taskclf_core.model.serving import (
    UNKNOWN_TOKEN,
    categorical_columns,
    categorical_indices,
    feature_columns,
    feature_matrix,
)
from taskclf_core.train.dask.data import FILE_DAY, LABEL_CODE

LABEL_COLUMN = "__label__"
WEIGHT_COLUMN = "__weight__"


def _mask_rng(seed: int, frame: pd.DataFrame, position: int) -> np.random.RandomState:
    day = int(frame[FILE_DAY].iloc[0]) if len(frame) else 0
    return np.random.RandomState([seed, day, position])


def masked_values(
    frame: pd.DataFrame, columns: Sequence[str], kept: Mapping[str, set[str]], seed: int
) -> dict[str, np.ndarray]:
    """Per column, the text of each row, or None where taskclf's trainer masks it.

    ``kept`` holds the values seen at least :data:`MIN_CATEGORY_FREQ` times in all the
    training rows; the seeded per-partition sample is masked on top.
    """
    out: dict[str, np.ndarray] = {}
    for position, column in enumerate(columns):
        codes, uniques = pd.factorize(frame[column], use_na_sentinel=True)
        texts = np.array([str(u) for u in uniques] + [None], dtype=object)
        keep = np.array([t in kept[column] and t != UNKNOWN_TOKEN for t in texts[:-1]] + [False])
        row_codes = np.where(codes >= 0, codes, len(uniques))
        known_rows = np.flatnonzero(keep[row_codes])
        values = texts[row_codes].copy()
        values[~keep[row_codes]] = None
        n_mask = int(round(len(known_rows) * UNKNOWN_MASK_RATE))
        if n_mask > 0:
            values[_mask_rng(seed, frame, position).choice(known_rows, size=n_mask, replace=False)] = None
        out[column] = values
    return out


def present_values(frame: pd.DataFrame, columns: list[str], kept: dict[str, set[str]], seed: int) -> pd.DataFrame:
    """The distinct values left after masking in one partition (runs on a worker)."""
    values = masked_values(frame, columns, kept, seed)
    rows = [(c, v) for c in columns for v in pd.unique(values[c][values[c] != None])]  # noqa: E711
    return pd.DataFrame(rows, columns=["column", "value"]).astype(object)


def training_matrix(
    frame: pd.DataFrame, feature_names: list[str], columns: list[str], kept: dict[str, set[str]],
    encoders: dict[str, list[str]], seed: int, class_weight: dict[int, float] | None,
) -> pd.DataFrame:
    """One training partition as the serving matrix, plus label and weight (runs on a worker)."""
    values = masked_values(frame, columns, kept, seed)
    codes = {}
    for column in columns:
        vocab = encoders[column]
        index = pd.Index(vocab, dtype=object)
        code = index.get_indexer(pd.Index(values[column], dtype=object)).astype(np.float64)
        code[code < 0] = float(vocab.index(UNKNOWN_TOKEN))
        codes[column] = code
    matrix = feature_matrix(frame, feature_names, encoders, codes=codes)
    out = pd.DataFrame(matrix, columns=feature_names)
    labels = frame[LABEL_CODE].to_numpy(dtype=np.int64)
    out[LABEL_COLUMN] = labels
    if class_weight is None:
        out[WEIGHT_COLUMN] = np.ones(len(frame))
    else:
        out[WEIGHT_COLUMN] = np.array([class_weight[c] for c in range(len(LABELS))], dtype=np.float64)[labels]
    return out


def balanced_weights(counts: Mapping[int, int], mode: ClassWeight) -> dict[int, float] | None:
    """``n / (k * n_c)`` over the k classes present (as :func:`~taskclf_core.model.lgbm.class_weights`)."""
    if mode == "none":
        return None
    n = sum(counts.values())
    present = [c for c, v in counts.items() if v > 0]
    return {c: (n / (len(present) * counts[c]) if counts.get(c, 0) > 0 else 0.0) for c in range(len(LABELS))}


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


def recorded_params(*, seed: int, num_boost_round: int, class_weight: ClassWeight) -> dict[str, Any]:
    """What the bundle records: the same keys and values as the local engine's model."""
    return {
        **train_params(seed=seed),
        "num_boost_round": num_boost_round,
        "class_weight": class_weight,
        "class_weight_method": class_weight,
        "unknown_category_freq_threshold": MIN_CATEGORY_FREQ,
        "unknown_category_mask_rate": UNKNOWN_MASK_RATE,
    }


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
