"""Writing a bundle: the exact bytes of its five files, written atomically."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from pathlib import Path

from taskclf_core.errors import BundleError
from taskclf_core.fs.atomic import dumps_json, write_bytes_atomic
from taskclf_core.registry.metadata import (
    CONFUSION_FILE,
    ENCODERS_FILE,
    METADATA_FILE,
    METRICS_FILE,
    MODEL_FILE,
    BundleMetadata,
    BundleMetrics,
    check_encoders,
    check_semantics,
)
from taskclf_core.registry.stamps import sha256_bytes


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
    problem = check_semantics(metadata) or check_encoders(dict(encoders))
    if problem:
        raise BundleError(f"cannot write a bundle: {problem}")
    model_bytes = model_text.encode("utf-8")
    final = metadata.model_copy(update={"model_sha256": sha256_bytes(model_bytes)})
    return {
        MODEL_FILE: model_bytes,
        METADATA_FILE: dumps_json(final.model_dump(mode="json")).encode("utf-8"),
        METRICS_FILE: dumps_json(metrics.model_dump(mode="json")).encode("utf-8"),
        CONFUSION_FILE: confusion_csv(metrics).encode("utf-8"),
        # Keys in the schema's categorical order, as taskclf writes them (not sorted).
        ENCODERS_FILE: (
            json.dumps({k: list(v) for k, v in encoders.items()}, indent=2, ensure_ascii=False) + "\n"
        ).encode("utf-8"),
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
