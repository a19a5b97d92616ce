"""What a person asks a retrain or a synthetic team to be, checked before any work starts.

:class:`RetrainRequest` holds the options of ``taskclf train retrain`` and the app's Retrain
form; :func:`build_request` turns pydantic's errors into one plain sentence naming the
option. :func:`date_range` resolves the days to read (refusing ranges that leave the
calendar pandas can represent) and :func:`synthetic_size_problem` estimates a synthetic
team's size before it is generated.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from taskclf_core.data.schema import DEFAULT_REJECT_THRESHOLD
from taskclf_core.errors import ConfigError
from taskclf_core.registry.requested import RunRequested, StartedHow, check_reason

if TYPE_CHECKING:  # the config (and what it imports) is not needed to check a request
    from taskclf_core.train.config import RetrainConfig

#: The days a retrain or a synthetic team may cover: pandas timestamps (nanoseconds since
#: 1970) end in April 2262, and taskclf data starts long after 1970.
FIRST_DAY: Final = date(1970, 1, 1)
LAST_DAY: Final = date(2261, 12, 31)

#: Synthetic data size: one-minute windows per user and day (the generator averages about
#: 440), and the memory a window costs through a retrain (generation peaks at ~1.3 KB,
#: the pipeline's copies and matrices add the rest). Teams above the cap are refused.
SYNTHETIC_WINDOWS_PER_USER_DAY: Final = 450
BYTES_PER_WINDOW: Final = 3_000
#: A v3 window has 308 columns instead of 46: its frame and matrices cost about 4x more.
BYTES_PER_WINDOW_BY_SCHEMA: Final = {"v1": BYTES_PER_WINDOW, "v2": BYTES_PER_WINDOW, "v3": 12_000}
#: Synthetic teams are written in today's taskclf schema unless asked otherwise.
DEFAULT_SYNTHETIC_SCHEMA: Final = "v3"
SchemaVersion = Literal["v1", "v2", "v3"]
MAX_SYNTHETIC_WINDOWS: Final = 10_000_000

#: A synthetic team's bounds, and its seed's (the request's, the CLI's and the Retrain form's).
MIN_USERS: Final = 1
MAX_USERS: Final = 500
MIN_DAYS: Final = 1
MAX_DAYS: Final = 3650
MAX_SEED: Final = 2**31 - 1

#: How the command line names each request field (messages name what the person typed).
_OPTION_NAMES: Final = {"date_from": "--from", "date_to": "--to", "config_path": "--config", "data_dir": "--data-dir",
                        "schema_version": "--schema"}


def _day_in_range(day: date | None, name: str) -> None:
    if day is not None and not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"{name} {day} is outside the supported days {FIRST_DAY}..{LAST_DAY}")


class RetrainRequest(BaseModel):
    """A retrain as asked for on the command line or in the app."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    config_path: Path | None = None  # default: <home>/configs/retrain.yaml
    #: ``retrain`` a challenger, or ``calibrate``: refit the champion's calibrator (its own reviewed run).
    kind: Literal["retrain", "calibrate"] = "retrain"
    force: bool = False
    dry_run: bool = False
    synthetic: bool = False
    scenario: str = "default"
    #: Schema version of the synthetic team (taskclf writes v3 today).
    schema_version: SchemaVersion = DEFAULT_SYNTHETIC_SCHEMA
    users: int = Field(5, ge=MIN_USERS, le=MAX_USERS)
    days: int | None = Field(None, ge=MIN_DAYS, le=MAX_DAYS)  # default: the config's data_lookback_days
    seed: int = Field(0, ge=0, le=MAX_SEED)
    data_dir: Path | None = None  # default: <home>/data/processed
    date_from: date | None = None
    date_to: date | None = None
    user_id: str | None = None  # for schema v2 files, which carry no user_id
    holdout_fraction: float = Field(0.0, ge=0.0, lt=1.0)
    reject_threshold: float = Field(DEFAULT_REJECT_THRESHOLD, gt=0.0, lt=1.0)
    engine: Literal["local", "dask"] | None = None  # default: the config's compute.engine
    scheduler: str | None = None  # default: the config's compute.scheduler (implies engine dask)
    #: Why the operator starts it (Retrain page, ``--reason``): on Review, in events and the history.
    reason: str | None = None
    #: Who starts it, as the front end established it (never typed): see ``registry.requested``.
    started_by: str | None = None
    started_how: StartedHow | None = None

    @field_validator("reason", mode="before")
    @classmethod
    def _reason(cls, value: object) -> str | None:
        return check_reason(value)

    def requested(self) -> RunRequested | None:
        """Who started the run and why, as recorded in it (None when neither is known)."""
        if self.started_by is None and self.reason is None:
            return None
        return RunRequested(by=self.started_by or "unknown", how=self.started_how or "local", reason=self.reason)

    @model_validator(mode="after")
    def _range_order(self) -> RetrainRequest:
        _day_in_range(self.date_from, "--from")
        _day_in_range(self.date_to, "--to")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError(
                f"--from {self.date_from} is after --to {self.date_to}; the first day must not be after the last"
            )
        return self


def may_promote_automatically(config: RetrainConfig, *, dry_run: bool) -> bool:
    """Whether a retrain started now may replace the champion without a sign-off (``auto_promote``
    is on and it is not a dry run): the Retrain page asks for a confirmation first."""
    return config.auto_promote and not dry_run


def _describe_request_error(exc: ValidationError) -> str:
    """One plain sentence for the first problem of a request (no pydantic wording)."""
    first = exc.errors()[0]
    if first["type"] == "value_error":  # a rule of RetrainRequest: its own sentence
        return str(first.get("ctx", {}).get("error") or first["msg"])
    field = ".".join(str(p) for p in first["loc"])
    name = _OPTION_NAMES.get(field, "--" + field.replace("_", "-"))
    if first["type"] == "extra_forbidden":
        return f"unknown retrain option {field!r}"
    rule = str(first["msg"]).removeprefix("Input should be ").removeprefix("Value error, ")
    return f"{name} must be {rule}; got {first.get('input')!r}"


def build_request(**fields: Any) -> RetrainRequest:
    """A :class:`RetrainRequest` from what a person gave, or one clear error.

    Raises:
        ConfigError: a value out of range or dates in the wrong order, in plain words
            naming the option (``--from 2026-11-21 is after --to 2026-11-09; ...``).
    """
    try:
        return RetrainRequest(**fields)
    except ValidationError as exc:
        raise ConfigError(_describe_request_error(exc)) from None


def shift_day(day: date, days: int, option: str) -> date:
    """``day`` moved by ``days``, refused when the range would leave the supported days."""
    try:
        moved: date | None = day + timedelta(days=days)
    except OverflowError:
        moved = None
    if moved is None or not FIRST_DAY <= moved <= LAST_DAY:
        where = f"ending {day} ({option}) would start before {FIRST_DAY}" if days < 0 else (
            f"starting {day} ({option}) would end after {LAST_DAY}"
        )
        raise ConfigError(
            f"a {abs(days) + 1}-day range {where}; the supported days are {FIRST_DAY}..{LAST_DAY}"
        )
    return moved


def date_range(request: RetrainRequest, config: RetrainConfig, *, today: date | None = None) -> tuple[date, date]:
    """The requested date range, defaulting to the lookback window ending today (UTC).

    Raises:
        ConfigError: the range is empty or leaves :data:`FIRST_DAY`..:data:`LAST_DAY`.
    """
    today = today or datetime.now(UTC).date()
    days = request.days or config.data_lookback_days
    if request.date_to is not None:
        date_to = request.date_to
    elif request.date_from is not None:
        date_to = shift_day(request.date_from, days - 1, "--from")
    else:
        date_to = today
    date_from = request.date_from or shift_day(date_to, -(days - 1), "--to" if request.date_to else "today")
    if date_from > date_to:
        raise ConfigError(f"date range is empty: from {date_from} to {date_to}")
    return date_from, date_to


def _memory_available() -> int | None:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``), if known."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def synthetic_size_problem(users: int, days: int, schema_version: str = DEFAULT_SYNTHETIC_SCHEMA) -> str | None:
    """Why a synthetic team of ``users`` x ``days`` cannot be made here, or None when it fits.

    The estimate is users x days x :data:`SYNTHETIC_WINDOWS_PER_USER_DAY` windows at
    :data:`BYTES_PER_WINDOW_BY_SCHEMA` each; the limit is :data:`MAX_SYNTHETIC_WINDOWS` or
    what the available memory holds, whichever is smaller.
    """
    windows = users * days * SYNTHETIC_WINDOWS_PER_USER_DAY
    per_window = BYTES_PER_WINDOW_BY_SCHEMA.get(schema_version, BYTES_PER_WINDOW_BY_SCHEMA["v3"])
    limit = MAX_SYNTHETIC_WINDOWS
    available = _memory_available()
    if available is not None:
        limit = min(limit, available // per_window)
    if windows <= limit:
        return None
    return (
        f"a synthetic {schema_version} team of {users:,} users x {days:,} days is about {windows:,} "
        f"one-minute windows (~{windows * per_window / 1e9:,.1f} GB of memory); at most {limit:,} "
        "windows fit here: use fewer users or days"
    )


def check_synthetic_size(users: int, days: int, schema_version: str = DEFAULT_SYNTHETIC_SCHEMA) -> None:
    """Refuse a synthetic team too large to generate (see :func:`synthetic_size_problem`).

    Raises:
        ConfigError: the estimate does not fit; the message has the estimate.
    """
    problem = synthetic_size_problem(users, days, schema_version)
    if problem is not None:
        raise ConfigError(problem)
