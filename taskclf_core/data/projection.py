"""Projection of label spans onto feature windows.

A window ``[start, end)`` gets a label only when spans **fully contain** it (span start <=
window start and window end <= span end) and every containing span agrees on the label.
A span with a ``user_id`` matches only that user's windows; a span without one matches
every user. Windows with no containing span, or with disagreeing ones, are dropped;
partial overlap never labels a window; zero-length spans label nothing.

Algorithm, O((W + S) log(W + S)): for each label and scope (per-user spans, all-user
spans), sort the spans by (user, start) and take the running maximum of their ends. A
window is contained by some span of that label iff the running maximum at the last span
starting at or before the window start reaches the window end. A window is labelled iff
exactly one label contains it. Users are folded into the sort key as ``code * BIG + t``
with times relative to the window range, so one ``searchsorted`` serves all users.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from taskclf_core.data.schema import LABEL_TO_INDEX, LABELS

_NO_LABEL = -1


def timestamps_us(values: pd.Series | pd.Index) -> np.ndarray:
    """Timestamps (aware or naive UTC) as int64 microseconds since the epoch."""
    series = pd.Series(values)
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    return series.to_numpy(dtype="datetime64[us]").astype(np.int64)


def label_window_codes(
    win_user: np.ndarray,
    win_start: np.ndarray,
    win_end: np.ndarray,
    span_user: np.ndarray,
    span_start: np.ndarray,
    span_end: np.ndarray,
    span_label: np.ndarray,
    n_labels: int = len(LABELS),
) -> np.ndarray:
    """Label code per window (``-1`` when unlabelled), on integer arrays.

    Args:
        win_user: User code per window (``>= 0``).
        win_start: Window start per window (int64, any unit shared with the spans).
        win_end: Window end per window.
        span_user: User code per span; ``-1`` means "all users".
        span_start: Span start (inclusive).
        span_end: Span end (exclusive).
        span_label: Label code per span in ``[0, n_labels)``.
        n_labels: Number of label codes.

    Returns:
        An int8 array of label codes, ``-1`` where no single label contains the window.
    """
    n_windows = len(win_start)
    result = np.full(n_windows, _NO_LABEL, dtype=np.int8)
    if n_windows == 0 or len(span_start) == 0:
        return result
    lo = int(win_start.min()) - 1
    hi = int(win_end.max()) + 1
    usable = (span_end > span_start) & (span_end > lo) & (span_start < hi)
    # Clipping to just outside the window range keeps every containment comparison intact.
    s_rel = np.clip(span_start, lo, hi) - lo
    e_rel = np.clip(span_end, lo, hi) - lo
    ws_rel = win_start - lo
    we_rel = win_end - lo
    big = hi - lo + 1
    n_users = int(win_user.max()) + 1
    if n_users * big >= 2**62:  # would overflow the folded key: label user by user
        return _label_by_user(win_user, win_start, win_end, span_user, span_start, span_end, span_label, n_labels)
    win_key_start = win_user.astype(np.int64) * big + ws_rel
    win_key_end = win_user.astype(np.int64) * big + we_rel

    containing = np.zeros(n_windows, dtype=np.int8)
    for code in range(n_labels):
        of_label = usable & (span_label == code)
        if not of_label.any():
            continue
        hit = np.zeros(n_windows, dtype=bool)
        for per_user in (True, False):
            scope = of_label & ((span_user >= 0) if per_user else (span_user < 0))
            if not scope.any():
                continue
            if per_user:
                group = span_user[scope].astype(np.int64) * big
                query_start, query_end = win_key_start, win_key_end
            else:
                group = np.zeros(int(scope.sum()), dtype=np.int64)
                query_start, query_end = ws_rel, we_rel
            keys = group + s_rel[scope]
            order = np.argsort(keys, kind="stable")
            keys = keys[order]
            running_end = np.maximum.accumulate((group + e_rel[scope])[order])
            idx = np.searchsorted(keys, query_start, side="right") - 1
            found = idx >= 0
            hit[found] |= running_end[idx[found]] >= query_end[found]
        containing += hit
        result[hit] = code
    result[containing != 1] = _NO_LABEL
    return result


def _label_by_user(
    win_user: np.ndarray,
    win_start: np.ndarray,
    win_end: np.ndarray,
    span_user: np.ndarray,
    span_start: np.ndarray,
    span_end: np.ndarray,
    span_label: np.ndarray,
    n_labels: int,
) -> np.ndarray:
    result = np.full(len(win_start), _NO_LABEL, dtype=np.int8)
    for user in np.unique(win_user):
        rows = win_user == user
        spans = (span_user == user) | (span_user < 0)
        result[rows] = label_window_codes(
            np.zeros(int(rows.sum()), dtype=np.int64),
            win_start[rows],
            win_end[rows],
            np.where(span_user[spans] < 0, -1, 0),
            span_start[spans],
            span_end[spans],
            span_label[spans],
            n_labels,
        )
    return result


def project_spans(
    features: pd.DataFrame, spans: pd.DataFrame, *, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """Keep the windows that spans label unambiguously, with a ``label`` column added.

    Args:
        features: Feature frame with ``user_id``, ``bucket_start_ts``, ``bucket_end_ts``.
        spans: Span frame (``start_ts``, ``end_ts``, ``label``, ``user_id``).
        columns: Copy only these columns of ``features`` (default: all of them).

    Returns:
        The labelled rows of ``features`` (original order, fresh index) plus ``label``
        (pandas string dtype).
    """
    return labelled_rows(features, project_codes(features, spans), columns=columns)


def labelled_rows(
    features: pd.DataFrame, codes: np.ndarray, *, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """The rows of ``features`` whose code (from :func:`project_codes`) is a label, plus ``label``.

    Args:
        features: The feature frame the codes were computed on.
        codes: Label code per row, ``-1`` for unlabelled.
        columns: Copy only these columns (default: all); a pipeline that needs a few
            columns of a wide frame saves copying the rest.
    """
    keep = codes >= 0
    frame = features if columns is None else features[list(columns)]
    out = frame.loc[keep].reset_index(drop=True)
    out["label"] = pd.array(np.asarray(LABELS, dtype=object)[codes[keep]], dtype="str")
    return out


def project_codes(features: pd.DataFrame, spans: pd.DataFrame) -> np.ndarray:
    """Label code per feature row (``-1`` for unlabelled); see :func:`project_spans`."""
    if len(features) == 0 or len(spans) == 0:
        return np.full(len(features), _NO_LABEL, dtype=np.int8)
    user_codes, users = pd.factorize(features["user_id"], sort=False)
    span_users = spans["user_id"]
    span_user_codes = pd.Index(users).get_indexer(span_users.fillna("").astype(str))
    span_user_codes = np.where(span_users.isna().to_numpy(), -1, span_user_codes)
    # A span naming a user absent from the features labels nothing: drop it.
    known = ~((span_user_codes < 0) & span_users.notna().to_numpy())
    label_codes = spans["label"].map(LABEL_TO_INDEX).to_numpy(dtype=np.float64)
    known &= ~np.isnan(label_codes)
    return label_window_codes(
        user_codes.astype(np.int64),
        timestamps_us(features["bucket_start_ts"]),
        timestamps_us(features["bucket_end_ts"]),
        span_user_codes[known].astype(np.int64),
        timestamps_us(spans["start_ts"])[known],
        timestamps_us(spans["end_ts"])[known],
        label_codes[known].astype(np.int64),
    )
