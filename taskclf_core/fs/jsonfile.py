"""Reading JSON files that may be hostile: bounded size, bounded nesting, clear errors.

``json.loads`` raises ``RecursionError`` on ``[`` x 100000 and reads any size; a file
under ``models/`` or ``artifacts/`` is data from disk, so these become a ``ValueError``
("not valid JSON: nested deeper than ...") that callers report as an invalid file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from taskclf_core.errors import describe_validation_error

M = TypeVar("M", bound=BaseModel)

#: Largest JSON file read (bundle metadata, pointers, run decisions are a few KB).
MAX_JSON_BYTES = 16 * 1024 * 1024
def read_bounded(path: Path, max_bytes: int) -> bytes:
    """A file's bytes, refusing one larger than ``max_bytes`` (never reads more than one byte past).

    Raises:
        OSError: the file cannot be read (missing, permission, ...).
        ValueError: larger than ``max_bytes`` (``"larger than 1,048,576 bytes"``).
    """
    with open(path, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"larger than {max_bytes:,} bytes")
    return data


def decode_utf8(data: bytes) -> str:
    """``data`` as text; raises ValueError ``"not UTF-8 text: byte N"`` (1-based) otherwise."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text: byte {exc.start + 1}") from None


def loads_json(text: str | bytes) -> Any:
    """Parse JSON text, refusing nesting deeper than the interpreter allows and NaN/Infinity.

    Raises:
        ValueError: not JSON, nested too deeply, or not UTF-8 (bytes).
    """
    if isinstance(text, bytes):
        text = decode_utf8(text)
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError("nested too deeply to be one of our files") from None
    except json.JSONDecodeError as exc:
        raise ValueError(str(exc)) from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def read_json(path: Path, *, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """Read and parse a JSON file of at most ``max_bytes``.

    Raises:
        OSError: the file cannot be read (missing, permission, ...).
        ValueError: too large, not UTF-8, not JSON, or nested too deeply; the message
            says which (without the path: the caller names the file).
    """
    return loads_json(read_bounded(path, max_bytes))


def read_record(path: Path, model: type[M], *, shown: str, max_bytes: int) -> tuple[M | None, str | None]:
    """A small record file (JSON validated into ``model``) read without raising.

    Returns:
        ``(record, None)``; ``(None, None)`` when there is no file; ``(None, problem)`` when it
        is a symbolic link, unreadable, larger than ``max_bytes`` or not a valid record
        (``problem`` names the file as ``shown`` and says why).
    """
    try:
        if path.is_symlink():
            return None, f"{shown} is a symbolic link; not read"
        data = read_bounded(path, max_bytes)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"{shown} cannot be read ({exc.strerror or exc})"
    except ValueError as exc:
        return None, f"{shown} is {exc}; not read"
    try:
        return model.model_validate_json(data), None
    except ValidationError as exc:
        return None, f"{shown} is not valid ({describe_validation_error(exc, model=model)[:200]})"
