"""Deterministic multiclass LightGBM, trained on the matrix taskclf serves.

The feature columns, categorical columns and their vocabularies (rare values and a
seeded 5 % sample masked to ``__unknown__``) are taskclf's; missing numbers are 0 and
the matrix float64 (:mod:`taskclf_core.model.serving`). The same data and parameters
give a byte-identical ``model.txt``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd

from taskclf_core.data.schema import LABEL_TO_INDEX, LABELS
from taskclf_core.errors import DataError, InsufficientDataError
from taskclf_core.model.encoding import MIN_CATEGORY_FREQ, UNKNOWN_MASK_RATE, fit_training_codes
from taskclf_core.model.serving import (
    categorical_columns,
    categorical_indices,
    feature_columns,
    feature_matrix,
    require_columns,
)

ClassWeight = Literal["balanced", "none"]

#: LightGBM parameters that are fixed for every model (the seed and rounds come from
#: the config). ``deterministic`` + ``force_col_wise`` make training reproducible.
BASE_PARAMS: dict[str, Any] = {
    "objective": "multiclass",
    "num_class": len(LABELS),
    "learning_rate": 0.1,
    "num_leaves": 31,
    "min_data_in_leaf": 20,
    "max_bin": 255,
    "deterministic": True,
    "force_col_wise": True,
    "verbosity": -1,
}


@dataclass(frozen=True)
class TrainedModel:
    """A trained booster with everything needed to score new rows."""

    booster: lgb.Booster
    feature_names: list[str]
    encoders: dict[str, list[str]]
    schema_version: str
    params: dict[str, Any] = field(default_factory=dict)

    def model_text(self) -> str:
        """The model in LightGBM's text format (what ``model.txt`` holds)."""
        return str(self.booster.model_to_string())


def label_codes(labels: pd.Series) -> np.ndarray:
    """Class index per row in the alphabetical class order.

    Raises:
        DataError: a label is not one of the eight core labels.
    """
    # Map each distinct label once; -1 marks a row whose label is not a core label.
    codes, uniques = pd.factorize(labels)
    known = [LABEL_TO_INDEX.get(u, -1) if isinstance(u, str) else -1 for u in uniques]
    lookup = np.array([*known, -1], dtype=np.int64)
    out = lookup[codes]
    if (out < 0).any():
        bad = labels.iloc[int(np.argmax(out < 0))]
        raise DataError(f"label {bad!r} is not a core label; allowed: {', '.join(LABELS)}")
    return out


def class_weight_table(counts: np.ndarray, mode: ClassWeight) -> np.ndarray | None:
    """Weight per class from the training rows' class counts: ``n / (k * n_c)`` over the k
    classes present for ``balanced`` (0 for an absent class), None for ``none``.

    Both engines weight with this table (the Dask engine from counts summed on the workers).
    """
    if mode == "none":
        return None
    counts = np.asarray(counts, dtype=np.float64)
    present = counts > 0
    per_class = np.zeros(len(LABELS), dtype=np.float64)
    per_class[: len(counts)][present] = counts.sum() / (present.sum() * counts[present])
    return per_class


def class_weights(y: np.ndarray, mode: ClassWeight) -> np.ndarray | None:
    """Per-row weights of :func:`class_weight_table` for the class codes ``y``."""
    table = class_weight_table(np.bincount(y, minlength=len(LABELS)), mode)
    return None if table is None else table[y]


def train_params(*, seed: int, num_threads: int = 0, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The full LightGBM parameter dict for a seed (every value that shapes training)."""
    params = dict(BASE_PARAMS)
    params.update({"seed": seed, "num_threads": num_threads})
    params.update(extra or {})
    return params


def recorded_params(*, seed: int, num_boost_round: int, class_weight: ClassWeight, num_threads: int = 0) -> dict[str, Any]:
    """What a bundle records of its training: LightGBM's parameters and the training rules
    (rounds, class weights, unknown-category masking); the same keys for both engines."""
    return {
        **train_params(seed=seed, num_threads=num_threads),
        "num_boost_round": num_boost_round,
        "class_weight": class_weight,
        "class_weight_method": class_weight,
        "unknown_category_freq_threshold": MIN_CATEGORY_FREQ,
        "unknown_category_mask_rate": UNKNOWN_MASK_RATE,
    }


def train_lgbm(
    train_df: pd.DataFrame,
    *,
    schema_version: str,
    num_boost_round: int = 100,
    class_weight: ClassWeight = "balanced",
    seed: int = 0,
    num_threads: int = 0,
    on_iteration: Callable[[int, int], None] | None = None,
    rows: np.ndarray | None = None,
    labels: np.ndarray | None = None,
) -> TrainedModel:
    """Train the multiclass model on labelled rows.

    Args:
        train_df: Labelled rows (features of ``schema_version`` and ``label``), or, with
            ``rows`` and ``labels``, any feature frame of which those rows are trained on.
        schema_version: ``v1``, ``v2`` or ``v3``: selects the feature list.
        num_boost_round: Boosting rounds.
        class_weight: ``balanced`` or ``none``.
        seed: Seed for every random choice LightGBM makes.
        num_threads: LightGBM threads (0: OpenMP default).
        on_iteration: Called with (iterations done, total) after each boosting round.
        rows: Positions of the training rows in ``train_df`` (default: every row): the
            matrix is built from the frame's columns with no copy of those rows.
        labels: Class code of each of ``rows`` (required with ``rows``).

    Returns:
        The trained model with its encoders and parameters.

    Raises:
        DataError: unknown schema version, missing feature column or unknown label.
        InsufficientDataError: no training rows.
    """
    feature_names = feature_columns(schema_version)
    if (len(train_df) if rows is None else len(rows)) == 0:
        raise InsufficientDataError("no training rows: nothing to train on")
    if rows is not None and (labels is None or len(labels) != len(rows)):
        raise ValueError("train_lgbm: rows need one label code each")
    require_columns(train_df, feature_names)
    keys = [c for c in ("user_id", "bucket_start_ts") if c not in train_df.columns]
    if keys:
        raise DataError(f"the training rows lack {', '.join(keys)}: the unknown-category mask is drawn per "
                        "(user, day) of the training rows")
    categorical = categorical_columns(schema_version)
    # The masking draw reads each row's user and window start besides the categories.
    cat_frame = train_df[list(dict.fromkeys([*categorical, "user_id", "bucket_start_ts"]))]
    fitted = fit_training_codes(cat_frame if rows is None else cat_frame.iloc[rows], categorical, seed=seed)
    X = feature_matrix(train_df, feature_names, fitted.encoders, codes=fitted.codes, rows=rows)
    y = label_codes(train_df["label"]) if labels is None else np.asarray(labels, dtype=np.int64)
    params = train_params(seed=seed, num_threads=num_threads)
    dataset = lgb.Dataset(
        X,
        label=y,
        weight=class_weights(y, class_weight),
        feature_name=feature_names,
        categorical_feature=categorical_indices(feature_names, categorical),
        params={"max_bin": params["max_bin"], "verbosity": -1},
        free_raw_data=True,
    )
    del X  # the Dataset holds the only reference: freed once LightGBM has binned it
    callbacks = []
    if on_iteration is not None:
        report = on_iteration

        def _progress(env: lgb.callback.CallbackEnv) -> None:
            report(env.iteration + 1, env.end_iteration)

        callbacks.append(_progress)
    booster = lgb.train(params, dataset, num_boost_round=num_boost_round, callbacks=callbacks)
    recorded = recorded_params(seed=seed, num_boost_round=num_boost_round, class_weight=class_weight,
                               num_threads=num_threads)
    return TrainedModel(booster, feature_names, fitted.encoders, schema_version, recorded)
