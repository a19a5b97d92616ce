"""The serving contract: rows of a feature frame → the matrix taskclf's inference feeds LightGBM.

taskclf serves a bundle like this (``fixtures/upstream-registry/README.md``): the feature
columns of the bundle's schema in taskclf's order; each categorical column turned into
text and coded as its index in the sorted vocabulary of ``categorical_encoders.json``
(a value not in the vocabulary, or a null, gets the index of ``__unknown__``, or -1 when
the vocabulary lacks that token); every other column as a number with missing values
filled with 0; the whole matrix float64. Training, every evaluation and every gate here
use exactly this path, so the numbers a reviewer signs off are the served model's.
"""

from __future__ import annotations

from collections.abc import Mapping

import lightgbm as lgb
import numpy as np
import pandas as pd

from taskclf_core.data.schema import CATEGORICAL_BY_VERSION, FEATURES, LABELS
from taskclf_core.errors import DataError

UNKNOWN_TOKEN = "__unknown__"
#: Rows per block when the matrix is filled (cache-sized) and when a model scores rows
#: (bounds the float64 copy that prediction holds at once).
FILL_BLOCK_ROWS = 4096
PREDICT_BLOCK_ROWS = 65_536


def feature_columns(schema_version: str) -> list[str]:
    """The model's feature columns for a schema version, in taskclf's order.

    Raises:
        DataError: the schema version is not v1, v2 or v3.
    """
    if schema_version not in FEATURES:
        raise DataError(f"unknown schema version {schema_version!r}; expected one of {sorted(FEATURES)}")
    return list(FEATURES[schema_version])


def categorical_columns(schema_version: str) -> list[str]:
    """The categorical model features for a schema version (taskclf's list and order)."""
    feature_columns(schema_version)
    return list(CATEGORICAL_BY_VERSION[schema_version])


def categorical_indices(feature_names: list[str], categorical: list[str]) -> list[int]:
    """Positions of the categorical columns in ``feature_names`` (declared to LightGBM)."""
    return [feature_names.index(c) for c in categorical if c in feature_names]


def category_codes(column: pd.Series, vocabulary: list[str]) -> np.ndarray:
    """Float64 code per row: index in the sorted vocabulary, else the unknown code.

    taskclf refits a ``LabelEncoder`` on the stored list, which sorts it again, so a
    code is the index in the sorted list, not the position in the file. Unseen values and
    nulls get the index of ``__unknown__``, or -1 when the vocabulary has no such token.
    """
    vocab = sorted(set(vocabulary))
    fallback = float(vocab.index(UNKNOWN_TOKEN)) if UNKNOWN_TOKEN in vocab else -1.0
    # Look up each distinct value once; code -1 (null) picks the fallback appended last.
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    texts = pd.Index([str(u) for u in uniques], dtype=object)
    lookup = pd.Index(vocab, dtype=object).get_indexer(texts).astype(np.float64)
    lookup[lookup < 0] = fallback
    return np.append(lookup, fallback)[codes]


def _numeric(column: pd.Series, name: str) -> np.ndarray:
    if isinstance(column.dtype, np.dtype) and column.dtype.kind in "biuf":
        return column.to_numpy()  # a view: cast to float64 while copied into the matrix
    try:
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        example = column.dropna().iloc[0] if column.notna().any() else None
        raise DataError(
            f"feature column {name!r} holds non-numeric values (e.g. {example!r}) but the "
            "model expects numbers (or a categorical column with a vocabulary)"
        ) from None


def require_columns(df: pd.DataFrame, feature_names: list[str]) -> None:
    """Raise a :class:`DataError` naming the feature columns ``df`` lacks."""
    missing = [name for name in feature_names if name not in df.columns]
    if missing:
        raise DataError(
            f"the model needs {len(missing)} feature column(s) the data lacks: "
            f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
        )


def feature_matrix(
    df: pd.DataFrame,
    feature_names: list[str],
    encoders: Mapping[str, list[str]],
    *,
    codes: Mapping[str, np.ndarray] | None = None,
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """Rows of ``df`` as the C-contiguous float64 matrix taskclf feeds the model.

    Args:
        df: Feature frame with every column of ``feature_names``.
        feature_names: The model's columns, in order.
        encoders: Categorical column → vocabulary.
        codes: Precomputed codes per categorical column, one per selected row (training
            uses its masked codes).
        rows: Positions of the rows to take (default: all). The matrix is filled straight
            from the frame's columns, so no copy of the selected rows' frame is made.

    Raises:
        DataError: a feature column is missing from ``df`` or is not numeric.
    """
    require_columns(df, feature_names)
    given = codes or {}
    n = len(df) if rows is None else len(rows)
    # (values, whole): a whole column is gathered at ``rows`` block by block; a selected
    # one (codes of the selected rows) is already in row order.
    values: list[tuple[np.ndarray, bool]] = []
    for name in feature_names:
        if name in given:
            values.append((given[name], False))
        elif name in encoders:
            column = df[name] if rows is None else df[name].iloc[rows]
            values.append((category_codes(column, encoders[name]), False))
        else:
            values.append((_numeric(df[name], name), rows is not None))
    out = np.empty((n, len(feature_names)), dtype=np.float64)
    # A block of rows at a time stays in cache while its columns are written; missing
    # numbers become 0 there (taskclf's fillna(0)), so no second pass over the matrix.
    for start in range(0, n, FILL_BLOCK_ROWS):
        block = out[start : start + FILL_BLOCK_ROWS]
        picked = None if rows is None else rows[start : start + FILL_BLOCK_ROWS]
        for j, (column_values, whole) in enumerate(values):
            block[:, j] = column_values[picked] if whole else column_values[start : start + FILL_BLOCK_ROWS]
        np.nan_to_num(block, copy=False, nan=0.0, posinf=np.inf, neginf=-np.inf)
    return out


def predict_proba(
    booster: lgb.Booster,
    df: pd.DataFrame,
    feature_names: list[str],
    encoders: Mapping[str, list[str]],
) -> np.ndarray:
    """Class probabilities (rows × 8, alphabetical class order) exactly as taskclf serves them.

    Scores in row blocks, so at most one block's float64 matrix exists at a time.
    """
    if len(df) == 0:
        return np.zeros((0, len(LABELS)))
    parts = []
    for start in range(0, len(df), PREDICT_BLOCK_ROWS):
        rows = np.arange(start, min(start + PREDICT_BLOCK_ROWS, len(df)))
        X = feature_matrix(df, feature_names, encoders, rows=rows)
        parts.append(np.asarray(booster.predict(X), dtype=np.float64))
    return parts[0] if len(parts) == 1 else np.concatenate(parts)
