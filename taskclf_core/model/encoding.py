"""Categorical vocabularies fitted on the training split, as taskclf's trainer fits them.

taskclf's ``encode_categoricals`` (training): per categorical column, values seen fewer
than ``min_category_freq`` times become ``__unknown__``; then a 5 % sample of the
remaining rows also becomes ``__unknown__``; the vocabulary is the sorted set of what is
left. The model thereby learns what to do with a category it has never seen.

taskclf leaves the sample unseeded. Here it is drawn **per (user, UTC day)** from the
config's seed: in each (user, day) of the training rows, ``round(rate x known rows)`` of
the rows with a kept value are masked, those with the smallest seeded hash of (seed,
column position, user, window start). The draw depends on nothing but the rows
themselves, not on their order nor on which file or worker holds them, so the local and
the Dask engine (which sees one day file per task) mask the same rows, and the same data
give the same model file. Both engines call the functions below and nothing else.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from taskclf_core.data.projection import timestamps_us
from taskclf_core.model.serving import UNKNOWN_TOKEN

MIN_CATEGORY_FREQ = 5
UNKNOWN_MASK_RATE = 0.05
_US_PER_DAY = 86_400_000_000


@dataclass(frozen=True)
class RowKeys:
    """What the masking draw reads of each row: its user (hashed), its window start, and
    which (user, UTC day) it belongs to (the group's number means nothing across frames)."""

    user: np.ndarray  # uint64: 8 bytes of BLAKE2b of the user id
    ts_us: np.ndarray  # int64: bucket_start_ts, microseconds since the epoch (UTC)
    group: np.ndarray  # int64: the row's (user, day) within this frame

    @classmethod
    def of(cls, frame: pd.DataFrame) -> RowKeys:
        """The keys of a frame with ``user_id`` and ``bucket_start_ts``."""
        codes, uniques = pd.factorize(frame["user_id"].astype("str"), use_na_sentinel=False)
        hashed = np.array(
            [int.from_bytes(hashlib.blake2b(str(u).encode(), digest_size=8).digest(), "little") for u in uniques],
            dtype=np.uint64,
        )
        ts = timestamps_us(frame["bucket_start_ts"])
        if len(ts) == 0:
            return cls(np.zeros(0, np.uint64), ts, np.zeros(0, np.int64))
        day = np.floor_divide(ts, _US_PER_DAY)
        span = int(day.max() - day.min()) + 1
        group, _ = pd.factorize(codes.astype(np.int64) * span + (day - day.min()))
        return cls(hashed[codes], ts, group.astype(np.int64))


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser (uint64 in, uint64 out; wraps around as intended)."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def sampled_rows(
    keys: RowKeys, eligible: np.ndarray, *, seed: int, column_position: int, rate: float = UNKNOWN_MASK_RATE
) -> np.ndarray:
    """Positions of the rows the seeded sample masks: per (user, UTC day), ``round(rate x
    eligible rows)`` of the eligible ones, those with the smallest hash of (seed, column
    position, user, window start).

    Args:
        keys: The rows' keys (:meth:`RowKeys.of`).
        eligible: Which rows may be masked (a kept value).
        seed: The config's ``train_params.seed``.
        column_position: The column's position among the schema's categorical columns.
        rate: Share of each (user, day)'s eligible rows to mask.

    Returns:
        Sorted row positions.
    """
    rows = np.flatnonzero(eligible)
    if len(rows) == 0 or rate <= 0:
        return rows[:0]
    draw = _mix(np.full(len(rows), seed, dtype=np.uint64))
    draw = _mix(draw ^ np.uint64(column_position))
    draw = _mix(draw ^ keys.user[rows])
    # The last step is a bijection of the window start: one user's rows never tie.
    draw = _mix(draw ^ keys.ts_us[rows].view(np.uint64))
    group = keys.group[rows]
    order = np.lexsort((draw, group))  # by (user, day), then the draw
    sorted_group = group[order]
    first = np.concatenate([[True], sorted_group[1:] != sorted_group[:-1]])
    starts = np.flatnonzero(first)
    sizes = np.diff(np.concatenate([starts, [len(order)]]))
    run = np.cumsum(first) - 1
    rank = np.arange(len(order)) - starts[run]
    n_mask = np.rint(sizes * rate).astype(np.int64)
    return np.sort(rows[order[rank < n_mask[run]]])


def kept_values(counts: Mapping[str, int], min_category_freq: int = MIN_CATEGORY_FREQ) -> set[str]:
    """The values of a column seen at least ``min_category_freq`` times in the training rows
    (never the unknown token itself); every other value reads as unknown."""
    return {value for value, n in counts.items() if n >= min_category_freq and value != UNKNOWN_TOKEN}


def value_counts(column: pd.Series) -> dict[str, int]:
    """How often each non-null value occurs, by its text."""
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    out: dict[str, int] = {}
    for u, n in zip(uniques, counts.tolist(), strict=True):
        out[str(u)] = out.get(str(u), 0) + n
    return out


@dataclass(frozen=True)
class MaskedColumn:
    """A column after masking: its distinct texts and, per row, an index into them
    (``len(texts)`` for a row that reads as unknown: null, rare or sampled)."""

    texts: list[str]
    row_values: np.ndarray

    @property
    def unknown(self) -> int:
        return len(self.texts)

    def present(self) -> set[str]:
        """The texts some row still carries (what the vocabulary is made of)."""
        return {self.texts[i] for i in np.unique(self.row_values).tolist() if i != self.unknown}

    def codes(self, vocabulary: list[str]) -> np.ndarray:
        """float64 codes into ``vocabulary`` (a text it lacks takes the unknown token's)."""
        index = {text: float(i) for i, text in enumerate(vocabulary)}
        unknown = index[UNKNOWN_TOKEN]
        table = np.array([index.get(t, unknown) for t in self.texts] + [unknown], dtype=np.float64)
        return table[self.row_values]


def mask_column(
    column: pd.Series, kept: set[str], keys: RowKeys, *, seed: int, column_position: int,
    rate: float = UNKNOWN_MASK_RATE,
) -> MaskedColumn:
    """One column of training rows with rare values, nulls and the seeded sample masked."""
    value_codes, uniques = pd.factorize(column, use_na_sentinel=True)
    texts = [str(u) for u in uniques]
    keep = np.array([t in kept for t in texts] + [False], dtype=bool)
    row_values = np.where(value_codes >= 0, value_codes, len(texts)).astype(np.int64)
    row_values[~keep[row_values]] = len(texts)
    sampled = sampled_rows(keys, row_values != len(texts), seed=seed, column_position=column_position, rate=rate)
    row_values[sampled] = len(texts)
    return MaskedColumn(texts, row_values)


def vocabulary(present: Iterable[str]) -> list[str]:
    """A column's vocabulary: the values left after masking, sorted, plus the unknown token."""
    return sorted(set(present) | {UNKNOWN_TOKEN})


@dataclass(frozen=True)
class TrainingCodes:
    """Vocabulary per column and the training rows' codes into it."""

    encoders: dict[str, list[str]]
    codes: dict[str, np.ndarray]


def fit_training_codes(
    df: pd.DataFrame,
    columns: list[str],
    *,
    seed: int,
    min_category_freq: int = MIN_CATEGORY_FREQ,
    unknown_mask_rate: float = UNKNOWN_MASK_RATE,
) -> TrainingCodes:
    """Fit each column's vocabulary on training rows, with rare values and a seeded sample masked.

    Args:
        df: Training rows: the columns, ``user_id`` and ``bucket_start_ts``.
        columns: Categorical columns, in the schema's order (a column's position seeds its draw).
        seed: Seed of the masking draw.
        min_category_freq: Values seen fewer times become ``__unknown__``.
        unknown_mask_rate: Share of each (user, day)'s other rows masked to ``__unknown__``.

    Returns:
        The vocabularies (sorted, ``__unknown__`` always included) and float64 codes.
    """
    keys = RowKeys.of(df)
    encoders: dict[str, list[str]] = {}
    codes: dict[str, np.ndarray] = {}
    for position, column in enumerate(columns):
        kept = kept_values(value_counts(df[column]), min_category_freq)
        masked = mask_column(df[column], kept, keys, seed=seed, column_position=position, rate=unknown_mask_rate)
        encoders[column] = vocabulary(masked.present())
        codes[column] = masked.codes(encoders[column])
    return TrainingCodes(encoders=encoders, codes=codes)
