"""Run ids: generated, unique, sortable by time, and checked before they touch a path.

Format: ``YYYYMMDDTHHMMSSffffffZ-xxxxxx`` (UTC time to the microsecond, then six random
hex digits), e.g. ``20261126T052430123456Z-a1b2c3``.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

from taskclf_core.errors import RunIdError

RUN_ID_PATTERN = re.compile(r"\A[0-9]{8}T[0-9]{12}Z-[0-9a-f]{6}\Z")
RUN_ID_EXAMPLE = "20261126T052430123456Z-a1b2c3"
#: The folder names taskclf gives its bundles (``generate_run_id``): UTC time, 4 digits.
TASKCLF_MODEL_ID_PATTERN = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9]{6}_run-[0-9]{4}\Z")
TASKCLF_MODEL_ID_EXAMPLE = "2026-11-29_211443_run-5212"
#: pydantic patterns (Rust regex: ``$`` is the true end of the text).
RUN_ID_REGEX = r"^[0-9]{8}T[0-9]{12}Z-[0-9a-f]{6}$"
MODEL_ID_REGEX = r"^([0-9]{8}T[0-9]{12}Z-[0-9a-f]{6}|[0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9]{6}_run-[0-9]{4})$"


def new_run_id(now: datetime | None = None) -> str:
    """A fresh run id for ``now`` (default: the current UTC time)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{now:%Y%m%dT%H%M%S%f}Z-{secrets.token_hex(3)}"


def validate_run_id(value: object) -> str:
    """Return ``value`` if it is a well-formed run id, else raise :class:`RunIdError`.

    Call this on every run id that comes from outside (URL, CLI) before it is joined to
    a path: the pattern admits no separators, dots, NUL or unicode.
    """
    if not isinstance(value, str) or not RUN_ID_PATTERN.match(value):
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        raise RunIdError(
            f"invalid run id {shown}: expected the form {RUN_ID_EXAMPLE} "
            "(UTC timestamp, 'Z-', six lowercase hex digits)"
        )
    return value


def is_model_id(value: object) -> bool:
    """Whether ``value`` names a bundle folder: one of our run ids, or taskclf's folder name."""
    return isinstance(value, str) and bool(
        RUN_ID_PATTERN.match(value) or TASKCLF_MODEL_ID_PATTERN.match(value)
    )


def validate_model_id(value: object) -> str:
    """Return ``value`` if it names a bundle folder in ``models/``, else raise :class:`RunIdError`.

    A model id is one of our run ids or a folder name taskclf gives its bundles
    (``2026-11-29_211443_run-5212``); neither admits separators, dots, NUL or unicode.
    """
    if not is_model_id(value):
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        raise RunIdError(
            f"invalid model id {shown}: expected a run id like {RUN_ID_EXAMPLE} or a "
            f"taskclf bundle name like {TASKCLF_MODEL_ID_EXAMPLE}"
        )
    assert isinstance(value, str)
    return value


def model_id_time(model_id: str) -> datetime:
    """The UTC time encoded in a (valid) model id, ours or taskclf's."""
    if TASKCLF_MODEL_ID_PATTERN.match(model_id):
        return datetime.strptime(model_id[:17], "%Y-%m-%d_%H%M%S").replace(tzinfo=UTC)
    return run_id_time(model_id)


def model_id_sort_key(model_id: str) -> str:
    """A text that sorts model ids (ours and taskclf's) by their time, without parsing it.

    ``20261126T052430123456Z-a1b2c3`` and ``2026-11-29_211443_run-5212`` both become
    ``YYYYMMDDTHHMMSSffffff`` plus the id; a nonsense date still sorts (never raises).
    """
    if TASKCLF_MODEL_ID_PATTERN.match(model_id):
        return f"{model_id[0:4]}{model_id[5:7]}{model_id[8:10]}T{model_id[11:17]}000000{model_id}"
    return f"{model_id[:21]}{model_id}"


def run_id_time(run_id: str) -> datetime:
    """The UTC time encoded in a (valid) run id."""
    validate_run_id(run_id)
    return datetime.strptime(run_id[:21], "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC)


