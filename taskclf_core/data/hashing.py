"""Dataset hash: a SHA-256 over a canonical form of features and label spans.

Canonical layout (version ``taskclf-dataset-hash/1``):

* Rows are grouped into partitions (``user_id``, UTC day of ``bucket_start_ts``), in key
  order, rows inside a partition sorted by ``bucket_start_ts``.
* A partition digest is SHA-256 over, for each column in sorted name order: the name, a
  type tag, the null mask (one byte a row) and the values: numbers (bool, int, float of
  any width) as float64 with nulls zeroed and -0.0 folded into 0.0 (tag ``n``); timestamps
  as int64 microseconds UTC (tag ``t``); strings as int64 UTF-8 lengths then the bytes (tag
  ``s``); lists as int64 lengths then their flattened strings (tag ``l``). A null string
  or list has length 0 and no bytes (clarified 2026-11: before, stale bytes an Arrow
  buffer kept under a null slot, e.g. after ``frame.loc[i, "user_id"] = None``, entered
  the hash, so equal frames could hash differently; frames read from files never have
  such bytes, so their hashes are unchanged).
* The dataset digest is SHA-256 over the layout name, the sorted column names, then
  ``user \\0 day \\0 rows \\0 digest`` for every partition in key order, then the span
  digest (spans sorted by start, end, user, label, provenance, confidence,
  extend_forward; every field hashed column-wise the same way).

So the same data give the same hash whatever the column order, row order or dtype width
in memory, and any changed value, row or span changes it. :func:`partition_digests` is a
pure function of a frame's rows: a cluster can run it per partition and
:func:`combine_digests` the results. Column buffers are hashed directly (no text
rendering), so it runs at memory speed: every column is put in canonical form once, in
hash order (``numpy.take`` / Arrow ``take``, never a copy of the whole frame), and each
partition's byte stream is assembled from slices of those buffers and hashed in one call,
on a few threads (``hashlib`` releases the GIL while it hashes).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

LAYOUT = b"taskclf-dataset-hash/1"
_US_PER_DAY = 86_400_000_000
#: Partitions per hashing task, and the rows below which one thread does everything.
_TASK_PARTITIONS = 64
_PARALLEL_MIN_ROWS = 50_000


@dataclass(frozen=True)
class PartitionDigest:
    """Digest of one (user, day) partition."""

    user_id: str
    day: int  # days since 1970-01-01 (UTC)
    rows: int
    digest: bytes


@dataclass(frozen=True)
class _Buffer:
    """A column buffer in hash order; rows ``[a, b)`` are ``data[at[a]:at[b]]``.

    ``at`` maps a row boundary to a byte offset: ``width * row`` for fixed-width parts
    (``offsets`` is None), else ``offsets[row]``.
    """

    data: memoryview
    width: int = 0
    offsets: np.ndarray | None = None

    def bounds(self, rows: np.ndarray) -> list[int]:
        if self.offsets is None:
            return (rows * self.width).tolist()
        return self.offsets[rows].tolist()


#: A column's byte stream for a row range: constants (name and tag) and buffer slices.
_Part = bytes | _Buffer


def _timestamps_us(series: pd.Series) -> np.ndarray:
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    return series.to_numpy(dtype="datetime64[us]").astype(np.int64)


def _bytes(values: np.ndarray) -> memoryview:
    return np.ascontiguousarray(values).data.cast("B")


def _string_buffers(arr: pa.Array) -> tuple[np.ndarray, memoryview]:
    """Offsets (one per row boundary) and data of a ``large_string`` array."""
    buffers = arr.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data = memoryview(buffers[2]).cast("B") if buffers[2] is not None else memoryview(b"")
    return offsets, data


def _string_parts(key: bytes, arr: pa.Array, row_offsets: np.ndarray | None = None) -> list[_Part]:
    """Tag ``s``: null mask, int64 UTF-8 lengths, then the bytes.

    ``row_offsets`` (list columns) maps the outer row boundaries to rows of ``arr``.
    """
    arr = arr.cast(pa.large_string())
    nulls = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=np.uint8)
    offsets, data = _string_buffers(arr)
    lengths = np.diff(offsets)
    if arr.null_count and lengths[nulls.view(bool)].any():  # stale bytes under a null
        arr = pa.array(arr.to_pylist(), type=pa.large_string())
        offsets, data = _string_buffers(arr)
        lengths = np.diff(offsets)
    if row_offsets is None:
        return [key + b"s", _Buffer(_bytes(nulls), 1), _Buffer(_bytes(lengths), 8), _Buffer(data, 0, offsets)]
    return [
        key + b"s",
        _Buffer(_bytes(nulls), 0, row_offsets),
        _Buffer(_bytes(lengths), 0, row_offsets * 8),
        _Buffer(data, 0, offsets[row_offsets]),
    ]


def _arrow_in_order(series: pd.Series, order: np.ndarray | None) -> pa.Array:
    arr = pa.array(series, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_null(arr.type):
        return pa.nulls(len(series), pa.large_string())
    if order is not None:
        arr = arr.take(pa.array(order))
    return arr


def _column_parts(name: str, series: pd.Series, order: np.ndarray | None) -> list[_Part]:
    """The canonical byte stream parts of one column, rows in ``order``."""
    key = name.encode("utf-8")
    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(dtype):
        nulls = series.isna().to_numpy()
        values = np.where(nulls, 0, _timestamps_us(series)).astype(np.int64)
        if order is not None:
            nulls, values = nulls.take(order), values.take(order)
        return [key + b"t", _Buffer(_bytes(nulls.astype(np.uint8)), 1), _Buffer(_bytes(values), 8)]
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        numbers = series.to_numpy(dtype=np.float64, na_value=np.nan)
        if order is not None:
            numbers = numbers.take(order)
        null = np.isnan(numbers)
        if null.any() or np.signbit(numbers[numbers == 0]).any():
            if not (numbers.flags.owndata and numbers.flags.writeable):
                numbers = numbers.copy()  # a view of the frame: never write into it
            numbers[null] = 0.0
            numbers += 0.0  # folds -0.0 into 0.0
        return [key + b"n", _Buffer(_bytes(null.view(np.uint8)), 1), _Buffer(_bytes(numbers), 8)]
    arr = _arrow_in_order(series, order)
    if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
        arr = arr.cast(pa.large_list(pa.large_string()))
        nulls = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=np.uint8)
        offsets = np.asarray(arr.offsets.to_numpy(), dtype=np.int64)
        lengths = np.diff(offsets)
        if arr.null_count and lengths[nulls.view(bool)].any():  # stale items under a null
            arr = pa.array(arr.to_pylist(), type=pa.large_list(pa.large_string()))
            offsets = np.asarray(arr.offsets.to_numpy(), dtype=np.int64)
            lengths = np.diff(offsets)
        return [
            key + b"l", _Buffer(_bytes(nulls), 1), _Buffer(_bytes(lengths), 8),
            *_string_parts(key, arr.values, offsets),
        ]
    return _string_parts(key, arr)


#: A part ready for slicing: a constant (bounds None) or a buffer with its range bounds.
_Sliced = tuple[bytes | memoryview, list[int] | None]


def _digest_ranges(parts: list[_Sliced], first: int, last: int) -> list[bytes]:
    """SHA-256 of the row ranges ``first..last-1``."""
    out = []
    for i in range(first, last):
        pieces = [data if b is None else data[b[i] : b[i + 1]] for data, b in parts]
        out.append(hashlib.sha256(b"".join(pieces)).digest())
    return out


def _digests(parts: list[_Part], row_bounds: np.ndarray) -> list[bytes]:
    """One digest per row range ``row_bounds[i]..row_bounds[i+1]``."""
    sliced: list[_Sliced] = [(p, None) if isinstance(p, bytes) else (p.data, p.bounds(row_bounds)) for p in parts]
    n_ranges = len(row_bounds) - 1
    workers = min(4, os.cpu_count() or 1)
    if workers < 2 or int(row_bounds[-1]) < _PARALLEL_MIN_ROWS or n_ranges < 2 * _TASK_PARTITIONS:
        return _digest_ranges(sliced, 0, n_ranges)
    starts = list(range(0, n_ranges, _TASK_PARTITIONS))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="taskclf-hash") as pool:
        chunks = pool.map(
            lambda s: _digest_ranges(sliced, s, min(s + _TASK_PARTITIONS, n_ranges)), starts
        )
        return [d for chunk in chunks for d in chunk]


def _user_codes(users: pd.Series) -> tuple[np.ndarray, list[str]]:
    """User code per row (codes in sorted user order) and the sorted user ids."""
    if isinstance(users.dtype, pd.StringDtype) and not users.hasnans:
        codes, uniques = pd.factorize(users, sort=True)  # Arrow-backed: no Python strings per row
        return np.asarray(codes), [str(u) for u in uniques]
    codes, names = pd.factorize(users.astype("str").to_numpy(dtype=object), sort=True)
    return np.asarray(codes), [str(u) for u in names]


def _hash_order(user_codes: np.ndarray, days: np.ndarray, ts: np.ndarray) -> np.ndarray | None:
    """Row order that makes partitions contiguous and time-sorted; None if already so.

    Data read day by day (or generated user by user) is usually grouped already: each
    (user, day) is one run of rows in time order. Then the rows are hashed where they
    are, which is the same stream as after the stable sort by (user, time).
    """
    n = len(ts)
    head = np.empty(n, dtype=bool)
    head[0] = True
    np.not_equal(user_codes[1:], user_codes[:-1], out=head[1:])
    head[1:] |= days[1:] != days[:-1]
    if (np.diff(ts)[~head[1:]] >= 0).all():
        heads = np.flatnonzero(head)
        keys = np.unique(np.stack([user_codes[heads], days[heads]]), axis=1)
        if keys.shape[1] == len(heads):
            return None
    return np.lexsort((ts, user_codes))


def partition_digests(features: pd.DataFrame) -> list[PartitionDigest]:
    """Digest every (user, day) partition of a feature frame, in key order.

    Args:
        features: Feature frame with ``user_id`` and ``bucket_start_ts`` columns.

    Returns:
        One :class:`PartitionDigest` per partition, sorted by (user, day).
    """
    if len(features) == 0:
        return []
    user_codes, users = _user_codes(features["user_id"])
    ts = _timestamps_us(features["bucket_start_ts"])
    days = np.floor_divide(ts, _US_PER_DAY)
    order = _hash_order(user_codes, days, ts)
    if order is not None:
        user_codes, days = user_codes[order], days[order]
    change = np.flatnonzero((np.diff(user_codes) != 0) | (np.diff(days) != 0)) + 1
    row_bounds = np.concatenate([[0], change, [len(features)]]).astype(np.int64)
    parts = [p for name in sorted(map(str, features.columns)) for p in _column_parts(name, features[name], order)]
    digests = _digests(parts, row_bounds)
    heads = row_bounds[:-1]
    out = [
        (u, d, n, digest)
        for u, d, n, digest in zip(
            user_codes[heads].tolist(), days[heads].tolist(), np.diff(row_bounds).tolist(), digests, strict=True
        )
    ]
    out.sort(key=lambda item: (item[0], item[1]))
    return [PartitionDigest(users[u], d, n, digest) for u, d, n, digest in out]


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
    order = np.asarray(
        key_frame.sort_values(list(key_frame.columns), kind="mergesort", na_position="first").index, dtype=np.int64
    )
    parts = [p for name in sorted(present) for p in _column_parts(name, spans[name], order)]
    for digest_part in _stream(parts, 0, len(spans)):
        h.update(digest_part)
    return h.digest()


def _stream(parts: list[_Part], a: int, b: int) -> list[bytes | memoryview]:
    """The byte stream of rows ``[a, b)`` as pieces."""
    rows = np.array([a, b], dtype=np.int64)
    out: list[bytes | memoryview] = []
    for part in parts:
        if isinstance(part, bytes):
            out.append(part)
        else:
            lo, hi = part.bounds(rows)
            out.append(part.data[lo:hi])
    return out


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
