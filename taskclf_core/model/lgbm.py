"""Deterministic multiclass LightGBM on the features of the data's schema version.

Categorical columns become integer codes into a sorted vocabulary persisted with the
model (with an unknown token for values unseen in training); LightGBM treats them as
categoricals. Nulls stay missing (NaN), never zero. The same data and parameters give a
byte-identical ``model.txt``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd

from taskclf_core.data.schema import CATEGORICAL_FEATURES, FEATURES, LABEL_TO_INDEX, LABELS
from taskclf_core.errors import DataError, InsufficientDataError

UNKNOWN_TOKEN = "__unknown__"
#: Rows per block when the feature matrix is filled (a block of 38 float32 columns is ~1 MB).
_BLOCK_ROWS = 8192
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


def build_encoders(df: pd.DataFrame, columns: tuple[str, ...] = CATEGORICAL_FEATURES) -> dict[str, list[str]]:
    """Sorted vocabulary per categorical column (non-null training values + unknown token)."""
    encoders: dict[str, list[str]] = {}
    for column in columns:
        if column in df.columns:
            values = pd.unique(df[column].dropna().astype("str"))
            encoders[column] = sorted({str(v) for v in values} | {UNKNOWN_TOKEN})
    return encoders


def _category_codes(column: pd.Series, vocabulary: list[str]) -> np.ndarray:
    """Float32 code of each value in ``vocabulary`` (unseen: the unknown token; null: NaN)."""
    vocab = pd.Index(vocabulary)
    unknown = float(vocabulary.index(UNKNOWN_TOKEN))
    if isinstance(column.dtype, pd.StringDtype):
        # Look up each distinct value once (Arrow strings factorize without Python objects);
        # code -1 (null) picks the NaN appended to the lookup table.
        codes, uniques = pd.factorize(column)
        lookup = vocab.get_indexer(uniques).astype(np.float32)
        lookup[lookup < 0] = unknown
        return np.append(lookup, np.float32(np.nan))[codes]
    found = vocab.get_indexer(pd.Index(column.astype("str"))).astype(np.float32)
    found[found < 0] = unknown
    found[column.isna().to_numpy()] = np.nan
    return found


def feature_matrix(
    df: pd.DataFrame, feature_names: list[str], encoders: Mapping[str, list[str]]
) -> np.ndarray:
    """Rows of ``df`` as a C-contiguous float32 matrix in ``feature_names`` order.

    Categoricals become codes into their vocabulary (unseen → unknown token, null → NaN);
    flags become 0/1; numeric nulls stay NaN.

    Raises:
        DataError: a feature column is missing from ``df`` or is not numeric.
    """
    missing = [name for name in feature_names if name not in df.columns]
    if missing:
        raise DataError(
            f"the model needs {len(missing)} feature column(s) the data lacks: "
            f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
        )
    values: list[np.ndarray] = []
    for name in feature_names:
        column = df[name]
        if name in encoders:
            values.append(_category_codes(column, encoders[name]))
        elif isinstance(column.dtype, np.dtype) and column.dtype.kind in "biuf":
            values.append(column.to_numpy())  # a view: cast while copied into the matrix
        else:
            try:
                values.append(column.to_numpy(dtype=np.float32, na_value=np.nan))
            except (TypeError, ValueError):
                example = column.dropna().iloc[0] if column.notna().any() else None
                raise DataError(
                    f"feature column {name!r} holds non-numeric values (e.g. {example!r}) but the "
                    "model expects numbers (or a categorical column with a vocabulary)"
                ) from None
    out = np.empty((len(df), len(feature_names)), dtype=np.float32)
    # Fill a block of rows at a time: a whole-column write strides across the full matrix
    # (one cache line per value); a block stays in cache while its columns are written.
    for start in range(0, len(df), _BLOCK_ROWS):
        block = out[start : start + _BLOCK_ROWS]
        for j, column_values in enumerate(values):
            block[:, j] = column_values[start : start + _BLOCK_ROWS]
    return out


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


def class_weights(y: np.ndarray, mode: ClassWeight) -> np.ndarray | None:
    """Per-row weights: ``n / (k * n_c)`` over the k classes present for ``balanced``."""
    if mode == "none":
        return None
    counts = np.bincount(y, minlength=len(LABELS)).astype(np.float64)
    present = counts > 0
    per_class = np.zeros_like(counts)
    per_class[present] = len(y) / (present.sum() * counts[present])
    return per_class[y]


def train_params(*, seed: int, num_threads: int = 0, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The full LightGBM parameter dict for a seed (every value that shapes training)."""
    params = dict(BASE_PARAMS)
    params.update({"seed": seed, "num_threads": num_threads})
    params.update(extra or {})
    return params


def train_lgbm(
    train_df: pd.DataFrame,
    *,
    schema_version: str,
    num_boost_round: int = 100,
    class_weight: ClassWeight = "balanced",
    seed: int = 0,
    num_threads: int = 0,
    on_iteration: Callable[[int, int], None] | None = None,
) -> TrainedModel:
    """Train the multiclass model on labelled rows.

    Args:
        train_df: Labelled rows (features of ``schema_version`` and ``label``).
        schema_version: ``v1``, ``v2`` or ``v3``: selects the feature list.
        num_boost_round: Boosting rounds.
        class_weight: ``balanced`` or ``none``.
        seed: Seed for every random choice LightGBM makes.
        num_threads: LightGBM threads (0: OpenMP default).
        on_iteration: Called with (iterations done, total) after each boosting round.

    Returns:
        The trained model with its encoders and parameters.

    Raises:
        DataError: unknown schema version, missing feature column or unknown label.
        InsufficientDataError: no training rows.
    """
    if schema_version not in FEATURES:
        raise DataError(f"unknown schema version {schema_version!r}; expected one of {sorted(FEATURES)}")
    if len(train_df) == 0:
        raise InsufficientDataError("no training rows: nothing to train on")
    feature_names = list(FEATURES[schema_version])
    encoders = build_encoders(train_df)
    X = feature_matrix(train_df, feature_names, encoders)
    y = label_codes(train_df["label"])
    params = train_params(seed=seed, num_threads=num_threads)
    dataset = lgb.Dataset(
        X,
        label=y,
        weight=class_weights(y, class_weight),
        feature_name=feature_names,
        categorical_feature=[i for i, n in enumerate(feature_names) if n in encoders],
        params={"max_bin": params["max_bin"], "verbosity": -1},
        free_raw_data=True,
    )
    callbacks = []
    if on_iteration is not None:
        report = on_iteration

        def _progress(env: lgb.callback.CallbackEnv) -> None:
            report(env.iteration + 1, env.end_iteration)

        callbacks.append(_progress)
    booster = lgb.train(params, dataset, num_boost_round=num_boost_round, callbacks=callbacks)
    recorded = {**params, "num_boost_round": num_boost_round, "class_weight": class_weight}
    return TrainedModel(booster, feature_names, encoders, schema_version, recorded)


def predict_proba(
    booster: lgb.Booster,
    df: pd.DataFrame,
    feature_names: list[str],
    encoders: Mapping[str, list[str]],
) -> np.ndarray:
    """Class probabilities (rows × 8, alphabetical class order) for ``df``."""
    if len(df) == 0:
        return np.zeros((0, len(LABELS)))
    X = feature_matrix(df, feature_names, encoders)
    return np.asarray(booster.predict(X), dtype=np.float64)
