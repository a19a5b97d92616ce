"""Run folders ``artifacts/runs/<run_id>/``: write, read, verify, list, clean up.

Every run that trained a challenger is saved whatever its outcome: the bundle files,
the evidence (``evaluation.json``, ``gates.json``, ``snapshot.json``, ``config.yaml``) and
``decision.json``, whose ``manifest`` holds the SHA-256 of every other file. A run folder
is written once, atomically (temporary folder, then rename), and never modified.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from taskclf_core.errors import RegistryError, RunIdError, describe_validation_error
from taskclf_core.fs.atomic import atomic_folder, dumps_json
from taskclf_core.fs.faultpoints import faultpoint
from taskclf_core.fs.jsonfile import read_json
from taskclf_core.paths import Home
from taskclf_core.registry.bundle import LoadedBundle, load_bundle, verify_bundle
from taskclf_core.registry.history import inspect_history
from taskclf_core.registry.metadata import BUNDLE_FILES
from taskclf_core.registry.pointer import inspect_active, registry_change_in_progress
from taskclf_core.registry.requested import RunRequested
from taskclf_core.registry.runids import (
    MODEL_ID_REGEX,
    RUN_ID_PATTERN,
    is_model_id,
    model_id_sort_key,
    validate_run_id,
)
from taskclf_core.registry.snapshot import remembered
from taskclf_core.registry.stamps import UtcTimestamp, sha256_bytes, sha256_file

DECISION_FILE = "decision.json"
Outcome = Literal["dry_run", "rejected", "awaiting_signoff", "promoted"]

#: pydantic patterns (Rust regex: ``$`` is the true end of the text).
_RUN_ID = r"^[0-9]{8}T[0-9]{12}Z-[0-9a-f]{6}$"
_SHA256 = r"^[0-9a-f]{64}$"
#: A run file name: plain, no separators, no leading dot (temporary files start with one).
_FILE_NAME = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")


class ChampionRef(BaseModel):
    """The champion a run was compared against (``run_id``: its model id, ours or taskclf's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str = Field(pattern=MODEL_ID_REGEX)
    model_sha256: str = Field(pattern=_SHA256)


#: The evidence a calibrator refit run must hold (it has no bundle: the model is the champion's).
CALIBRATION_RUN_FILES = ("evaluation.json", "gates.json", "snapshot.json", "config.yaml", "deployment.json")


class DeploymentRef(BaseModel):
    """The deployment a run read: ``inference_policy.json``'s SHA-256 (None: there was no file)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    policy_sha256: str | None = Field(default=None, pattern=_SHA256)


class RunDecision(BaseModel):
    """``decision.json`` of a run: its outcome and the evidence it rests on.

    Extra keys (e.g. the package version) are kept as they are: a run records what its
    pipeline knew, and the registry only relies on the fields declared here.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    run_id: str = Field(pattern=_RUN_ID)
    outcome: Outcome
    reason: str
    champion_compared: ChampionRef | None
    #: Why the champion could not be loaded or evaluated, when that happened.
    champion_error: str | None = None
    #: The deployment the run was judged against (None on runs made before deployments).
    deployment_compared: DeploymentRef | None = None
    #: ``retrain`` (a challenger model) or ``calibration`` (a calibrator refit of the champion).
    kind: Literal["retrain", "calibration"] = "retrain"
    #: For a calibrator refit: the model whose calibrator was refitted.
    calibrated_model: str | None = Field(default=None, pattern=MODEL_ID_REGEX)
    #: The version of the thresholds the run was judged by (a hash of its gates: and serving:).
    thresholds_version: str | None = None
    started_at: UtcTimestamp
    finished_at: UtcTimestamp
    #: File name -> SHA-256 of every other file of the run; filled in by :func:`write_run`.
    manifest: dict[str, str]
    #: The effective ``auto_promote`` of the run's configuration.
    auto_promote: bool
    dataset_hash: str
    macro_f1: float = Field(ge=0.0, le=1.0)
    #: E.g. ``"7 passed, 0 failed, 1 skipped"``; copied into the history on promotion.
    gates_summary: str = ""
    #: Names of the failed gates (empty unless ``outcome == "rejected"``).
    failed_gates: list[str] = Field(default_factory=list)
    #: Who started the run and the reason they gave (None: not recorded).
    requested: RunRequested | None = None

    @field_validator("manifest")
    @classmethod
    def _plain_names_and_hashes(cls, value: dict[str, str]) -> dict[str, str]:
        for name, digest in value.items():
            if not _FILE_NAME.match(name) or name == DECISION_FILE:
                raise ValueError(f"{name!r} is not an allowed run file name")
            if not re.fullmatch(r"[0-9a-f]{64}", digest):
                raise ValueError(f"the hash of {name} is not 64 lowercase hex digits")
        return value


@dataclass(frozen=True)
class RunRecord:
    """A run folder whose ``decision.json`` parsed (files not yet verified)."""

    run_id: str
    path: Path
    decision: RunDecision

    @property
    def label(self) -> str:
        """The run folder relative to the home, for messages."""
        return f"artifacts/runs/{self.run_id}"

    def file(self, name: str) -> Path:
        """Path of one of the run's files (only names in the manifest, or decision.json).

        Raises:
            RegistryError: ``name`` is not a file of this run.
        """
        if name != DECISION_FILE and name not in self.decision.manifest:
            raise RegistryError(
                f"run {self.run_id} has no file {name!r}; its files are "
                f"{', '.join(sorted(self.decision.manifest))}"
            )
        return self.path / name

    def load_bundle(self, *, parse_model: bool = True) -> LoadedBundle:
        """The run's bundle (see :func:`taskclf_core.registry.bundle.load_bundle`)."""
        return load_bundle(
            self.path,
            parse_model=parse_model,
            label=self.label,
            manifest=self.decision.manifest,
            manifest_label=f"the manifest of {self.label}/{DECISION_FILE}",
        )


@dataclass(frozen=True)
class RunSummary:
    """One row of :func:`list_runs`; ``broken`` says why a run cannot be used."""

    run_id: str
    path: Path
    decision: RunDecision | None
    broken: str | None

    @property
    def outcome(self) -> str | None:
        """The run's outcome, or None when ``decision.json`` is unreadable."""
        return self.decision.outcome if self.decision else None


def write_run(
    runs_dir: Path,
    run_id: str,
    *,
    files: Mapping[str, bytes],
    decision: Mapping[str, Any] | RunDecision,
) -> Path:
    """Write a run folder atomically: every file plus ``decision.json`` with its manifest.

    Args:
        runs_dir: ``home.runs_dir``.
        run_id: The run's id (validated).
        files: File name -> bytes (bundle files, ``evaluation.json``, ``gates.json``, …).
        decision: The :class:`RunDecision` fields; ``manifest`` is computed here and
            ``run_id`` is filled in when absent.

    Returns:
        The run folder.

    Raises:
        RunIdError: ``run_id`` is malformed.
        RegistryError: A file name is not allowed, the decision is invalid, or the run
            folder already exists.
    """
    run_id = validate_run_id(run_id)
    for name in files:
        if not _FILE_NAME.match(name) or name == DECISION_FILE:
            raise RegistryError(
                f"cannot write run {run_id}: {name!r} is not an allowed file name (a plain "
                "name of letters, digits, '.', '_', '-', not starting with '.'; not decision.json)"
            )
    payload = (
        decision.model_dump(mode="json") if isinstance(decision, RunDecision) else dict(decision)
    )
    if payload.setdefault("run_id", run_id) != run_id:
        raise RegistryError(
            f"cannot write run {run_id}: its decision names run {payload['run_id']!r}"
        )
    payload["manifest"] = {name: sha256_bytes(data) for name, data in sorted(files.items())}
    try:
        record = RunDecision.model_validate(payload)
    except ValidationError as exc:
        raise RegistryError(
            f"cannot write run {run_id}: the decision is invalid: {describe_validation_error(exc, model=RunDecision)}"
        ) from exc
    target = Path(runs_dir) / run_id
    # The folder is the unit of atomicity: its files appear all together or not at all.
    with atomic_folder(target) as tmp:
        for name, data in files.items():
            faultpoint("runs.write.file")
            (tmp / name).write_bytes(data)
        faultpoint("runs.write.decision")
        (tmp / DECISION_FILE).write_text(dumps_json(record.model_dump(mode="json")), "utf-8")
    return target


def _read_decision(folder: Path, run_id: str) -> RunDecision:
    path = folder / DECISION_FILE
    try:
        if path.is_symlink():
            raise RegistryError(f"run {run_id}: {DECISION_FILE} is a symbolic link; refused")
        raw = read_json(path)
    except FileNotFoundError:
        raise RegistryError(f"run {run_id}: {DECISION_FILE} is missing (incomplete run)") from None
    except OSError as exc:
        raise RegistryError(f"run {run_id}: {DECISION_FILE} cannot be read ({exc})") from exc
    except ValueError as exc:
        raise RegistryError(f"run {run_id}: {DECISION_FILE} is not valid JSON ({exc})") from exc
    try:
        decision = RunDecision.model_validate(raw)
    except ValidationError as exc:
        raise RegistryError(
            f"run {run_id}: {DECISION_FILE} is invalid: {describe_validation_error(exc, model=RunDecision)}"
        ) from exc
    if decision.run_id != run_id:
        raise RegistryError(
            f"run {run_id}: {DECISION_FILE} names run {decision.run_id}; the folder was renamed?"
        )
    return decision


def read_run(home: Home, run_id: str) -> RunRecord:
    """Read one run's decision.

    Args:
        home: The registry home.
        run_id: A run id from anywhere (validated before it touches a path).

    Returns:
        The run record.

    Raises:
        RunIdError: ``run_id`` is malformed or names no run.
        RegistryError: ``decision.json`` is missing or invalid.
    """
    run_id = validate_run_id(run_id)
    folder = home.runs_dir / run_id
    if not folder.is_dir():
        raise RunIdError(f"no run {run_id} in artifacts/runs")
    if folder.is_symlink():
        raise RegistryError(
            f"run {run_id}: artifacts/runs/{run_id} is a symbolic link; refused (runs are "
            "real folders in the home)"
        )
    return RunRecord(run_id=run_id, path=folder, decision=_read_decision(folder, run_id))


def verify_record(
    record: RunRecord, *, hashes: bool = True, parse_model: bool = False
) -> str | None:
    # Once per render inside registry.snapshot.one_read (promotability and "intact" both ask).
    key = ("run", str(record.path), tuple(sorted(record.decision.manifest.items())), hashes, parse_model)
    return remembered(key, lambda: _verify_record(record, hashes=hashes, parse_model=parse_model))


def _verify_record(record: RunRecord, *, hashes: bool, parse_model: bool) -> str | None:
    manifest = record.decision.manifest
    for name, expected in sorted(manifest.items()):
        path = record.path / name
        if not path.is_file():
            return f"run {record.run_id}: {name} is missing (listed in the manifest of {DECISION_FILE})"
        if hashes and sha256_file(path) != expected:
            return (
                f"run {record.run_id}: {name} does not match its SHA-256 in the manifest of "
                f"{DECISION_FILE} (file altered after the run?)"
            )
    if record.decision.kind == "calibration":  # a refit of the champion's calibrator: no bundle of its own
        missing = [name for name in CALIBRATION_RUN_FILES if name not in manifest]
        return f"run {record.run_id}: its manifest lists no {missing[0]}" if missing else None
    absent = [name for name in BUNDLE_FILES if name not in manifest]
    if absent:
        return f"run {record.run_id}: its manifest lists no {absent[0]}; the run has no complete bundle"
    if not hashes:
        return None
    return verify_bundle(
        record.path, parse_model=parse_model, label=record.label, manifest=manifest
    )


def verify_run(home: Home, run_id: str, *, parse_model: bool = False) -> str | None:
    """Why a run's files are not intact, or None when they are.

    Args:
        home: The registry home.
        run_id: The run id (validated).
        parse_model: Also parse the bundle's ``model.txt`` with LightGBM.

    Returns:
        None when ``decision.json`` is valid, every manifest file exists with its hash and
        the bundle checks pass; else the first problem found.
    """
    try:
        record = read_run(home, run_id)
    except RegistryError as exc:
        return str(exc)
    return verify_record(record, parse_model=parse_model)


def folder_names_newest_first(folder: Path) -> list[str]:
    """Entry names of ``folder`` that are folders or links, newest model id first.

    Hidden and temporary (``.tmp-*``) names are ignored. Symbolic links are included
    (listings report them as refused) without being followed.
    """
    if not folder.is_dir():
        return []
    names = [
        p.name
        for p in folder.iterdir()
        if (p.is_symlink() or p.is_dir()) and not p.name.startswith(".")
    ]
    valid = sorted((n for n in names if is_model_id(n)), key=model_id_sort_key, reverse=True)
    return valid + sorted(n for n in names if not is_model_id(n))


def _effective_promotions(home: Home) -> tuple[set[str], str | None] | None:
    """Runs whose promotion took effect, and the champion; None when that cannot be told.

    It cannot be told while a change holds the registry lock, or when ``active.json`` is
    unreadable or the history chain from it is broken (older entries unreachable): then
    no run is flagged.
    """
    if registry_change_in_progress(home):
        return None
    state = inspect_active(home)
    if state.exists and state.pointer is None:
        return None
    report = inspect_history(home)
    if not report.complete:
        return None
    return {e.run_id for e in report.entries}, state.pointer_id


def _interrupted_promotion(run_id: str, champion: str | None) -> str:
    return (
        f"run {run_id} was saved as promoted but its automatic promotion never took effect "
        f"(it was interrupted before the champion pointer moved; the champion is still "
        f"{champion or 'none'}); run the retrain again"
    )


def auto_promotion_interrupted(home: Home, run_id: str) -> bool:
    """Whether a run saved with outcome ``promoted`` never became champion.

    The pipeline writes the run folder, then moves the pointer; a crash (or a full disk)
    in between leaves a run that says ``promoted`` while the champion did not change.

    Args:
        home: The registry home.
        run_id: A run whose decision says ``promoted``.

    Returns:
        True when the history shows that its promotion never took effect.
    """
    effective = _effective_promotions(home)
    return effective is not None and run_id not in effective[0]


def list_runs(home: Home, *, verify: bool = False) -> list[RunSummary]:
    """Every run, newest first; broken runs are listed with the reason, never raised.

    Read once per ``registry.snapshot.one_read`` block (a render's snapshot).

    A run saved as ``promoted`` whose promotion never took effect (the pipeline stopped
    between saving the run and moving the pointer) is listed as broken, saying so.

    Args:
        home: The registry home.
        verify: Also hash every file (slower); by default a run is broken when its
            decision is unreadable or a manifest file is missing.

    Returns:
        One summary per run folder (``.tmp-*`` leftovers ignored).
    """
    return remembered(("runs", home, verify), lambda: _list_runs(home, verify=verify))


def _list_runs(home: Home, *, verify: bool = False) -> list[RunSummary]:
    """:func:`list_runs` without the snapshot's memory."""
    runs: list[RunSummary] = []
    for name in folder_names_newest_first(home.runs_dir):
        path = home.runs_dir / name
        if not RUN_ID_PATTERN.match(name):
            runs.append(RunSummary(name, path, None, f"folder name {name!r} is not a run id"))
            continue
        try:
            record = read_run(home, name)
        except RegistryError as exc:
            runs.append(RunSummary(name, path, None, str(exc)))
            continue
        broken = verify_record(record, hashes=verify)
        runs.append(RunSummary(name, path, record.decision, broken))
    if any(r.outcome == "promoted" and r.broken is None for r in runs):
        effective = _effective_promotions(home)
        if effective is not None:
            done, champion = effective
            runs = [
                RunSummary(r.run_id, r.path, r.decision, _interrupted_promotion(r.run_id, champion))
                if r.outcome == "promoted" and r.broken is None and r.run_id not in done
                else r
                for r in runs
            ]
    return runs
