"""Promoted bundles under ``models/``, checked against the manifest of the run that made them.

``model_sha256`` covers ``model.txt`` only; the run's ``decision.json`` records the SHA-256
of every file, so a bundle of ours is checked file by file wherever it is loaded or
listed. A bundle taskclf wrote has no run: it loads with "no recorded hash". Folders
that are symbolic links (to anywhere) are refused.
"""

from __future__ import annotations

import re
from pathlib import Path

from taskclf_core.errors import BundleError
from taskclf_core.fs.jsonfile import read_json
from taskclf_core.paths import Home
from taskclf_core.registry.bundle import LoadedBundle, load_bundle
from taskclf_core.registry.runids import RUN_ID_PATTERN, validate_model_id
from taskclf_core.registry.snapshot import remembered

RUN_DECISION_FILE = "decision.json"
_SHA256 = re.compile(r"\A[0-9a-f]{64}\Z")


def run_folder(home: Home, run_id: str) -> Path:
    """``artifacts/runs/<run_id>`` (not checked for existence)."""
    return home.runs_dir / run_id


def run_manifest(home: Home, model_id: str) -> tuple[dict[str, str] | None, str]:
    """The manifest of the run that produced ``models/<model_id>``, if there is such a run.

    Args:
        home: The registry home.
        model_id: A validated model id.

    Returns:
        ``(manifest, label)``: the file -> SHA-256 map and how to name it in messages;
        ``(None, ...)`` when the model has no run (taskclf's bundles, or a run deleted).

    Raises:
        BundleError: The run folder is a symbolic link, or its ``decision.json`` exists but
            cannot be read or has no valid manifest (the bundle then cannot be vouched for).
    """
    label = f"artifacts/runs/{model_id}/{RUN_DECISION_FILE}"
    if not RUN_ID_PATTERN.match(model_id):
        return None, label
    folder = run_folder(home, model_id)
    if folder.is_symlink():
        raise BundleError(f"run folder artifacts/runs/{model_id} is a symbolic link; refused")
    path = folder / RUN_DECISION_FILE
    if not folder.is_dir() or not (path.exists() or path.is_symlink()):
        return None, label
    try:
        if path.is_symlink():
            raise ValueError("it is a symbolic link")
        raw = read_json(path)
    except (OSError, ValueError) as exc:
        raise BundleError(
            f"bundle models/{model_id}: its run's {label} cannot be read ({exc}); the bundle "
            "cannot be checked against it"
        ) from exc
    manifest = raw.get("manifest") if isinstance(raw, dict) else None
    if not isinstance(manifest, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and _SHA256.match(v) for k, v in manifest.items()
    ):
        raise BundleError(
            f"bundle models/{model_id}: {label} has no valid manifest; the bundle cannot be "
            "checked against its run"
        )
    return dict(manifest), f"the manifest of {label}"


def load_installed(home: Home, model_id: str, *, parse_model: bool = True) -> LoadedBundle:
    """Load ``models/<model_id>`` and check every file against its run's manifest.

    Args:
        home: The registry home.
        model_id: A model id (ours or taskclf's; validated before it touches a path).
        parse_model: Also parse ``model.txt`` with LightGBM.

    Returns:
        The bundle; ``integrity`` says what could be verified.

    Raises:
        RunIdError: ``model_id`` is malformed.
        BundleError: The bundle (or its run record) is missing, a symbolic link, broken,
            or differs from the run's manifest.
    """
    model_id = validate_model_id(model_id)
    label = f"{home.models_dir.name}/{model_id}"

    def load() -> LoadedBundle:
        manifest, manifest_label = run_manifest(home, model_id)
        return load_bundle(
            home.models_dir / model_id,
            parse_model=parse_model,
            label=label,
            manifest=manifest,
            manifest_label=manifest_label,
        )

    # Once per render inside registry.snapshot.one_read (the same bundle is asked for often).
    return remembered(("installed", str(home.models_dir), str(home.runs_dir), model_id, parse_model), load)


def verify_installed(home: Home, model_id: str) -> str | None:
    """Why ``models/<model_id>`` cannot be used, or None (see :func:`load_installed`)."""
    try:
        load_installed(home, model_id, parse_model=False)
    except BundleError as exc:
        return str(exc)
    return None
