"""Model bundles: write, load and verify the files of one trained model.

A bundle is a folder with ``model.txt`` (LightGBM text format, never pickle),
``metadata.json``, ``metrics.json``, ``confusion_matrix.csv`` and
``categorical_encoders.json`` (see ``spec/registry.md``). This module does not care how
the model was trained; it only guarantees that what it writes can be read back and that
what it reads is complete and unaltered. LightGBM is imported lazily: listing and
verifying bundles never pays for it.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import importlib.metadata
import io
import json
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from taskclf_core import __version__
from taskclf_core.data.schema import LABELS, SCHEMA_HASHES, SCHEMA_VERSIONS
from taskclf_core.errors import BundleError
from taskclf_core.fs.atomic import dumps_json, write_bytes_atomic

if TYPE_CHECKING:
    import lightgbm

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


# --------------------------------------------------------------------------- shared types


def utc_now_iso() -> str:
    """The current time as an aware UTC ISO 8601 string (``2026-11-26T05:24:30.123456+00:00``)."""
    return datetime.now(UTC).isoformat()


def parse_utc(value: str) -> datetime:
    """Parse an aware ISO 8601 time and convert it to UTC.

    Args:
        value: ISO 8601 text with a UTC offset (``Z`` or ``+hh:mm``).

    Returns:
        The time as an aware ``datetime`` in UTC.

    Raises:
        ValueError: ``value`` is not ISO 8601 or has no offset.
    """
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"expected an ISO 8601 time like 2026-11-26T05:24:30+00:00; got {value!r}"
        ) from exc
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"expected an aware time with a UTC offset (e.g. +00:00); got {value!r}")
    return parsed.astimezone(UTC)


def _normalise_utc(value: str) -> str:
    return parse_utc(value).isoformat()


#: An aware ISO 8601 time, stored as text normalised to UTC (offsets converted).
UtcTimestamp = Annotated[str, AfterValidator(_normalise_utc)]


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming each invalid field and why: ``"created_at: expected ...; label_set: ..."``.

    Args:
        exc: The pydantic error.

    Returns:
        The fields and messages joined by ``"; "``.
    """
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {msg}")
    return "; ".join(parts)


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- records


class BundleMetadata(BaseModel):
    """``metadata.json``: where a model came from and what it expects."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: str
    schema_hash: str
    label_set: list[str]
    train_date_from: str
    train_date_to: str
    params: dict[str, Any]
    git_commit: str
    dataset_hash: str
    reject_threshold: float = Field(ge=0.0, le=1.0)
    data_provenance: Literal["real", "synthetic", "mixed"]
    created_at: UtcTimestamp
    #: SHA-256 of ``model.txt``; filled in by :func:`write_bundle_files`.
    model_sha256: str = ""
    library_versions: dict[str, str]
    feature_names: list[str]

    @field_validator("label_set")
    @classmethod
    def _sorted_unique_labels(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"labels must be unique; got {value}")
        return sorted(value)

    @field_validator("train_date_from", "train_date_to")
    @classmethod
    def _iso_date(cls, value: str) -> str:
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
    def _features_unique(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one feature is required")
        if len(set(value)) != len(value):
            raise ValueError("feature names must be unique")
        return value

    @model_validator(mode="after")
    def _date_order(self) -> BundleMetadata:
        if self.train_date_from > self.train_date_to:
            raise ValueError(
                f"train_date_from {self.train_date_from} is after train_date_to {self.train_date_to}"
            )
        return self


class BundleMetrics(BaseModel):
    """``metrics.json``: headline scores and the confusion matrix (rows true, columns predicted)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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


# --------------------------------------------------------------------------- writing


def _check_semantics(metadata: BundleMetadata) -> str | None:
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


def _check_encoders(encoders: object) -> str | None:
    if not isinstance(encoders, dict):
        return f"{ENCODERS_FILE} must map column -> vocabulary list; got {type(encoders).__name__}"
    for column, vocabulary in encoders.items():
        if not isinstance(vocabulary, list) or not all(isinstance(v, str) for v in vocabulary):
            return f"{ENCODERS_FILE}: the vocabulary of {column!r} must be a list of strings"
        if len(set(vocabulary)) != len(vocabulary):
            return f"{ENCODERS_FILE}: the vocabulary of {column!r} has duplicates"
    return None


def confusion_csv(metrics: BundleMetrics) -> str:
    """The confusion matrix as CSV: a header of label names, one row per true label.

    Args:
        metrics: The metrics holding the matrix and its label names.

    Returns:
        CSV text with ``\\n`` line ends; the first header cell is empty (the index column).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["", *metrics.label_names])
    for name, row in zip(metrics.label_names, metrics.confusion_matrix, strict=True):
        writer.writerow([name, *row])
    return buffer.getvalue()


def bundle_file_bytes(
    *,
    model_text: str,
    encoders: Mapping[str, list[str]],
    metadata: BundleMetadata,
    metrics: BundleMetrics,
) -> dict[str, bytes]:
    """The exact bytes of every bundle file, with ``model_sha256`` filled in.

    Used by :func:`write_bundle_files` and by the pipeline to hand the bundle to
    ``registry.write_run`` together with the run's other files.

    Args:
        model_text: LightGBM model in text format (``Booster.model_to_string()``).
        encoders: Categorical column -> vocabulary (sorted, unknown token included).
        metadata: Metadata; its ``model_sha256`` is replaced by the hash of ``model_text``.
        metrics: Headline metrics and confusion matrix.

    Returns:
        File name -> bytes for the five bundle files.

    Raises:
        BundleError: The metadata names an unknown schema or a label set other than the
            core one, or the encoders are malformed.
    """
    problem = _check_semantics(metadata) or _check_encoders(dict(encoders))
    if problem:
        raise BundleError(f"cannot write a bundle: {problem}")
    model_bytes = model_text.encode("utf-8")
    final = metadata.model_copy(update={"model_sha256": sha256_bytes(model_bytes)})
    return {
        MODEL_FILE: model_bytes,
        METADATA_FILE: dumps_json(final.model_dump(mode="json")).encode("utf-8"),
        METRICS_FILE: dumps_json(metrics.model_dump(mode="json")).encode("utf-8"),
        CONFUSION_FILE: confusion_csv(metrics).encode("utf-8"),
        ENCODERS_FILE: dumps_json({k: list(v) for k, v in encoders.items()}).encode("utf-8"),
    }


def write_bundle_files(
    folder: Path,
    *,
    model_text: str,
    encoders: Mapping[str, list[str]],
    metadata: BundleMetadata,
    metrics: BundleMetrics,
) -> None:
    """Write the five bundle files into an existing folder, each atomically.

    The caller normally passes the temporary folder of ``atomic.atomic_folder`` so that
    the bundle appears complete or not at all.

    Args:
        folder: An existing folder.
        model_text: LightGBM model in text format.
        encoders: Categorical column -> vocabulary.
        metadata: Metadata; ``model_sha256`` is filled in from ``model_text``.
        metrics: Headline metrics and confusion matrix.

    Raises:
        BundleError: ``folder`` does not exist or the content is invalid (see
            :func:`bundle_file_bytes`).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise BundleError(f"cannot write a bundle into {folder}: the folder does not exist")
    files = bundle_file_bytes(
        model_text=model_text, encoders=encoders, metadata=metadata, metrics=metrics
    )
    for name, data in files.items():
        write_bytes_atomic(folder / name, data)


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class LoadedBundle:
    """A bundle read from disk and checked (files present, parsed, hash matches)."""

    path: Path
    metadata: BundleMetadata
    metrics: BundleMetrics
    encoders: dict[str, list[str]]
    model_text: str
    #: How the bundle is named in messages, e.g. ``models/<run_id>``.
    label: str = field(default="", compare=False)

    @functools.cached_property
    def booster(self) -> lightgbm.Booster:
        """The LightGBM booster parsed from ``model_text`` (parsed once, then cached).

        Raises:
            BundleError: LightGBM cannot parse ``model.txt``.
        """
        return _parse_booster(self.model_text, self.label or str(self.path), self.metadata)


def _display(folder: Path) -> str:
    try:
        return folder.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(folder)


def _parse_booster(model_text: str, label: str, metadata: BundleMetadata) -> lightgbm.Booster:
    import lightgbm  # lazy: importing it costs seconds and only parsing needs it

    try:
        booster = lightgbm.Booster(model_str=model_text)
    except Exception as exc:  # LightGBMError, or anything its C parser surfaces
        raise BundleError(
            f"bundle {label}: {MODEL_FILE} is not a LightGBM model (LightGBM says: {exc})"
        ) from exc
    classes = booster.num_model_per_iteration()
    if classes != len(metadata.label_set):
        raise BundleError(
            f"bundle {label}: {MODEL_FILE} predicts {classes} classes but {METADATA_FILE} "
            f"has {len(metadata.label_set)} labels"
        )
    names = booster.feature_name()
    if names != metadata.feature_names:
        raise BundleError(
            f"bundle {label}: {MODEL_FILE} has {len(names)} features that differ from the "
            f"{len(metadata.feature_names)} feature_names in {METADATA_FILE} "
            f"(first model features: {names[:3]})"
        )
    return booster


def _read_json(folder: Path, name: str, label: str) -> Any:
    try:
        text = (folder / name).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise BundleError(f"bundle {label}: {name} is not UTF-8 text") from exc
    except OSError as exc:
        raise BundleError(f"bundle {label}: {name} cannot be read ({exc.strerror})") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BundleError(f"bundle {label}: {name} is not valid JSON ({exc})") from exc


def _parse_confusion_csv(text: str, metrics: BundleMetrics) -> str | None:
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or rows[0][1:] != metrics.label_names:
        return f"{CONFUSION_FILE} has a header other than the label_names of {METRICS_FILE}"
    body = rows[1:]
    if [r[0] for r in body if r] != metrics.label_names:
        return f"{CONFUSION_FILE} has row labels other than the label_names of {METRICS_FILE}"
    try:
        matrix = [[int(v) for v in r[1:]] for r in body if r]
    except ValueError:
        return f"{CONFUSION_FILE} has a count that is not a whole number"
    if matrix != metrics.confusion_matrix:
        return f"{CONFUSION_FILE} does not match the confusion_matrix in {METRICS_FILE}"
    return None


def load_bundle(
    folder: Path, *, parse_model: bool = True, label: str | None = None
) -> LoadedBundle:
    """Read a bundle and check it; each failure is its own :class:`BundleError`.

    Checks, in order: every file exists; ``metadata.json`` parses and validates; the
    schema version is known and its hash matches; the label set is the core set;
    ``metrics.json``, ``categorical_encoders.json`` and ``confusion_matrix.csv`` parse
    and agree; ``model.txt`` matches ``model_sha256``; and, when ``parse_model``, LightGBM
    parses ``model.txt`` with the expected classes and features.

    Args:
        folder: The bundle folder.
        parse_model: Also parse ``model.txt`` with LightGBM (slow: imports LightGBM).
        label: How to name the bundle in messages (default: the folder relative to the
            current directory), e.g. ``models/<run_id>``.

    Returns:
        The loaded bundle; with ``parse_model`` its ``booster`` is already parsed.

    Raises:
        BundleError: A file is missing, unreadable, invalid, inconsistent or altered;
            the message names the bundle and the file.
    """
    folder = Path(folder)
    name = label or _display(folder)
    if not folder.is_dir():
        raise BundleError(f"bundle {name}: the folder does not exist")
    for file_name in BUNDLE_FILES:
        if not (folder / file_name).is_file():
            raise BundleError(f"bundle {name}: {file_name} is missing (incomplete bundle)")

    raw_metadata = _read_json(folder, METADATA_FILE, name)
    try:
        metadata = BundleMetadata.model_validate(raw_metadata)
    except ValidationError as exc:
        raise BundleError(
            f"bundle {name}: {METADATA_FILE} is invalid: {describe_validation_error(exc)}"
        ) from exc
    problem = _check_semantics(metadata)
    if problem:
        raise BundleError(f"bundle {name}: {problem}")
    if not metadata.model_sha256:
        raise BundleError(f"bundle {name}: {METADATA_FILE} has no model_sha256")

    try:
        metrics = BundleMetrics.model_validate(_read_json(folder, METRICS_FILE, name))
    except ValidationError as exc:
        raise BundleError(
            f"bundle {name}: {METRICS_FILE} is invalid: {describe_validation_error(exc)}"
        ) from exc
    encoders = _read_json(folder, ENCODERS_FILE, name)
    problem = _check_encoders(encoders)
    if problem:
        raise BundleError(f"bundle {name}: {problem}")
    try:
        csv_text = (folder / CONFUSION_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleError(f"bundle {name}: {CONFUSION_FILE} cannot be read ({exc})") from exc
    problem = _parse_confusion_csv(csv_text, metrics)
    if problem:
        raise BundleError(f"bundle {name}: {problem}")

    try:
        model_bytes = (folder / MODEL_FILE).read_bytes()
    except OSError as exc:
        raise BundleError(f"bundle {name}: {MODEL_FILE} cannot be read ({exc.strerror})") from exc
    if sha256_bytes(model_bytes) != metadata.model_sha256:
        raise BundleError(
            f"bundle {name}: {MODEL_FILE} does not match model_sha256 in {METADATA_FILE} "
            "(file altered after the run?)"
        )
    try:
        model_text = model_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BundleError(f"bundle {name}: {MODEL_FILE} is not UTF-8 text") from exc

    bundle = LoadedBundle(
        path=folder,
        metadata=metadata,
        metrics=metrics,
        encoders=encoders,
        model_text=model_text,
        label=name,
    )
    if parse_model:
        _ = bundle.booster
    return bundle


def verify_bundle(
    folder: Path, *, parse_model: bool = False, label: str | None = None
) -> str | None:
    """Why a bundle is broken, or None when it is fine.

    Args:
        folder: The bundle folder.
        parse_model: Also parse ``model.txt`` with LightGBM (slow; off by default: the
            hash check already proves the file is the one that was written).
        label: How to name the bundle in the reason.

    Returns:
        None when every check of :func:`load_bundle` passes, else its message.
    """
    try:
        load_bundle(folder, parse_model=parse_model, label=label)
    except BundleError as exc:
        return str(exc)
    return None


def bundle_created_at(folder: Path) -> datetime | None:
    """``created_at`` of a bundle read leniently (for cadence): None if missing or unreadable.

    Naive timestamps are read as UTC and offsets are converted, so bundles written by
    other tools still count.

    Args:
        folder: The bundle folder.

    Returns:
        The aware UTC time, or None.
    """
    try:
        raw = json.loads((Path(folder) / METADATA_FILE).read_text(encoding="utf-8"))
        value = raw["created_at"]
        parsed = datetime.fromisoformat(value)
    except (OSError, ValueError, TypeError, KeyError, UnicodeDecodeError):
        return None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
