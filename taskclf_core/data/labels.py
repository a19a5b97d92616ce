"""Label spans: the :class:`LabelSpan` record and span frames.

A span frame is a DataFrame with the columns of :data:`schema.SPAN_COLUMNS`:
``start_ts``/``end_ts`` ``datetime64[us, UTC]``, ``label``/``provenance``/``user_id``
pandas ``str`` dtype (a missing ``user_id`` is NaN and matches every user), ``confidence``
``float64`` (NaN = no confidence) and ``extend_forward`` ``bool``. Validation lives in
:mod:`taskclf_core.data.labelcheck`, label files in :mod:`taskclf_core.data.labelfiles`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, field_validator, model_validator

from taskclf_core.data import schema
from taskclf_core.data.columns import STRING_DTYPE, TIMESTAMP_DTYPE
from taskclf_core.data.labelcheck import (
    EPOCH,
    MICROSECOND,
    TIMESTAMP_EXAMPLE,
    unknown_label_text,
    validate_span_frame,
)


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
            raise ValueError(f"{value!r} {unknown_label_text(value)}")
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
    starts = np.fromiter(((s.start_ts - EPOCH) // MICROSECOND for s in spans), np.int64, n)
    ends = np.fromiter(((s.end_ts - EPOCH) // MICROSECOND for s in spans), np.int64, n)
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
