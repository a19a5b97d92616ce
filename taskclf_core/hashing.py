"""Dataset hash: a SHA-256 over a canonical form of features and label spans.

Canonical layout (version ``taskclf-dataset-hash/1``):

* Rows are grouped into partitions (``user_id``, UTC day of ``bucket_start_ts``), in key
  order, rows inside a partition sorted by ``bucket_start_ts``.
* A partition digest is SHA-256 over, for each column in sorted name order: the name, a
  type tag, the null mask (one byte a row) and the values: numbers (bool, int, float of
  any width) as float64 with nulls zeroed and -0.0 folded into 0.0 (tag ``n``); timestamps
  as int64 microseconds UTC (tag ``t``); strings as int64 UTF-8 lengths then the bytes (tag
  ``s``); lists as int64 lengths then their flattened strings (tag ``l``).
* The dataset digest is SHA-256 over the layout name, the sorted column names, then
  ``user \\0 day \\0 rows \\0 digest`` for every partition in key order, then the span
  digest (spans sorted by start, end, user, label, provenance, confidence,
  extend_forward; every field hashed column-wise the same way).

So the same data give the same hash whatever the column order, row order or dtype width
in memory, and any changed value, row or span changes it. :func:`partition_digests` is a
pure function of a frame's rows: a cluster can run it per partition and
:func:`combine_digests` the results. Column buffers are hashed directly (no text
rendering), so it runs at memory speed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

LAYOUT = b"taskclf-dataset-hash/1"
_US_PER_DAY = 86_400_000_000


@dataclass(frozen=True)
class PartitionDigest:
    """Digest of one (user, day) partition."""

    user_id: str
    day: int  # days since 1970-01-01 (UTC)
    rows: int
    digest: bytes


@dataclass(frozen=True)
class _Column:
    name: bytes
    tag: bytes
    nulls: np.ndarray  # uint8 per row
    fixed: np.ndarray | None  # fixed-width values per row (float64 / int64)
    lengths: np.ndarray | None  # int64 byte (or item) length per row
    offsets: np.ndarray | None  # int64 start offset per row into data, len rows + 1
    data: bytes | memoryview | None
    inner: _Column | None = None  # list columns: the flattened items


def _timestamps_us(series: pd.Series) -> np.ndarray:
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    return series.to_numpy(dtype="datetime64[us]").astype(np.int64)


def _string_column(name: bytes, arr: pa.Array) -> _Column:
    arr = arr.cast(pa.large_string())
    nulls = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=np.uint8)
    buffers = arr.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data = memoryview(buffers[2]) if buffers[2] is not None else memoryview(b"")
    return _Column(name, b"s", nulls, None, np.diff(offsets), offsets, data)


def _canonical_column(name: str, series: pd.Series) -> _Column:
    key = name.encode("utf-8")
    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(dtype):
        nulls = series.isna().to_numpy().astype(np.uint8)
        values = np.where(nulls.astype(bool), 0, _timestamps_us(series))
        return _Column(key, b"t", nulls, values.astype(np.int64), None, None, None)
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        nulls = np.isnan(values)
        values = np.where(nulls, 0.0, values) + 0.0  # + 0.0 folds -0.0 into 0.0
        return _Column(key, b"n", nulls.astype(np.uint8), values, None, None, None)
    arr = pa.array(series, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
        arr = arr.cast(pa.large_list(pa.large_string()))
        nulls = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=np.uint8)
        offsets = np.asarray(arr.offsets.to_numpy(), dtype=np.int64)
        inner = _string_column(key, arr.values)
        return _Column(key, b"l", nulls, None, np.diff(offsets), offsets, None, inner)
    if pa.types.is_null(arr.type):
        arr = pa.nulls(len(series), pa.large_string())
    return _string_column(key, arr.cast(pa.large_string()))


def _update_slice(h: hashlib._Hash, col: _Column, a: int, b: int) -> None:
    h.update(col.name)
    h.update(col.tag)
    h.update(col.nulls[a:b].tobytes())
    if col.fixed is not None:
        h.update(col.fixed[a:b].tobytes())
        return
    assert col.lengths is not None and col.offsets is not None
    h.update(col.lengths[a:b].tobytes())
    if col.inner is not None:
        _update_slice(h, col.inner, int(col.offsets[a]), int(col.offsets[b]))
    elif col.data is not None:
        h.update(col.data[int(col.offsets[a]) : int(col.offsets[b])])


def _sorted_frame(features: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list[str]]:
    users = features["user_id"].astype("str").to_numpy(dtype=object)
    user_codes, uniques = pd.factorize(users, sort=True)
    ts = _timestamps_us(features["bucket_start_ts"])
    order = np.lexsort((ts, user_codes))
    days = np.floor_divide(ts[order], _US_PER_DAY)
    return features.iloc[order], user_codes[order], days, [str(u) for u in uniques]


def partition_digests(features: pd.DataFrame) -> list[PartitionDigest]:
    """Digest every (user, day) partition of a feature frame, in key order.

    Args:
        features: Feature frame with ``user_id`` and ``bucket_start_ts`` columns.

    Returns:
        One :class:`PartitionDigest` per partition, sorted by (user, day).
    """
    if len(features) == 0:
        return []
    frame, user_codes, days, users = _sorted_frame(features)
    columns = [_canonical_column(name, frame[name]) for name in sorted(map(str, frame.columns))]
    change = np.flatnonzero((np.diff(user_codes) != 0) | (np.diff(days) != 0)) + 1
    bounds = np.concatenate([[0], change, [len(frame)]])
    out: list[PartitionDigest] = []
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        h = hashlib.sha256()
        for col in columns:
            _update_slice(h, col, a, b)
        out.append(PartitionDigest(users[user_codes[a]], int(days[a]), b - a, h.digest()))
    return out


_SPAN_ORDER = ("start_ts", "end_ts", "user_id", "label", "provenance", "confidence", "extend_forward")


def span_digest(spans: pd.DataFrame) -> bytes:
    """Digest of a span frame, independent of row and column order."""
    h = hashlib.sha256(b"spans")
    if len(spans) == 0:
        return h.digest()
    present = [c for c in _SPAN_ORDER if c in spans.columns]
    sort_keys = []
    for name in present:
        col = spans[name]
        if isinstance(col.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(col.dtype):
            sort_keys.append(pd.Series(_timestamps_us(col)))
        elif pd.api.types.is_bool_dtype(col.dtype) or pd.api.types.is_numeric_dtype(col.dtype):
            sort_keys.append(pd.Series(col.to_numpy(dtype=np.float64, na_value=np.nan)))
        else:
            sort_keys.append(col.astype("str").fillna("\0"))
    key_frame = pd.DataFrame({str(i): k.to_numpy() for i, k in enumerate(sort_keys)})
    order = key_frame.sort_values(list(key_frame.columns), kind="mergesort", na_position="first").index
    ordered = spans.iloc[np.asarray(order)]
    for name in sorted(present):
        _update_slice(h, _canonical_column(name, ordered[name]), 0, len(ordered))
    return h.digest()


def combine_digests(
    columns: Iterable[str], partitions: Sequence[PartitionDigest], spans_digest: bytes
) -> str:
    """Fold partition digests (from any number of workers) and the span digest into a hash.

    Returns:
        The first 16 hex characters of the dataset SHA-256.
    """
    h = hashlib.sha256(LAYOUT)
    for name in sorted(map(str, columns)):
        h.update(name.encode("utf-8") + b"\0")
    for part in sorted(partitions, key=lambda p: (p.user_id, p.day)):
        h.update(f"{part.user_id}\0{part.day}\0{part.rows}\0".encode())
        h.update(part.digest)
    h.update(spans_digest)
    return h.hexdigest()[:16]


def dataset_hash(features: pd.DataFrame, spans: pd.DataFrame) -> str:
    """Hash of features and span frame; see the module docstring for the layout."""
    return combine_digests(features.columns, partition_digests(features), span_digest(spans))
