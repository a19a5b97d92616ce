"""Label spans: the :class:`LabelSpan` record, span frames, and taskclf's label files.

A span frame is a DataFrame with the columns of :data:`schema.SPAN_COLUMNS`:
``start_ts``/``end_ts`` ``datetime64[us, UTC]``, ``label``/``provenance``/``user_id``
pandas ``str`` dtype (a missing ``user_id`` is NaN and matches every user), ``confidence``
``float64`` (NaN = no confidence) and ``extend_forward`` ``bool``.

Files are validated column by column (vectorised); every problem becomes one line of a
:class:`~taskclf_core.errors.DataError` that names the file, the row, the column, an
example value and what was expected. Row numbers are 1-based and count data rows only
(the CSV header is not a row).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, field_validator, model_validator

from taskclf_core.data import schema
from taskclf_core.errors import DataError
from taskclf_core.fs.atomic import write_bytes_atomic, write_text_atomic

#: Pandas dtype of text columns in memory (pandas 3 ``str``: missing values are NaN).
STRING_DTYPE: Final = pd.StringDtype(na_value=np.nan)
#: Pandas dtype of every timestamp column in memory.
TIMESTAMP_DTYPE: Final = pd.DatetimeTZDtype(unit="us", tz="UTC")
#: At most this many problem lines go into one error message.
MAX_PROBLEM_LINES: Final = 10
TIMESTAMP_EXAMPLE: Final = "2025-07-01 09:00:00+00:00"

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
# A Python datetime holds years 1 to 9999; a span must convert to one (frame_to_spans).
_MIN_MICROS: Final = (datetime.min.replace(tzinfo=UTC) - _EPOCH) // _MICROSECOND
_MAX_MICROS: Final = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // _MICROSECOND
#: What text timestamps must look like before pandas parses them (pandas alone would
#: also take words such as "now" and "today").
_ISO_8601: Final = (
    r"\d{4}-\d{2}-\d{2}"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?"
)
_TRUE_WORDS: Final = frozenset({"true", "1"})
_FALSE_WORDS: Final = frozenset({"false", "0", ""})
_SPAN_ARROW_SCHEMA: Final = pa.schema(
    [
        ("start_ts", pa.timestamp("us", tz="UTC")),
        ("end_ts", pa.timestamp("us", tz="UTC")),
        ("label", pa.large_string()),
        ("provenance", pa.large_string()),
        ("user_id", pa.large_string()),
        ("confidence", pa.float64()),
        ("extend_forward", pa.bool_()),
    ]
)


def _names_text(values: Sequence[object], limit: int = 5) -> str:
    shown = ", ".join(show_value(v) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _allowed_labels_text() -> str:
    return ", ".join(schema.LABELS)


def _unknown_label_text(value: object) -> str:
    if value == schema.REJECT_LABEL:
        return f"is the reject label, not a span label (expected one of {_allowed_labels_text()})"
    return f"is not a known label (expected one of {_allowed_labels_text()})"


class LabelSpan(BaseModel, frozen=True, extra="forbid"):
    """One labelled block of time: ``[start_ts, end_ts)`` in aware UTC.

    Naive datetimes are read as UTC, other offsets are converted to UTC. A zero-length
    span (``end_ts == start_ts``) is allowed only with ``extend_forward=True`` and labels
    no window. ``user_id=None`` matches every user; ``confidence`` NaN reads as ``None``.
    """

    start_ts: datetime
    end_ts: datetime
    label: str
    provenance: str
    user_id: str | None = None
    confidence: float | None = None
    extend_forward: bool = False

    @field_validator("start_ts", "end_ts")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        if value is pd.NaT:
            raise ValueError("is empty (expected a timestamp such as " + TIMESTAMP_EXAMPLE + ")")
        if isinstance(value, pd.Timestamp):
            value = value.to_pydatetime()
        if value.tzinfo is None or value.utcoffset() is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @field_validator("label")
    @classmethod
    def _known_label(cls, value: str) -> str:
        if value not in schema.LABELS:
            raise ValueError(f"{value!r} {_unknown_label_text(value)}")
        return value

    @field_validator("provenance")
    @classmethod
    def _non_empty_provenance(cls, value: str) -> str:
        if not value:
            raise ValueError("is empty (expected e.g. manual, weak:app_rule, synthetic)")
        return value

    @field_validator("user_id", mode="before")
    @classmethod
    def _empty_user_is_none(cls, value: Any) -> Any:
        if value is None or value is pd.NA or value == "":
            return None
        if isinstance(value, float) and math.isnan(value):
            return None
        return value

    @field_validator("confidence", mode="before")
    @classmethod
    def _nan_is_none(cls, value: Any) -> Any:
        if value is None or value is pd.NA:
            return None
        if isinstance(value, float | np.floating) and math.isnan(value):
            return None
        return value

    @field_validator("confidence")
    @classmethod
    def _unit_interval(cls, value: float | None) -> float | None:
        if value is not None and not 0.0 <= value <= 1.0:
            raise ValueError(f"{value} is outside [0, 1] (expected a number from 0 to 1)")
        return value

    @model_validator(mode="after")
    def _end_after_start(self) -> LabelSpan:
        if self.end_ts < self.start_ts:
            raise ValueError(
                f"end_ts {self.end_ts} is before start_ts {self.start_ts} "
                "(expected end_ts after start_ts)"
            )
        if self.end_ts == self.start_ts and not self.extend_forward:
            raise ValueError(
                f"end_ts equals start_ts ({self.start_ts}): a zero-length span needs "
                "extend_forward=True (expected end_ts after start_ts)"
            )
        return self


# --------------------------------------------------------------------------- problems


def show_value(value: object) -> str:
    """Render one offending value for an error message (quoted text, shortened)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return "empty"
    if isinstance(value, float) and math.isnan(value):
        return "empty"
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str):
        if value == "":
            return "empty"
        return repr(value if len(value) <= 60 else value[:57] + "...")
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class RowLocator:
    """Maps a row of several concatenated files back to (file, 1-based row in that file)."""

    sources: tuple[str, ...]
    starts: np.ndarray

    @classmethod
    def from_lengths(cls, sources: Sequence[str], lengths: Sequence[int]) -> RowLocator:
        """Build a locator for files of ``lengths`` rows concatenated in this order."""
        starts = np.concatenate([[0], np.cumsum(np.asarray(lengths, dtype=np.int64))[:-1]])
        return cls(tuple(sources), starts.astype(np.int64))

    def locate(self, position: int) -> tuple[str, int]:
        """File and 1-based row of the 0-based concatenated ``position``."""
        i = int(np.searchsorted(self.starts, position, side="right")) - 1
        return self.sources[i], position - int(self.starts[i]) + 1

    def count_files(self, positions: np.ndarray) -> int:
        """How many files the 0-based concatenated ``positions`` fall in."""
        return int(np.unique(np.searchsorted(self.starts, positions, side="right")).size)


class ProblemCollector:
    """Collects the problems found in one file; raises them together as one DataError.

    With a ``locator`` the rows are those of several concatenated files and each line
    names the file of its example row. Shared by :mod:`taskclf_core.data.labels` and :mod:`taskclf_core.data.datadir` so that every
    message has the same shape: ``<file> row <n>, column <col>: <value> <what>``.
    """

    def __init__(self, source: str, locator: RowLocator | None = None) -> None:
        self.source = source
        self.locator = locator
        self.lines: list[str] = []
        self._sources: set[str] = set()

    def add(self, text: str) -> None:
        """Record a problem of the whole file (no row), e.g. a missing column."""
        self.lines.append(f"{self.source}: {text}")
        self._sources.add(self.source)

    def add_rows(
        self,
        column: str,
        bad: np.ndarray | pd.Series,
        values: pd.Series | np.ndarray,
        what: str,
        *,
        shown: Callable[[int], str] | None = None,
    ) -> None:
        """Record a problem of the rows where ``bad`` is true, showing the first one.

        Args:
            column: Column the problem is in.
            bad: Boolean mask over the rows (positional).
            values: The values to show (positional, same length as ``bad``).
            what: What is wrong and what is expected, e.g. ``"is not ... (expected ...)"``.
            shown: Renders the example from its row position instead of ``values``.
        """
        positions = np.flatnonzero(np.asarray(bad, dtype=bool))
        if positions.size == 0:
            return
        first = int(positions[0])
        if shown is not None:
            example = shown(first)
        elif isinstance(values, pd.Series):
            example = show_value(values.iloc[first])
        else:
            example = show_value(values[first])
        source, row = (
            self.locator.locate(first) if self.locator is not None else (self.source, first + 1)
        )
        self._sources.add(source)
        line = f"{source} row {row}, column {column}: {example} {what}"
        more = positions.size - 1
        if more:
            line += f"; {more} more row{'s' if more > 1 else ''} like this"
            files = self.locator.count_files(positions) if self.locator is not None else 1
            if files > 1:
                line += f" in {files} files"
        self.lines.append(line)

    def add_missing(self, column: str, missing: np.ndarray | pd.Series, expected: str) -> None:
        """Record the rows where ``missing`` is true as missing values (``expected`` says what)."""
        self.add_rows(
            column, missing, np.empty(0), f"(expected {expected})", shown=lambda _: "missing value"
        )

    def raise_if_any(self) -> None:
        """Raise one :class:`DataError` listing every problem (at most ten lines).

        Raises:
            DataError: When at least one problem was recorded.
        """
        if not self.lines:
            return
        if len(self.lines) == 1:
            raise DataError(self.lines[0])
        shown = self.lines[:MAX_PROBLEM_LINES]
        # Rows of concatenated files: name the one file when every problem is in it.
        header = next(iter(self._sources)) if len(self._sources) == 1 else self.source
        text = f"{header}: {len(self.lines)} problems\n" + "\n".join(shown)
        hidden = len(self.lines) - len(shown)
        if hidden:
            text += f"\n... and {hidden} more problem{'s' if hidden > 1 else ''}"
        raise DataError(text)


# --------------------------------------------------------------------------- column helpers


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


def parse_timestamp_column(
    series: pd.Series, column: str, problems: ProblemCollector, *, required: bool = True
) -> pd.Series | None:
    """Normalise one timestamp column to ``datetime64[us, UTC]``.

    Aware values are converted to UTC, naive ones are read as UTC, text is parsed as ISO
    8601 (leniently: space or ``T``, optional seconds, fraction and offset; words such
    as ``now`` are refused). Unparseable values, values outside years 1-9999 UTC, empty
    values (when ``required``) and wrong types are recorded in ``problems``.

    Returns:
        The normalised column (NaT where empty or bad), or ``None`` when the column's
        type is wrong.
    """
    dtype = series.dtype
    expected = f"(expected e.g. {TIMESTAMP_EXAMPLE})"
    parsed: pd.Series | None = None
    if isinstance(dtype, pd.DatetimeTZDtype):
        parsed = series.dt.tz_convert("UTC").dt.as_unit("us")
    elif pd.api.types.is_datetime64_dtype(dtype):
        parsed = series.dt.tz_localize("UTC").dt.as_unit("us")
    elif is_text_column(series):
        text = series.astype(STRING_DTYPE).str.strip()
        text = text.mask(text == "")
        iso = text.str.fullmatch(_ISO_8601).fillna(False).astype(bool)
        try:
            values = pd.to_datetime(text.where(iso), format="ISO8601", utc=True, errors="coerce")
        except (ValueError, OverflowError, TypeError) as exc:  # defensive: coerce should not raise
            problems.add(f"column {column}: timestamps could not be parsed ({exc}) {expected}")
            return None
        parsed = pd.Series(values, index=series.index).dt.as_unit("us")
        problems.add_rows(
            column,
            (parsed.isna() & text.notna()).to_numpy(dtype=bool),
            series,
            f"is not an ISO 8601 timestamp {expected}",
        )
        if required:
            problems.add_missing(
                column, text.isna().to_numpy(dtype=bool), f"e.g. {TIMESTAMP_EXAMPLE}"
            )
        return _within_python_range(parsed, series, column, problems)
    elif pd.api.types.is_object_dtype(dtype) and pd.api.types.infer_dtype(series, skipna=True) in (
        "datetime",
        "datetime64",
    ):
        try:
            parsed = pd.Series(pd.to_datetime(series, utc=True), index=series.index).dt.as_unit(
                "us"
            )
        except (ValueError, OverflowError, TypeError):
            parsed = None
    if parsed is None:
        non_null = series.notna().to_numpy(dtype=bool)
        if non_null.any():
            problems.add_rows(
                column, non_null, series, f"is not a timestamp (column type {dtype}) {expected}"
            )
        else:
            problems.add(f"column {column} has type {dtype}, not a timestamp {expected}")
        return None
    if required:
        problems.add_missing(
            column, parsed.isna().to_numpy(dtype=bool), f"e.g. {TIMESTAMP_EXAMPLE}"
        )
    return _within_python_range(parsed, series, column, problems)


def _within_python_range(
    parsed: pd.Series, raw: pd.Series, column: str, problems: ProblemCollector
) -> pd.Series:
    """NaT (and a problem) for instants a Python ``datetime`` cannot hold."""
    micros = parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[us]").view(np.int64)
    outside = parsed.notna().to_numpy(dtype=bool) & (
        (micros < _MIN_MICROS) | (micros > _MAX_MICROS)
    )
    if not outside.any():
        return parsed
    problems.add_rows(
        column,
        outside,
        raw,
        f"is outside years 1 to 9999 in UTC (expected e.g. {TIMESTAMP_EXAMPLE})",
    )
    return parsed.mask(outside)


# --------------------------------------------------------------------------- span frames


def _empty_span_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "start_ts": pd.Series([], dtype=TIMESTAMP_DTYPE),
            "end_ts": pd.Series([], dtype=TIMESTAMP_DTYPE),
            "label": pd.Series([], dtype=STRING_DTYPE),
            "provenance": pd.Series([], dtype=STRING_DTYPE),
            "user_id": pd.Series([], dtype=STRING_DTYPE),
            "confidence": pd.Series([], dtype="float64"),
            "extend_forward": pd.Series([], dtype=bool),
        }
    )


def _utc_from_micros(micros: np.ndarray) -> pd.Series:
    return pd.Series(micros.astype("datetime64[us]")).dt.tz_localize("UTC")


def spans_to_frame(spans: Sequence[LabelSpan]) -> pd.DataFrame:
    """Convert spans to a span frame (columns built directly, fast for many spans).

    Args:
        spans: Validated spans.

    Returns:
        A span frame with the columns of ``schema.SPAN_COLUMNS`` in that order.
    """
    n = len(spans)
    if n == 0:
        return _empty_span_frame()
    starts = np.fromiter(((s.start_ts - _EPOCH) // _MICROSECOND for s in spans), np.int64, n)
    ends = np.fromiter(((s.end_ts - _EPOCH) // _MICROSECOND for s in spans), np.int64, n)
    confidence = np.fromiter(
        (np.nan if s.confidence is None else s.confidence for s in spans), np.float64, n
    )
    return pd.DataFrame(
        {
            "start_ts": _utc_from_micros(starts),
            "end_ts": _utc_from_micros(ends),
            "label": pd.array([s.label for s in spans], dtype=STRING_DTYPE),
            "provenance": pd.array([s.provenance for s in spans], dtype=STRING_DTYPE),
            "user_id": pd.array([s.user_id for s in spans], dtype=STRING_DTYPE),
            "confidence": confidence,
            "extend_forward": np.fromiter((s.extend_forward for s in spans), bool, n),
        }
    )


def frame_to_spans(df: pd.DataFrame) -> list[LabelSpan]:
    """Convert a span frame back to :class:`LabelSpan` records.

    The frame is validated as a whole first (vectorised), so the records are built
    without re-running the per-record checks.

    Args:
        df: A span frame (or anything :func:`validate_span_frame` accepts).

    Returns:
        One span per row, in row order.

    Raises:
        DataError: The frame is not a valid span frame.
    """
    frame = validate_span_frame(df, source="span frame")
    starts = frame["start_ts"].dt.to_pydatetime().tolist()
    ends = frame["end_ts"].dt.to_pydatetime().tolist()
    users = frame["user_id"].astype(object).where(frame["user_id"].notna(), None).tolist()
    conf = frame["confidence"].astype(object).where(frame["confidence"].notna(), None).tolist()
    fields = set(LabelSpan.model_fields)
    return [
        LabelSpan.model_construct(
            fields,
            start_ts=start,
            end_ts=end,
            label=label,
            provenance=provenance,
            user_id=user,
            confidence=None if c is None else float(c),
            extend_forward=bool(forward),
        )
        for start, end, label, provenance, user, c, forward in zip(
            starts,
            ends,
            frame["label"].tolist(),
            frame["provenance"].tolist(),
            users,
            conf,
            frame["extend_forward"].tolist(),
            strict=True,
        )
    ]


def _text_column(
    df: pd.DataFrame, column: str, problems: ProblemCollector, *, required: bool, what: str
) -> pd.Series | None:
    series = df[column]
    if not is_text_column(series):
        problems.add_rows(column, non_text_mask(series), series, f"is not text (expected {what})")
        return None
    text = series.astype(STRING_DTYPE).str.strip()
    text = text.mask(text == "")
    if required:
        problems.add_missing(column, text.isna().to_numpy(dtype=bool), what)
    return text


def _confidence_column(series: pd.Series, problems: ProblemCollector) -> pd.Series | None:
    what = "(expected a number from 0 to 1, or empty)"
    if pd.api.types.is_bool_dtype(series.dtype):
        problems.add_rows(
            "confidence", np.ones(len(series), bool), series, f"is not a number {what}"
        )
        return None
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = series.astype("float64")
    elif is_text_column(series):
        text = series.astype(STRING_DTYPE).str.strip()
        text = text.mask(text == "")
        values = pd.to_numeric(text, errors="coerce").astype("float64")
        problems.add_rows(
            "confidence",
            (values.isna() & text.notna() & (text.str.lower() != "nan")).to_numpy(dtype=bool),
            series,
            f"is not a number {what}",
        )
    else:
        problems.add_rows(
            "confidence", series.notna().to_numpy(bool), series, f"is not a number {what}"
        )
        return None
    problems.add_rows(
        "confidence",
        (values.notna() & ~values.between(0.0, 1.0)).to_numpy(dtype=bool),
        series,
        f"is outside [0, 1] {what}",
    )
    return values


def _extend_forward_column(series: pd.Series, problems: ProblemCollector) -> pd.Series | None:
    what = "(expected True, False, 1, 0 or empty)"
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.fillna(False).astype(bool)
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = series.astype("float64")
        bad = values.notna() & ~values.isin([0.0, 1.0])
        problems.add_rows(
            "extend_forward", bad.to_numpy(dtype=bool), series, f"is not a flag {what}"
        )
        return values.fillna(0.0).eq(1.0)
    if is_text_column(series) or pd.api.types.infer_dtype(series, skipna=True) == "boolean":
        # An object column of Python bools (and None) renders as "True"/"False".
        words = series.astype(STRING_DTYPE).str.strip().str.lower().fillna("")
        is_true = words.isin(_TRUE_WORDS)
        bad = ~is_true & ~words.isin(_FALSE_WORDS)
        problems.add_rows(
            "extend_forward", bad.to_numpy(dtype=bool), series, f"is not a flag {what}"
        )
        return is_true.astype(bool)
    problems.add_rows(
        "extend_forward", series.notna().to_numpy(bool), series, f"is not a flag {what}"
    )
    return None


def validate_span_frame(df: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """Validate and normalise a span frame read from a file (vectorised).

    Timestamps become ``datetime64[us, UTC]`` (naive read as UTC, text parsed as ISO
    8601), text columns pandas ``str`` with empty = missing, ``confidence`` ``float64``
    (NaN = missing), ``extend_forward`` ``bool`` (missing = False). Optional columns that
    are absent are added; columns outside ``schema.SPAN_COLUMNS`` are dropped.

    Args:
        df: The raw frame (any dtypes, e.g. all text from a CSV).
        source: Name of the file (or object) the frame came from, used in messages.

    Returns:
        A new span frame with the columns of ``schema.SPAN_COLUMNS`` and a RangeIndex.

    Raises:
        DataError: Every problem found (missing columns, unknown labels, bad timestamps,
            ``end_ts`` not after ``start_ts``, confidence outside [0, 1], wrong types),
            one line each, naming ``source``, row, column, an example value and what is
            expected.
    """
    problems = ProblemCollector(source)
    df = df.reset_index(drop=True)
    duplicated = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
    if duplicated:
        problems.add(f"duplicate column(s) {', '.join(duplicated)} (expected each column once)")
        problems.raise_if_any()
    missing = [c for c in schema.SPAN_REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        problems.add(
            f"missing column(s) {', '.join(missing)} (expected columns "
            f"{','.join(schema.SPAN_REQUIRED_COLUMNS)} and optionally "
            f"{','.join(schema.SPAN_OPTIONAL_COLUMNS)}; found {','.join(map(str, df.columns)) or 'none'})"
        )
        problems.raise_if_any()
    n = len(df)

    start = parse_timestamp_column(df["start_ts"], "start_ts", problems)
    end = parse_timestamp_column(df["end_ts"], "end_ts", problems)

    label = _text_column(
        df, "label", problems, required=True, what="one of " + _allowed_labels_text()
    )
    if label is not None:
        unknown = (label.notna() & ~label.isin(schema.LABELS)).to_numpy(dtype=bool)
        if unknown.any():
            values = label[unknown].unique().tolist()
            others = ""
            if len(values) > 1:
                others = f" (unknown labels here: {_names_text(values)})"
            problems.add_rows("label", unknown, label, _unknown_label_text(values[0]) + others)
    provenance = _text_column(
        df, "provenance", problems, required=True, what="e.g. manual, weak:app_rule, synthetic"
    )

    user: pd.Series | None = pd.Series(np.nan, index=df.index, dtype=STRING_DTYPE)
    if "user_id" in df.columns:
        user = _text_column(df, "user_id", problems, required=False, what="a user id or empty")
    confidence: pd.Series | None = pd.Series(np.nan, index=df.index, dtype="float64")
    if "confidence" in df.columns:
        confidence = _confidence_column(df["confidence"], problems)
    forward: pd.Series | None = pd.Series(np.zeros(n, dtype=bool), index=df.index)
    if "extend_forward" in df.columns:
        forward = _extend_forward_column(df["extend_forward"], problems)

    if start is not None and end is not None and forward is not None:
        both = (start.notna() & end.notna()).to_numpy(dtype=bool)
        s_ns = start.to_numpy(dtype="datetime64[us]")
        e_ns = end.to_numpy(dtype="datetime64[us]")
        with np.errstate(invalid="ignore"):
            before = both & (e_ns < s_ns)
            equal = both & (e_ns == s_ns) & ~forward.to_numpy(dtype=bool)
        if before.any():
            first = start.iloc[int(np.argmax(before))]
            problems.add_rows(
                "end_ts",
                before,
                end,
                f"is before start_ts {first} (expected end_ts after start_ts)",
            )
        if equal.any():
            problems.add_rows(
                "end_ts",
                equal,
                end,
                "equals start_ts (expected end_ts after start_ts; a zero-length span "
                "needs extend_forward=True)",
            )

    problems.raise_if_any()
    assert start is not None and end is not None and label is not None
    assert provenance is not None and user is not None and confidence is not None
    assert forward is not None
    return pd.DataFrame(
        {
            "start_ts": start.astype(TIMESTAMP_DTYPE),
            "end_ts": end.astype(TIMESTAMP_DTYPE),
            "label": label.astype(STRING_DTYPE),
            "provenance": provenance.astype(STRING_DTYPE),
            "user_id": user.astype(STRING_DTYPE),
            "confidence": confidence.astype("float64"),
            "extend_forward": forward.astype(bool),
        }
    ).reset_index(drop=True)


# --------------------------------------------------------------------------- files


def read_labels_parquet(path: Path | str) -> pd.DataFrame:
    """Read taskclf's ``labels_v1/labels.parquet`` (or any span parquet) and validate it.

    Arrow ``null``-typed columns (a column null on every row) are accepted.

    Args:
        path: The parquet file.

    Returns:
        A validated span frame.

    Raises:
        DataError: The file is missing, unreadable, or holds invalid spans.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"labels file {path} does not exist (expected a parquet file of label spans)"
        )
    try:
        table = pq.read_table(path)
        # The types in the file decide, not the pandas metadata a writer left behind.
        frame = table.to_pandas(ignore_metadata=True)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable parquet file ({exc})") from exc
    return validate_span_frame(frame, source=str(path))


def read_labels_csv(path: Path | str) -> pd.DataFrame:
    """Read a label CSV (``start_ts,end_ts,label,provenance[,user_id,confidence,extend_forward]``).

    Timestamps are parsed as ISO 8601 leniently (``2025-09-08 09:00:00+00:00`` and
    ``2025-09-08T09:00:00.250000Z`` may be mixed; naive means UTC); empty fields are
    missing values; ``extend_forward`` accepts ``True``/``False``/``1``/``0``/empty in
    any case. Header names and values are stripped of surrounding blanks.

    Args:
        path: The CSV file (UTF-8, optional BOM).

    Returns:
        A validated span frame.

    Raises:
        DataError: The file is missing, not CSV, or holds invalid spans.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"labels file {path} does not exist (expected a CSV of label spans)")
    expected = ",".join(schema.SPAN_COLUMNS)
    try:
        raw = pd.read_csv(
            path,
            header=None,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            encoding="utf-8-sig",
            skip_blank_lines=True,
        )
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path}: the file is empty (expected a header line {expected})") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OverflowError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"{path}: not a readable CSV file ({reason}); expected a header line {expected} "
            "and one span per line"
        ) from exc
    header = [str(c).strip() for c in raw.iloc[0].fillna("").tolist()]
    frame = raw.iloc[1:].reset_index(drop=True)
    frame.columns = pd.Index(header)
    return validate_span_frame(frame, source=str(path))


def read_labels(path: Path | str) -> pd.DataFrame:
    """Read a label file, choosing the reader by suffix (``.parquet`` or ``.csv``).

    Args:
        path: The label file.

    Returns:
        A validated span frame.

    Raises:
        DataError: Unknown suffix, or the reader's errors.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return read_labels_parquet(path)
    if suffix == ".csv":
        return read_labels_csv(path)
    raise DataError(
        f"{path}: unknown label file type {suffix or '(no suffix)'!r} (expected .parquet or .csv)"
    )


def write_labels_parquet(path: Path | str, frame: pd.DataFrame) -> None:
    """Write a span frame as taskclf's labels parquet, atomically.

    Types: ``timestamp[us, tz=UTC]`` times, ``large_string`` text, ``double``
    confidence, ``bool`` extend_forward; the parent folder is created if needed.

    Args:
        path: Target file.
        frame: A span frame (validated before writing).

    Raises:
        DataError: The frame is not a valid span frame.
    """
    path = Path(path)
    spans = validate_span_frame(frame, source="span frame")
    table = pa.Table.from_pandas(spans, schema=_SPAN_ARROW_SCHEMA, preserve_index=False)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, sink.getvalue().to_pybytes())


def format_timestamps(series: pd.Series) -> pd.Series:
    """Render UTC timestamps like Python ``str(datetime)`` (``2025-07-01 09:00:00+00:00``).

    Microseconds appear only when non-zero, as in taskclf's CSV export.
    """
    values = series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    text = pd.Series(np.datetime_as_string(values, unit="us"), index=series.index, dtype=object)
    text = text.str.replace("T", " ", regex=False).str.removesuffix(".000000") + "+00:00"
    return text.where(series.notna(), "")


def write_labels_csv(path: Path | str, frame: pd.DataFrame) -> None:
    """Write a span frame as taskclf's label CSV export, atomically.

    Header ``start_ts,end_ts,label,provenance,user_id,confidence,extend_forward``, CRLF line ends;
    timestamps like ``str(datetime)``, missing values as empty fields, flags
    ``True``/``False``.

    Args:
        path: Target file.
        frame: A span frame (validated before writing).

    Raises:
        DataError: The frame is not a valid span frame.
    """
    path = Path(path)
    spans = validate_span_frame(frame, source="span frame")
    out = pd.DataFrame(
        {
            "start_ts": format_timestamps(spans["start_ts"]),
            "end_ts": format_timestamps(spans["end_ts"]),
            "label": spans["label"].astype(object),
            "provenance": spans["provenance"].astype(object),
            "user_id": spans["user_id"].astype(object),
            "confidence": spans["confidence"],
            "extend_forward": spans["extend_forward"],
        }
    )
    # taskclf exports with the csv module, whose lines end in CRLF.
    text = out.to_csv(index=False, na_rep="", lineterminator="\r\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, text)
