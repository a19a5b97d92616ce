"""One small exception tree for everything the library refuses.

Every error says what failed, the value given and what is allowed. Front ends (CLI,
app) catch :class:`TaskclfError` and show its message; anything else is a bug.
"""

from __future__ import annotations

import difflib
import reprlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError
    from pydantic.fields import FieldInfo
    from pydantic_core import ErrorDetails


class TaskclfError(Exception):
    """Base of every error this library raises on purpose."""


class ConfigError(TaskclfError):
    """A configuration file or value is invalid."""


class DataError(TaskclfError):
    """Input data (features, labels, data directory) is missing or invalid."""


class InsufficientDataError(DataError):
    """Too few labelled windows (or users) to train and evaluate a model."""


class RegistryError(TaskclfError):
    """The model registry (bundles, runs, pointer, history) is broken or refused an action."""


class BundleError(RegistryError):
    """A model bundle is missing, incomplete or altered."""


class RunIdError(RegistryError):
    """A run id is malformed or names no run."""


class PromotionRefused(RegistryError):
    """A promotion or rollback was refused; the message says why."""


class ChampionChanged(PromotionRefused):
    """The champion is no longer the one the run was evaluated against."""


class StorageError(TaskclfError):
    """The disk refused a read or write (full, read-only, no permission, a file in the way).

    Raised by the file layer (``fs/atomic.py``) whatever is being written: a registry file,
    a config, a job's status; the message names the path and the reason in words.
    """


class BusyError(TaskclfError):
    """Another retrain (or registry change) holds the lock."""


class JobRunningError(BusyError):
    """A retrain job is already running; ``job_id`` names it (None: a CLI retrain)."""

    def __init__(self, message: str, job_id: str | None) -> None:
        super().__init__(message)
        self.job_id = job_id


class ClusterError(TaskclfError):
    """The Dask cluster failed the run: unreachable, a worker lost, data not visible.

    Raised before anything is saved: no run folder, the registry untouched.
    """


class IdentityError(TaskclfError):
    """An identity cannot be established: no issuer, subject or verified email, or a blank name."""


class AccessDenied(TaskclfError):
    """The acting identity lacks the role an action needs; the message names both."""


class SignInAgain(AccessDenied):
    """The sign-in is too old for a sign-off (``access.signoff_reauth_minutes``): sign in again."""


class SessionEnded(AccessDenied):
    """The sign-in was ended (signed out elsewhere) or has expired: sign in again."""


class JobCancelled(BaseException):
    """Raised inside a job process when a cancel arrives (BaseException: never swallowed by
    an ``except Exception`` on the way out)."""


class SecretsProblem(Exception):
    """A notification target's secret is missing or unusable; the message names where, never the value."""


class DeliveryError(Exception):
    """A notification attempt that did not get through (the reason, short; redacted by the caller)."""


@dataclass(frozen=True)
class Problem:
    """Something wrong a person should know, as data: what is wrong and what fixes it.

    Shown, never raised, and never parsed back from a sentence: the pages, the report and
    the CLI render ``what`` and ``fix`` as they need. ``code`` names the kind of problem.
    """

    code: str
    what: str
    fix: str
    severity: Literal["error", "warning", "note"] = "warning"


# --------------------------------------------------------------------------- messages

#: Shows a value in a message, shortened: a hostile file (deep nesting, YAML aliases that
#: expand to billions of items, a 100 KB string) must not make the message huge or slow.
_SHOW = reprlib.Repr()
_SHOW.maxlevel, _SHOW.maxlist, _SHOW.maxdict, _SHOW.maxstring, _SHOW.maxother = 2, 4, 4, 60, 60

_TYPE_WORDS: dict[str, str] = {
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "str": "text",
}


def show_value(value: object) -> str:
    """``repr`` of a value for a message, shortened to a few dozen characters."""
    return _SHOW.repr(value)


def _fields_at(model: type[BaseModel] | None, loc: tuple[int | str, ...]) -> dict[str, FieldInfo]:
    """The fields of the (nested) model that holds the last element of ``loc``."""
    fields: dict[str, FieldInfo] = dict(model.model_fields) if model is not None else {}
    for part in loc[:-1]:
        if isinstance(part, int):  # an item of a list: the same element model
            continue
        nested = _model_in(getattr(fields.get(str(part)), "annotation", None))
        if nested is None:
            return {}
        fields = dict(nested.model_fields)
    return fields


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model an annotation holds: itself, or inside ``X | None`` or ``list[X]``."""
    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        return annotation  # type: ignore[return-value]
    return next((m for m in map(_model_in, get_args(annotation)) if m is not None), None)


def _expected(info: FieldInfo, err: ErrorDetails) -> str:
    annotation = getattr(info.annotation, "__name__", str(info.annotation))
    expected = _TYPE_WORDS.get(annotation, annotation)
    ge = next((m.ge for m in info.metadata if getattr(m, "ge", None) is not None), None)
    le = next((m.le for m in info.metadata if getattr(m, "le", None) is not None), None)
    if ge is not None and le is not None:
        expected += f" in [{ge}, {le}]"
    elif ge is not None:
        expected += f" >= {ge}"
    elif le is not None:
        expected += f" <= {le}"
    if "literal" in err["type"]:
        expected = str(err["msg"]).replace("Input should be ", "one of ")
    if err["type"] in ("model_type", "dict_type"):
        expected = "a mapping of keys to values"
    return expected


def describe_validation_item(err: ErrorDetails, model: type[BaseModel] | None = None) -> str:
    """One sentence for one pydantic error: where, what is allowed, and what was given.

    Args:
        err: One item of ``ValidationError.errors()``.
        model: The model that was validated; when given, the sentence names the allowed
            keys, the expected type and its bounds (``"x must be a number in [0, 1]; got 2"``).

    Returns:
        The sentence, without a trailing full stop.
    """
    loc = tuple(err["loc"])
    where = ".".join(str(p) for p in loc) or "(top level)"
    kind = err["type"]
    fields = _fields_at(model, loc) if loc else {}
    if kind == "invalid_key":
        allowed = f"; allowed keys: {', '.join(fields)}" if fields else ""
        return f"key {show_value(err.get('input'))} is not a name (keys are text){allowed}"
    if kind == "extra_forbidden":
        if not fields:
            return f"{where}: unknown key (not allowed here)"
        close = difflib.get_close_matches(str(loc[-1]), list(fields), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown key {where!r}{hint}; allowed keys: {', '.join(fields)}"
    info = fields.get(str(loc[-1])) if loc else None
    if info is None:
        return f"{where}: {str(err['msg']).removeprefix('Value error, ')}"
    if kind == "missing":
        return f"{where} is required"
    if kind == "value_error":
        return f"{where}: {str(err['msg']).removeprefix('Value error, ')}"
    return f"{where} must be {_expected(info, err) or err['msg']}; got {show_value(err.get('input'))}"


def describe_validation_error(
    exc: ValidationError, *, model: type[BaseModel] | None = None, source: str | None = None
) -> str:
    """Every problem of a pydantic error in words, joined by ``"; "``.

    The one place where validation errors become sentences (configuration, bundle
    metadata, run decisions, pointers, requests).

    Args:
        exc: The pydantic error.
        model: The validated model (adds allowed keys, types and bounds to the sentences).
        source: Prefix of each sentence, e.g. the file name (``"configs/retrain.yaml"``).

    Returns:
        ``"created_at: expected ...; label_set: ..."``, or with ``source``
        ``"<source>: created_at: ...; <source>: label_set: ..."``.
    """
    prefix = f"{source}: " if source else ""
    return "; ".join(prefix + describe_validation_item(err, model) for err in exc.errors())
