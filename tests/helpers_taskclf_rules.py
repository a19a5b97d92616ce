"""taskclf's reading rules for a ``models/`` folder, written from the fixture README.

``tests/fixtures/upstream-registry/README.md`` ("active.json", "active_history.jsonl",
"Invalid or stale pointer: auto-repair", "metadata.json") describes how taskclf's
``resolve_active_model`` decides whether a pointer is valid. When it is not, taskclf
**rewrites** ``active.json`` (auto-repair). These helpers answer, without taskclf
installed, "would taskclf serve this pointer as it is?" and "would taskclf parse this
history line?", so tests can prove our writes never trigger a repair.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "upstream-registry"
FACTS: dict[str, Any] = json.loads((FIXTURES / "upstream_facts.json").read_text())
LABELS = sorted(FACTS["label_order"])

_TYPES = {
    "str": lambda v: isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "list[str]": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "list[list[int]]": lambda v: isinstance(v, list)
    and all(isinstance(r, list) and all(isinstance(x, int) for x in r) for r in v),
    "dict[str, Any]": lambda v: isinstance(v, dict),
    "dict[str, object] | None": lambda v: v is None or isinstance(v, dict),
    "str | None": lambda v: v is None or isinstance(v, str),
    "int | None": lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool)),
    "float | None": lambda v: v is None or isinstance(v, (int, float)),
    "Literal['real', 'synthetic', 'mixed']": lambda v: v in ("real", "synthetic", "mixed"),
}


def check_fields(raw: Any, spec: dict[str, dict[str, Any]], what: str) -> None:
    """Assert ``raw`` has every required field of ``spec`` with taskclf's type (lax ints)."""
    assert isinstance(raw, dict), f"{what} is not a JSON object"
    for name, field in spec.items():
        if name not in raw:
            assert not field["required"], f"{what}: required field {name!r} is missing"
            continue
        value = raw[name]
        kind = field["type"]
        if kind == "int" and isinstance(value, str) and value.isdigit():
            continue  # pydantic lax mode: "1" is accepted
        assert _TYPES[kind](value), f"{what}: {name}={value!r} is not {kind}"


def taskclf_bundle_problem(bundle: Path) -> str | None:
    """Why taskclf's ``_parse_bundle`` + compatibility check would exclude ``bundle``."""
    try:
        metadata = json.loads((bundle / "metadata.json").read_text())
        metrics = json.loads((bundle / "metrics.json").read_text())
        check_fields(metadata, FACTS["metadata_json_fields"], "metadata.json")
        check_fields(metrics, FACTS["metrics_json_fields_required_by_registry"], "metrics.json")
    except (OSError, ValueError, AssertionError) as exc:
        return f"invalid bundle: {exc}"
    if "created_at" in metadata:
        try:
            datetime.fromisoformat(metadata["created_at"])
        except ValueError:
            return "created_at does not parse with datetime.fromisoformat"
    schema = FACTS["schemas"].get(metadata["schema_version"])
    if schema is None or schema["schema_hash"] != metadata["schema_hash"]:
        return "schema_hash does not match its declared schema version"
    if sorted(metadata["label_set"]) != LABELS:
        return "label set differs"
    if not (bundle / "model.txt").is_file():
        return "no model.txt"
    return None


def taskclf_resolve_active(models_dir: Path) -> Path:
    """The bundle taskclf serves through ``active.json``, or AssertionError with the reason.

    Any failure here is a case where taskclf would fall back to selection and rewrite
    ``active.json`` (auto-repair).
    """
    raw = json.loads((models_dir / "active.json").read_text())
    check_fields(raw, FACTS["active_json_fields"], "active.json")
    folder = models_dir.parent / raw["model_dir"]  # taskclf: models_dir.parent / model_dir
    assert folder.is_dir(), f"model_dir {raw['model_dir']!r} does not resolve to a folder"
    problem = taskclf_bundle_problem(folder)
    assert problem is None, f"{folder.name}: {problem}"
    return folder.resolve()


def taskclf_history_lines(models_dir: Path) -> list[dict[str, Any]]:
    """Every line of ``active_history.jsonl`` checked against taskclf's ``ActiveHistoryEntry``."""
    lines = (models_dir / "active_history.jsonl").read_text().splitlines()
    parsed = []
    for number, line in enumerate(lines, start=1):
        raw = json.loads(line)
        check_fields(raw, FACTS["active_history_line_fields"] | {"old": {"type": "dict[str, object] | None", "required": True}, "new": {"type": "dict[str, Any]", "required": True}}, f"history line {number}")
        for key in ("old", "new"):
            if raw[key] is not None:
                check_fields(raw[key], FACTS["active_json_fields"], f"history line {number} {key}")
        parsed.append(raw)
    return parsed
