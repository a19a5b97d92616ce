"""Data warnings: values taskclf accepts that lie outside the documented physical range.

Validation refuses only what taskclf itself would refuse or what cannot be trained on.
A value taskclf accepts but our documentation calls impossible (``active_seconds_*``
above 60: aw-watcher-input polls run a little past 5 s) or a category outside the known
vocabulary is kept as it is and counted here, so the run, the CLI and Review can show
it.

Warnings are computed per (user, day) partition by a pure function,
:func:`partition_warnings`, and combined by adding them up (:meth:`DataWarning.__add__`
is associative and commutative), so a Dask step can map the same function over
partitions and reduce the results.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Final, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel

from taskclf_core.data.columns import CATEGORY_DOMAINS, DOCUMENTED_RANGES, range_text

#: At most this many distinct unknown values are kept per warning (the first, sorted).
MAX_EXAMPLES: Final = 5

WarningKind = Literal["out_of_range", "unknown_category", "mixed_time_zones"]


class DataWarning(BaseModel, frozen=True, extra="forbid"):
    """Rows of one column that taskclf accepts but that look wrong; they are kept.

    Attributes:
        kind: ``out_of_range`` (a number outside the documented range),
            ``unknown_category`` (text outside the known vocabulary) or
            ``mixed_time_zones`` (a label file mixing naive and offset timestamps).
        column: The column (``start_ts, end_ts`` for a label file).
        rows: How many rows (values, for ``mixed_time_zones``) are concerned.
        min_value: The smallest value below the range, if any.
        max_value: The largest value above the range, if any.
        allowed: The documented range or vocabulary, e.g. ``[0, 60]``.
        examples: Up to five distinct offending values (text columns and label files).
        source: The file the warning is about, when it is about one file.
        detail: What was done about it, in words.
    """

    kind: WarningKind
    column: str
    rows: int
    min_value: float | None = None
    max_value: float | None = None
    allowed: str
    examples: tuple[str, ...] = ()
    source: str | None = None
    detail: str = ""

    def __add__(self, other: DataWarning) -> DataWarning:
        """The warning of two partitions together (same kind, column and source)."""
        if (other.kind, other.column, other.source) != (self.kind, self.column, self.source):
            raise ValueError(
                f"cannot add a warning about {other.column!r} to one about {self.column!r}"
            )
        return self.model_copy(
            update={
                "rows": self.rows + other.rows,
                "min_value": _pick(min, self.min_value, other.min_value),
                "max_value": _pick(max, self.max_value, other.max_value),
                "examples": tuple(sorted(set(self.examples) | set(other.examples)))[
                    :MAX_EXAMPLES
                ],
            }
        )

    @property
    def message(self) -> str:
        """One line for the CLI, the run snapshot and Review."""
        where = f"{self.source}: " if self.source else ""
        if self.kind == "out_of_range":
            seen = []
            if self.min_value is not None:
                seen.append(f"min {self.min_value:g}")
            if self.max_value is not None:
                seen.append(f"max {self.max_value:g}")
            return (
                f"{where}{self.column}: {self.rows} row{_s(self.rows)} outside the documented "
                f"range {self.allowed} ({', '.join(seen)}); taskclf accepts them, kept as they are"
            )
        if self.kind == "unknown_category":
            shown = ", ".join(repr(v) for v in self.examples)
            return (
                f"{where}{self.column}: {self.rows} row{_s(self.rows)} with a value outside the "
                f"known categories ({shown}); taskclf accepts them, kept as they are"
            )
        return f"{where}{self.column}: {self.detail}"


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def _pick(reduce: Callable[[float, float], float], a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return float(reduce(a, b))


def _range_warning(column: str, values: np.ndarray) -> DataWarning | None:
    low, high = DOCUMENTED_RANGES[column]
    with np.errstate(invalid="ignore"):
        below = values < low if low is not None else np.zeros(values.size, dtype=bool)
        above = values > high if high is not None else np.zeros(values.size, dtype=bool)
    rows = int(below.sum() + above.sum())
    if rows == 0:
        return None
    return DataWarning(
        kind="out_of_range",
        column=column,
        rows=rows,
        min_value=float(values[below].min()) if below.any() else None,
        max_value=float(values[above].max()) if above.any() else None,
        allowed=range_text(low, high),
    )


def _category_warning(column: str, series: pd.Series) -> DataWarning | None:
    domain = CATEGORY_DOMAINS[column]
    unknown = (series.notna() & ~series.isin(domain)).to_numpy(dtype=bool)
    rows = int(unknown.sum())
    if rows == 0:
        return None
    values = sorted({str(v) for v in series[unknown].unique()})[:MAX_EXAMPLES]
    return DataWarning(
        kind="unknown_category",
        column=column,
        rows=rows,
        allowed="one of " + ", ".join(domain),
        examples=tuple(values),
    )


def partition_warnings(features: pd.DataFrame) -> dict[str, DataWarning]:
    """The warnings of one partition of a validated feature frame (a pure function).

    Args:
        features: Rows of one (user, day), or any rows: the result of a whole frame is the
            sum of its partitions' results.

    Returns:
        One warning per column that has any, keyed by column.
    """
    found: dict[str, DataWarning] = {}
    for column in DOCUMENTED_RANGES:
        if column in features.columns:
            values = features[column].to_numpy(dtype=np.float64, na_value=np.nan)
            warning = _range_warning(column, values)
            if warning is not None:
                found[column] = warning
    for column in CATEGORY_DOMAINS:
        if column in features.columns:
            warning = _category_warning(column, features[column])
            if warning is not None:
                found[column] = warning
    return found


def combine_warnings(parts: Iterable[Mapping[str, DataWarning]]) -> dict[str, DataWarning]:
    """Add up the warnings of several partitions, column by column."""
    total: dict[str, DataWarning] = {}
    for part in parts:
        for column, warning in part.items():
            total[column] = total[column] + warning if column in total else warning
    return total


def _offending_rows(features: pd.DataFrame) -> np.ndarray:
    """Rows with any warning: the other rows add nothing to any partition's result."""
    rows = np.zeros(len(features), dtype=bool)
    for column, (low, high) in DOCUMENTED_RANGES.items():
        if column in features.columns:
            values = features[column].to_numpy(dtype=np.float64, na_value=np.nan)
            with np.errstate(invalid="ignore"):
                if low is not None:
                    rows |= values < low
                if high is not None:
                    rows |= values > high
    for column, domain in CATEGORY_DOMAINS.items():
        if column in features.columns:
            series = features[column]
            rows |= (series.notna() & ~series.isin(domain)).to_numpy(dtype=bool)
    return rows


def data_warnings(features: pd.DataFrame) -> list[DataWarning]:
    """The data warnings of a loaded feature frame, one per column, in column order.

    :func:`partition_warnings` runs on each (user, day) partition that has an offending
    row, and the results are added up.

    Args:
        features: A validated feature frame (in-memory convention, e.g.
            ``LoadedData.features``).

    Returns:
        The warnings; empty when every value is inside its documented range.
    """
    rows = _offending_rows(features)
    if not rows.any():
        return []
    offending = features.loc[rows]
    day = offending["bucket_start_ts"].dt.floor("D")
    parts = (
        partition_warnings(part)
        for _, part in offending.groupby([offending["user_id"], day], sort=True)
    )
    total = combine_warnings(parts)
    return [total[c] for c in features.columns if c in total]
