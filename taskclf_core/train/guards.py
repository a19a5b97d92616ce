"""The prepare stage's guards: what a training set must be before a model is trained.

Both engines call these (the Dask engine with the counts its workers send back), so a
rule and its message exist once.
"""

from __future__ import annotations

from collections.abc import Iterable

from taskclf_core.data.schema import SCHEMA_VERSIONS
from taskclf_core.errors import DataError, InsufficientDataError

#: Fewer labelled windows than this stop the run before training.
MIN_LABELLED_WINDOWS = 100


def one_schema_version(versions: Iterable[str]) -> str:
    """The one schema version of a training set, from the versions its rows carry.

    Raises:
        DataError: an unknown version, or several.
    """
    found = sorted(set(versions))
    unknown = [v for v in found if v not in SCHEMA_VERSIONS]
    if unknown:
        raise DataError(f"unknown schema_version {unknown[0]!r}; expected one of {', '.join(SCHEMA_VERSIONS)}")
    if len(found) > 1:
        raise DataError(f"mixed schema versions in one training set: {', '.join(found)}; use one version")
    if not found:
        raise DataError("the feature rows carry no schema_version; expected v1, v2 or v3 rows")
    return found[0]


def check_reject_threshold(reject_threshold: float) -> None:
    """Raises: DataError: the reject threshold is not in (0, 1)."""
    if not 0 < reject_threshold < 1:
        raise DataError(f"reject_threshold must be in (0, 1); got {reject_threshold}")


def check_labelled_windows(labelled: int, *, spans: int, windows: int) -> None:
    """Refuse to train on fewer than :data:`MIN_LABELLED_WINDOWS` labelled windows.

    Raises:
        InsufficientDataError: naming the labelled windows, the spans and the windows.
    """
    if labelled < MIN_LABELLED_WINDOWS:
        raise InsufficientDataError(
            f"only {labelled} labelled windows after projecting {spans} spans onto "
            f"{windows} windows; at least {MIN_LABELLED_WINDOWS} are needed: "
            "label more time or widen the date range"
        )
