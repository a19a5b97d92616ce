"""Model bundles: load and verify the files of one trained model (and the bundle API).

A bundle is a folder with ``model.txt`` (LightGBM text format, never pickle),
``metadata.json``, ``metrics.json``, ``confusion_matrix.csv`` and
``categorical_encoders.json`` (see ``spec/registry.md``). The records are in
``registry.metadata``, writing in ``registry.bundle_write``; this module loads and
re-exports both, so one import serves callers. It does not care how the model was trained; it only guarantees that what it writes can be read back and that
what it reads is complete and unaltered. LightGBM is imported lazily: listing and
verifying bundles never pays for it.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from taskclf_core.errors import BundleError, describe_validation_error
from taskclf_core.fs.jsonfile import MAX_JSON_BYTES, loads_json
from taskclf_core.registry.bundle_write import bundle_file_bytes, confusion_csv, write_bundle_files
from taskclf_core.registry.metadata import (
    BUNDLE_FILES,
    CONFUSION_FILE,
    ENCODERS_FILE,
    METADATA_FILE,
    METRICS_FILE,
    MODEL_FILE,
    ORIGIN_CONSOLE,
    ORIGIN_TASKCLF,
    BundleMetadata,
    BundleMetrics,
    check_encoders,
    check_semantics,
    git_commit,
    library_versions,
)
from taskclf_core.registry.stamps import (
    UtcTimestamp,
    parse_utc,
    sha256_bytes,
    sha256_file,
    utc_now_iso,
)

if TYPE_CHECKING:
    import lightgbm

#: The bundle API in one import: loading lives here, records and writing in their modules.
__all__ = [
    "BUNDLE_FILES",
    "CONFUSION_FILE",
    "ENCODERS_FILE",
    "METADATA_FILE",
    "METRICS_FILE",
    "INTEGRITY_MANIFEST",
    "INTEGRITY_MODEL_HASH",
    "INTEGRITY_UNVERIFIABLE",
    "MODEL_FILE",
    "ORIGIN_CONSOLE",
    "ORIGIN_TASKCLF",
    "BundleMetadata",
    "BundleMetrics",
    "LoadedBundle",
    "UtcTimestamp",
    "bundle_file_bytes",
    "confusion_csv",
    "git_commit",
    "library_versions",
    "load_bundle",
    "parse_utc",
    "sha256_bytes",
    "sha256_file",
    "utc_now_iso",
    "verify_bundle",
    "write_bundle_files",
]


# --------------------------------------------------------------------------- loading


#: ``LoadedBundle.integrity``: how much of the bundle could be checked against a record.
INTEGRITY_MANIFEST = "verified: every file matches the run's manifest"
INTEGRITY_MODEL_HASH = "model.txt matches model_sha256 (no run manifest to check the other files)"
INTEGRITY_UNVERIFIABLE = "no recorded hash: integrity not verifiable"


@dataclass(frozen=True)
class LoadedBundle:
    """A bundle read from disk and checked (files present, parsed, hashes match)."""

    path: Path
    metadata: BundleMetadata
    metrics: BundleMetrics
    encoders: dict[str, list[str]]
    model_text: str
    #: How the bundle is named in messages, e.g. ``models/<run_id>``.
    label: str = field(default="", compare=False)
    #: One of the ``INTEGRITY_*`` sentences: what the load could verify.
    integrity: str = field(default=INTEGRITY_UNVERIFIABLE, compare=False)

    @property
    def origin(self) -> str:
        """Who trained the model (``"trained by taskclf"`` or this console)."""
        return self.metadata.origin

    @property
    def model_sha256(self) -> str:
        """The model's SHA-256: the one its metadata records, else (taskclf's bundles record
        none) the hash of ``model.txt`` as read. The one answer to "which model is this"."""
        return self.metadata.model_sha256 or sha256_bytes(self.model_text.encode("utf-8"))

    @property
    def verifiable(self) -> bool:
        """Whether a recorded hash vouches for the model (False for taskclf's bundles)."""
        return self.integrity != INTEGRITY_UNVERIFIABLE

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
    if metadata.feature_names is not None and names != metadata.feature_names:
        raise BundleError(
            f"bundle {label}: {MODEL_FILE} has {len(names)} features that differ from the "
            f"{len(metadata.feature_names)} feature_names in {METADATA_FILE} "
            f"(first model features: {names[:3]})"
        )
    return booster


def _read_bytes(folder: Path, name: str, label: str) -> bytes:
    path = folder / name
    try:
        if path.is_symlink():
            raise BundleError(f"bundle {label}: {name} is a symbolic link; refused")
        with open(path, "rb") as fh:
            return fh.read(MAX_JSON_BYTES * 8 + 1)
    except OSError as exc:
        raise BundleError(f"bundle {label}: {name} cannot be read ({exc.strerror})") from exc


def _parse_json(data: bytes, name: str, label: str) -> Any:
    try:
        return loads_json(data)
    except ValueError as exc:
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


def _check_manifest(
    files: Mapping[str, bytes], manifest: Mapping[str, str], label: str, manifest_label: str
) -> None:
    for file_name in BUNDLE_FILES:
        expected = manifest.get(file_name)
        if expected is None:
            raise BundleError(
                f"bundle {label}: {manifest_label} lists no {file_name}; the bundle cannot be "
                "checked against its run"
            )
        if sha256_bytes(files[file_name]) != expected:
            raise BundleError(
                f"bundle {label}: {file_name} does not match its SHA-256 in {manifest_label} "
                "(file altered after the run?)"
            )


def load_bundle(
    folder: Path,
    *,
    parse_model: bool = True,
    label: str | None = None,
    manifest: Mapping[str, str] | None = None,
    manifest_label: str = "the run's manifest",
) -> LoadedBundle:
    """Read a bundle and check it; each failure is its own :class:`BundleError`.

    Checks, in order: the folder and its files are real (no symbolic links) and exist;
    with ``manifest``, every file matches its SHA-256 there; ``metadata.json`` parses and
    validates; the schema version is known and its hash matches; the label set is the
    core set; ``metrics.json``, ``categorical_encoders.json`` and ``confusion_matrix.csv``
    parse and agree; ``model.txt`` matches ``model_sha256``; and, when ``parse_model``,
    LightGBM parses ``model.txt`` with the expected classes and features.

    A bundle taskclf wrote has no ``model_sha256`` (and no run): it loads, with
    ``integrity`` saying it cannot be verified. A bundle of ours without it is broken.

    Args:
        folder: The bundle folder.
        parse_model: Also parse ``model.txt`` with LightGBM (slow: imports LightGBM).
        label: How to name the bundle in messages (default: the folder relative to the
            current directory), e.g. ``models/<run_id>``.
        manifest: File name -> SHA-256 of the run that produced the bundle (its
            ``decision.json`` manifest), when there is one.
        manifest_label: How to name the manifest in messages.

    Returns:
        The loaded bundle; with ``parse_model`` its ``booster`` is already parsed.

    Raises:
        BundleError: A file is missing, unreadable, invalid, inconsistent or altered;
            the message names the bundle and the file.
    """
    folder = Path(folder)
    name = label or _display(folder)
    if folder.is_symlink():
        raise BundleError(f"bundle {name}: the folder is a symbolic link; refused")
    if not folder.is_dir():
        raise BundleError(f"bundle {name}: the folder does not exist")
    for file_name in BUNDLE_FILES:
        if not (folder / file_name).is_file():
            raise BundleError(f"bundle {name}: {file_name} is missing (incomplete bundle)")
    files = {file_name: _read_bytes(folder, file_name, name) for file_name in BUNDLE_FILES}
    if manifest is not None:
        _check_manifest(files, manifest, name, manifest_label)

    raw_metadata = _parse_json(files[METADATA_FILE], METADATA_FILE, name)
    try:
        metadata = BundleMetadata.model_validate(raw_metadata)
    except ValidationError as exc:
        raise BundleError(
            f"bundle {name}: {METADATA_FILE} is invalid: "
            f"{describe_validation_error(exc, model=BundleMetadata)}"
        ) from exc
    problem = check_semantics(metadata)
    if problem:
        raise BundleError(f"bundle {name}: {problem}")
    if not metadata.model_sha256 and metadata.origin == ORIGIN_CONSOLE:
        raise BundleError(f"bundle {name}: {METADATA_FILE} has no model_sha256")

    try:
        metrics = BundleMetrics.model_validate(_parse_json(files[METRICS_FILE], METRICS_FILE, name))
    except ValidationError as exc:
        raise BundleError(
            f"bundle {name}: {METRICS_FILE} is invalid: "
            f"{describe_validation_error(exc, model=BundleMetrics)}"
        ) from exc
    encoders = _parse_json(files[ENCODERS_FILE], ENCODERS_FILE, name)
    problem = check_encoders(encoders)
    if problem:
        raise BundleError(f"bundle {name}: {problem}")
    try:
        csv_text = files[CONFUSION_FILE].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BundleError(f"bundle {name}: {CONFUSION_FILE} is not UTF-8 text") from exc
    problem = _parse_confusion_csv(csv_text, metrics)
    if problem:
        raise BundleError(f"bundle {name}: {problem}")

    model_bytes = files[MODEL_FILE]
    if metadata.model_sha256 and sha256_bytes(model_bytes) != metadata.model_sha256:
        raise BundleError(
            f"bundle {name}: {MODEL_FILE} does not match model_sha256 in {METADATA_FILE} "
            "(file altered after the run?)"
        )
    try:
        model_text = model_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BundleError(f"bundle {name}: {MODEL_FILE} is not UTF-8 text") from exc

    if manifest is not None:
        integrity = INTEGRITY_MANIFEST
    elif metadata.model_sha256:
        integrity = INTEGRITY_MODEL_HASH
    else:
        integrity = INTEGRITY_UNVERIFIABLE
    if not metadata.model_sha256:
        # A taskclf bundle records no hash: identify its model by the bytes just read, so a
        # run can record the champion it was compared against (``integrity`` still says
        # that nothing vouched for those bytes).
        metadata = metadata.model_copy(update={"model_sha256": sha256_bytes(model_bytes)})
    bundle = LoadedBundle(
        path=folder,
        metadata=metadata,
        metrics=metrics,
        encoders=encoders,
        model_text=model_text,
        label=name,
        integrity=integrity,
    )
    if parse_model:
        _ = bundle.booster
    return bundle


def verify_bundle(
    folder: Path,
    *,
    parse_model: bool = False,
    label: str | None = None,
    manifest: Mapping[str, str] | None = None,
) -> str | None:
    """Why a bundle is broken, or None when it is fine.

    Args:
        folder: The bundle folder.
        parse_model: Also parse ``model.txt`` with LightGBM (slow; off by default: the
            hash check already proves the file is the one that was written).
        label: How to name the bundle in the reason.
        manifest: The run's manifest to check every file against (see :func:`load_bundle`).

    Returns:
        None when every check of :func:`load_bundle` passes, else its message.
    """
    try:
        load_bundle(folder, parse_model=parse_model, label=label, manifest=manifest)
    except BundleError as exc:
        return str(exc)
    return None
