"""taskclf's serving steps, written from the facts in ``fixtures/upstream-registry/README.md``.

Independent of our code on purpose: it reads only the fixture's facts file, so a test can
check that what we promote is served by taskclf as we evaluated it. Steps: ``active.json``
(required fields) → ``models_dir.parent / model_dir`` → ``metadata.json`` and
``metrics.json`` (taskclf's required fields and types, schema hash, label set) →
``categorical_encoders.json`` (a LabelEncoder refitted on each list) → feature columns of
the schema → categoricals coded (unseen/null → ``__unknown__``, else -1) → fillna(0) →
float64 → ``Booster.predict``.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import pandas as pd

FACTS = json.loads(
    (Path(__file__).parent / "fixtures" / "upstream-registry" / "upstream_facts.json").read_text()
)
UNKNOWN = FACTS["unknown_token"]
_TYPES: dict[str, Any] = {
    "str": str, "int": int, "float": (int, float), "list[str]": list, "dict[str, Any]": dict,
    "list[list[int]]": list,
}


class NotServable(AssertionError):
    """taskclf would refuse this registry or bundle (or auto-repair the pointer)."""


def _check_fields(record: dict[str, Any], fields: dict[str, Any], what: str) -> None:
    for name, spec in fields.items():
        if name not in record:
            if spec["required"]:
                raise NotServable(f"{what}: required field {name!r} missing")
            continue
        value, kind = record[name], spec["type"]
        if kind in _TYPES:
            if value is None or not isinstance(value, _TYPES[kind]) or isinstance(value, bool):
                raise NotServable(f"{what}: {name}={value!r} is not {kind}")
        elif "None" in kind and value is None:
            continue
        elif kind.startswith("Literal"):
            if value not in ("real", "synthetic", "mixed"):
                raise NotServable(f"{what}: {name}={value!r} not allowed")
        elif kind == "float | None" and not isinstance(value, (int, float)):
            raise NotServable(f"{what}: {name}={value!r} is not a float")
        elif kind == "int | None" and not isinstance(value, int):
            raise NotServable(f"{what}: {name}={value!r} is not an int")


def resolve_active_bundle(models_dir: Path) -> Path:
    """The bundle folder taskclf serves from ``models_dir/active.json``, with no repair."""
    pointer = json.loads((models_dir / "active.json").read_text())
    _check_fields(pointer, FACTS["active_json_fields"], "active.json")
    if not isinstance(pointer["policy_version"], int):
        int(pointer["policy_version"])  # lax mode accepts "1"
    bundle = models_dir.parent / pointer["model_dir"]
    if not bundle.is_dir():
        raise NotServable(f"active.json model_dir {pointer['model_dir']!r} does not resolve to {bundle}")
    check_bundle(bundle)
    return bundle


def check_bundle(bundle: Path) -> dict[str, Any]:
    """taskclf's ``_parse_bundle`` + ``load_model_bundle`` checks; returns the metadata."""
    metadata = json.loads((bundle / "metadata.json").read_text())
    _check_fields(metadata, FACTS["metadata_json_fields"], f"{bundle.name}/metadata.json")
    version = metadata["schema_version"]
    if version not in FACTS["schemas"] or metadata["schema_hash"] != FACTS["schemas"][version]["schema_hash"]:
        raise NotServable(f"schema {version}/{metadata['schema_hash']} unknown to taskclf")
    if sorted(metadata["label_set"]) != sorted(FACTS["label_order"]):
        raise NotServable(f"label_set {metadata['label_set']}")
    datetime.fromisoformat(metadata.get("created_at", "2000-01-01T00:00:00+00:00"))
    metrics = json.loads((bundle / "metrics.json").read_text())
    _check_fields(metrics, FACTS["metrics_json_fields_required_by_registry"], f"{bundle.name}/metrics.json")
    if not all(isinstance(v, int) for row in metrics["confusion_matrix"] for v in row):
        raise NotServable("confusion_matrix holds non-integers")
    return metadata


def _codes(values: pd.Series, vocabulary: list[str]) -> np.ndarray:
    classes = np.unique(np.asarray(vocabulary, dtype=object).astype(str))  # LabelEncoder refit
    index = {c: i for i, c in enumerate(classes)}
    fallback = index.get(UNKNOWN, -1)
    return np.array(
        [index.get(v, fallback) if isinstance(v, str) else fallback for v in values.astype(object)],
        dtype=np.int64,
    )


def serve(bundle: Path, frame: pd.DataFrame) -> np.ndarray:
    """Probabilities as taskclf's ``predict_proba`` computes them for ``frame``."""
    metadata = check_bundle(bundle)
    version = metadata["schema_version"]
    columns = FACTS["schemas"][version]["model_feature_columns"]
    encoders = json.loads((bundle / "categorical_encoders.json").read_text())
    selected = frame[columns].copy()
    for column in FACTS["schemas"][version]["categorical_columns"]:
        selected[column] = _codes(selected[column], encoders[column])
    numbers = selected.astype("float64").fillna(0).to_numpy(dtype=np.float64)
    booster = lightgbm.Booster(model_file=str(bundle / "model.txt"))
    return np.asarray(booster.predict(numbers), dtype=np.float64)


def categorical_feature_indices(bundle: Path) -> list[int]:
    """The ``categorical_feature`` parameter recorded in ``model.txt``."""
    for line in (bundle / "model.txt").read_text().splitlines():
        if line.startswith("[categorical_feature: "):
            inner = line.removeprefix("[categorical_feature: ").removesuffix("]").strip()
            return [int(v) for v in inner.split(",") if v]
    return []
