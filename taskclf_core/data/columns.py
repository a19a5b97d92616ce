"""Column kinds of a feature frame and the in-memory dtypes shared by every data module.

Which columns of a taskclf feature file are timestamps, text, lists, flags, counts and
floats; the pandas dtypes they take in memory; and the small helpers that ask whether a
column holds text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import numpy as np
import pandas as pd

from taskclf_core.data import schema

#: Pandas dtype of text columns in memory (pandas 3 ``str``: missing values are NaN).
STRING_DTYPE: Final = pd.StringDtype(na_value=np.nan)

#: Pandas dtype of every timestamp column in memory.
TIMESTAMP_DTYPE: Final = pd.DatetimeTZDtype(unit="us", tz="UTC")

TIMESTAMP_COLUMNS: Final = ("bucket_start_ts", "bucket_end_ts")
REQUIRED_TEXT: Final = ("user_id", "schema_version", "app_id", "app_category", "domain_category")
OPTIONAL_TEXT: Final = ("device_id", "session_id", "schema_hash", "window_title_hash")
TEXT_COLUMNS: Final = REQUIRED_TEXT + OPTIONAL_TEXT
LIST_COLUMNS: Final = ("source_ids",)
BOOL_COLUMNS: Final = schema.BOOL_FEATURES
INT_COLUMNS: Final = schema.INT_FEATURES + schema.TITLE_INT_FEATURES
#: Text columns that must not be empty; the others may hold "" (taskclf accepts it).
NON_EMPTY_TEXT: Final = ("user_id", "schema_version")
#: Null means "no data". taskclf's FeatureRow also lets the entropies and the top-2
#: concentration be None (its builder leaves them out before 5/15 minutes of history).
NULLABLE_COLUMNS: Final = frozenset(
    schema.NULLABLE_FEATURES + ("app_entropy_5m", "app_entropy_15m", "top2_app_concentration_15m")
)

_NON_FLOAT: Final = frozenset(
    TIMESTAMP_COLUMNS + TEXT_COLUMNS + LIST_COLUMNS + BOOL_COLUMNS + INT_COLUMNS
)

FLOAT_COLUMNS: Final = tuple(c for c in schema.COLUMNS["v3"] if c not in _NON_FLOAT)
NUMERIC_COLUMNS: Final = BOOL_COLUMNS + INT_COLUMNS + FLOAT_COLUMNS


def memory_columns(version: str) -> tuple[str, ...]:
    """Columns of an in-memory feature frame of ``version`` (``user_id`` always included)."""
    return schema.COLUMNS["v3"] if version == "v3" else schema.COLUMNS["v1"]


def name_list(columns: Iterable[str], limit: int = 8) -> str:
    """``a, b, c and 5 more``: at most ``limit`` names, for a message."""
    names = list(columns)
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def version_from_columns(columns: Iterable[str]) -> str:
    """Schema version a column set suggests: title features mean v3, no ``user_id`` v2."""
    present = set(columns)
    if present & set(schema.V3_TITLE_FEATURES):
        return "v3"
    return "v1" if "user_id" in present else "v2"


def is_text_column(series: pd.Series) -> bool:
    """True when every non-null value of ``series`` is a ``str`` (or it is all null)."""
    if pd.api.types.is_string_dtype(series.dtype) and not pd.api.types.is_object_dtype(
        series.dtype
    ):
        return True
    if pd.api.types.is_object_dtype(series.dtype):
        return pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty")
    return False


def non_text_mask(series: pd.Series) -> np.ndarray:
    """Rows of ``series`` holding a non-null value that is not text (error path only)."""
    if not pd.api.types.is_object_dtype(series.dtype):
        return series.notna().to_numpy(dtype=bool)
    # Only called once a column is known to be wrong, to find an example value.
    is_text = series.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
    return series.notna().to_numpy(dtype=bool) & ~is_text


#: The bounds taskclf's own ``FeatureRow`` enforces: validation refuses a value outside.
UPSTREAM_RANGES: Final[dict[str, tuple[float | None, float | None]]] = {
    **{c: (0.0, 1.0) for c in schema.TITLE_SKETCH_FEATURES},
    **schema.VALUE_RANGES,
    # aw-watcher-input polls last a little over 5 s and a whole event counts in the minute
    # it starts in: taskclf writes 60.0-62 s for a fully active minute (ge=0, no upper bound).
    "active_seconds_keyboard": (0.0, None),
    "active_seconds_mouse": (0.0, None),
    "active_seconds_any": (0.0, None),
    "keys_per_min": (None, None),  # FeatureRow sets no bound at all
}
#: Documented physical ranges narrower than taskclf's bounds: a value outside is kept and
#: counted as a data warning (:mod:`taskclf_core.data.quality`).
DOCUMENTED_RANGES: Final[dict[str, tuple[float | None, float | None]]] = {
    c: schema.VALUE_RANGES[c] for c, bounds in UPSTREAM_RANGES.items()
    if c in schema.VALUE_RANGES and schema.VALUE_RANGES[c] != bounds
}
#: Known values of the category columns. taskclf accepts any text there: an unknown
#: value is kept and counted as a data warning.
CATEGORY_DOMAINS: Final[dict[str, tuple[str, ...]]] = {
    "app_category": schema.APP_CATEGORIES,
    "domain_category": schema.DOMAIN_CATEGORIES,
}


def range_text(low: float | None, high: float | None) -> str:
    """``[0, 60]``, ``>= 0`` or ``<= 1``: a range for a message."""
    if low is not None and high is not None:
        return f"[{low:g}, {high:g}]"
    if low is not None:
        return f">= {low:g}"
    return f"<= {high:g}" if high is not None else "any number"
