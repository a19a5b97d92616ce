"""Reading JSON files that may be hostile: bounded size, bounded nesting, clear errors.

``json.loads`` raises ``RecursionError`` on ``[`` x 100000 and reads any size; a file
under ``models/`` or ``artifacts/`` is data from disk, so these become a ``ValueError``
("not valid JSON: nested deeper than ...") that callers report as an invalid file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: Largest JSON file read (bundle metadata, pointers, run decisions are a few KB).
MAX_JSON_BYTES = 16 * 1024 * 1024
def loads_json(text: str | bytes) -> Any:
    """Parse JSON text, refusing nesting deeper than the interpreter allows and NaN/Infinity.

    Raises:
        ValueError: not JSON, nested too deeply, or not UTF-8 (bytes).
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"not UTF-8 text: byte {exc.start + 1}") from None
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
    with open(path, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"larger than {max_bytes // (1024 * 1024)} MB")
    return loads_json(data)
