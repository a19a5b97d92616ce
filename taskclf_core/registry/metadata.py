"""The records of a bundle: ``metadata.json`` and ``metrics.json``, and their semantic checks.

Also the environment a model is stamped with (library versions, git commit). The file
names of a bundle are defined here, since every other bundle module needs them.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
import subprocess
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from taskclf_core import __version__
from taskclf_core.data.schema import LABELS, SCHEMA_HASHES, SCHEMA_VERSIONS
from taskclf_core.registry.stamps import UtcTimestamp

MODEL_FILE = "model.txt"
METADATA_FILE = "metadata.json"
METRICS_FILE = "metrics.json"
CONFUSION_FILE = "confusion_matrix.csv"
ENCODERS_FILE = "categorical_encoders.json"
#: Every file of a bundle, in the order they are checked.
BUNDLE_FILES: tuple[str, ...] = (
    MODEL_FILE,
    METADATA_FILE,
    METRICS_FILE,
    CONFUSION_FILE,
    ENCODERS_FILE,
)

_SHA256_RE = re.compile(r"\A[0-9a-f]{64}\Z")
_DATE_RE = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
#: Distribution names recorded in ``library_versions`` (this package is added as ``taskclf_core``).
_LIBRARIES: tuple[str, ...] = ("lightgbm", "pandas", "numpy", "scikit-learn")


# --------------------------------------------------------------------------- records


#: ``BundleMetadata.origin`` of a bundle this console wrote, and of one taskclf wrote.
ORIGIN_CONSOLE = "trained by the retrain console"
ORIGIN_TASKCLF = "trained by taskclf"


class BundleMetadata(BaseModel):
    """``metadata.json``: where a model came from and what it expects.

    A superset of taskclf's ``ModelMetadata`` (every field its loader requires, with its
    types) so that taskclf serves our bundles; our own fields (``model_sha256``,
    ``library_versions``, ``feature_names``) are optional so that we read taskclf's.
    Unknown keys are kept, as taskclf ignores them.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    schema_version: str
    schema_hash: str
    label_set: list[str]
    #: Library versions; ours always has ``taskclf_core``; absent in taskclf's bundles.
    #: (Declared before the dates: their check depends on who wrote the bundle.)
    library_versions: dict[str, str] = Field(default_factory=dict)
    train_date_from: str
    train_date_to: str
    params: dict[str, Any]
    git_commit: str
    dataset_hash: str
    #: Deprecated in taskclf (ignored by its inference); null in taskclf's bundles.
    reject_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    data_provenance: Literal["real", "synthetic", "mixed"] = "real"
    created_at: UtcTimestamp
    unknown_category_freq_threshold: int | None = None
    unknown_category_mask_rate: float | None = None
    #: SHA-256 of ``model.txt``; filled in by ``bundle_write``; absent in taskclf's bundles.
    model_sha256: str = ""
    #: The model's feature names in order; absent in taskclf's bundles (see ``model.txt``).
    feature_names: list[str] | None = None

    @property
    def origin(self) -> str:
        """Who trained the model: :data:`ORIGIN_CONSOLE` or :data:`ORIGIN_TASKCLF`."""
        return ORIGIN_CONSOLE if "taskclf_core" in self.library_versions else ORIGIN_TASKCLF

    @field_validator("label_set")
    @classmethod
    def _sorted_unique_labels(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"labels must be unique; got {value}")
        return sorted(value)

    @field_validator("train_date_from", "train_date_to")
    @classmethod
    def _iso_date(cls, value: str, info: ValidationInfo) -> str:
        # taskclf does not parse these ("whenever" loads); ours are real calendar dates.
        if "taskclf_core" not in (info.data.get("library_versions") or {}):
            return value
        if not _DATE_RE.match(value):
            raise ValueError(f"expected a date YYYY-MM-DD; got {value!r}")
        try:
            date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"expected a real calendar date YYYY-MM-DD; got {value!r}") from exc
        return value

    @field_validator("model_sha256")
    @classmethod
    def _sha_or_empty(cls, value: str) -> str:
        if value and not _SHA256_RE.match(value):
            raise ValueError(f"expected 64 lowercase hex digits; got {value!r}")
        return value

    @field_validator("feature_names")
    @classmethod
    def _features_unique(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("at least one feature is required")
        if len(set(value)) != len(value):
            raise ValueError("feature names must be unique")
        return value

    @model_validator(mode="after")
    def _date_order(self) -> BundleMetadata:
        if self.origin == ORIGIN_CONSOLE and self.train_date_from > self.train_date_to:
            raise ValueError(
                f"train_date_from {self.train_date_from} is after train_date_to {self.train_date_to}"
            )
        return self


class BundleMetrics(BaseModel):
    """``metrics.json``: headline scores and the confusion matrix (rows true, columns predicted).

    Exactly what taskclf's registry requires; unknown keys are kept.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    macro_f1: float = Field(ge=0.0, le=1.0)
    weighted_f1: float = Field(ge=0.0, le=1.0)
    confusion_matrix: list[list[int]]
    label_names: list[str]

    @model_validator(mode="after")
    def _square_matrix(self) -> BundleMetrics:
        n = len(self.label_names)
        if len(set(self.label_names)) != n:
            raise ValueError("label_names must be unique")
        if len(self.confusion_matrix) != n or any(len(row) != n for row in self.confusion_matrix):
            raise ValueError(
                f"confusion_matrix must be {n}x{n} (one row and one column per label name)"
            )
        if any(v < 0 for row in self.confusion_matrix for v in row):
            raise ValueError("confusion_matrix counts must be >= 0")
        return self


# --------------------------------------------------------------------------- environment


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape a model, for ``metadata.json``.

    Returns:
        ``{"lightgbm": ..., "pandas": ..., "numpy": ..., "scikit-learn": ...,
        "taskclf_core": ...}``; a library that is not installed reads ``"not installed"``.
    """
    versions: dict[str, str] = {}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    versions["taskclf_core"] = __version__
    return versions


@functools.cache
def git_commit() -> str:
    """The git commit of this package's checkout, or ``"unknown"``; never fails.

    Returns:
        The 40-digit commit of ``HEAD`` in the repository holding this package, or
        ``"unknown"`` when git is missing, the package is not in a repository, or the
        repository has no commit yet.
    """
    package_dir = Path(__file__).resolve().parent
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=package_dir,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return "unknown"
    commit = done.stdout.strip()
    if done.returncode != 0 or not re.fullmatch(r"[0-9a-f]{40}([0-9a-f]{24})?", commit):
        return "unknown"
    return commit


def check_semantics(metadata: BundleMetadata) -> str | None:
    """What is wrong with otherwise well-formed metadata, in words; None when fine."""
    if metadata.schema_version not in SCHEMA_VERSIONS:
        return (
            f"{METADATA_FILE} has schema_version {metadata.schema_version!r}; "
            f"known versions are {', '.join(SCHEMA_VERSIONS)}"
        )
    expected_hash = SCHEMA_HASHES[metadata.schema_version]
    if metadata.schema_hash != expected_hash:
        return (
            f"{METADATA_FILE} has schema_hash {metadata.schema_hash!r} but schema "
            f"{metadata.schema_version} has hash {expected_hash!r}"
        )
    if metadata.label_set != list(LABELS):
        missing = sorted(set(LABELS) - set(metadata.label_set))
        extra = sorted(set(metadata.label_set) - set(LABELS))
        return (
            f"{METADATA_FILE} has label_set {metadata.label_set} but the core label set is "
            f"{list(LABELS)} (missing: {missing or 'none'}; unexpected: {extra or 'none'})"
        )
    return None


def check_encoders(encoders: object) -> str | None:
    if not isinstance(encoders, dict):
        return f"{ENCODERS_FILE} must map column -> vocabulary list; got {type(encoders).__name__}"
    for column, vocabulary in encoders.items():
        if not isinstance(vocabulary, list) or not all(isinstance(v, str) for v in vocabulary):
            return f"{ENCODERS_FILE}: the vocabulary of {column!r} must be a list of strings"
        if len(set(vocabulary)) != len(vocabulary):
            return f"{ENCODERS_FILE}: the vocabulary of {column!r} has duplicates"
    return None
