"""Collecting validation problems: one :class:`DataError` per file, one line per problem.

Every message has the same shape, ``<file> row <n>, column <col>: <value> <what>``, whether
it comes from a feature file, a label file or several files read together.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from taskclf_core.errors import DataError

#: At most this many problem lines go into one error message.
MAX_PROBLEM_LINES: Final = 10


def show_cell(value: object) -> str:
    """One offending cell of a data file for a problem line: ``empty`` for a missing value
    (None, NA, NaN), text quoted, all shortened (``errors.show_value`` shows a config value)."""
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
    names the file of its example row. Shared by the feature and label validation so
    that every message has the same shape: ``<file> row <n>, column <col>: <value> <what>``.
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
            example = show_cell(values.iloc[first])
        else:
            example = show_cell(values[first])
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
