"""A run's evidence read back from its folder, for the review page, the CLI and the report.

Each file is read once, bounded (``fs/jsonfile``), and validated into its record; a file
that is missing, not UTF-8, not JSON, not an object or not a valid record is refused with
one :class:`~taskclf_core.errors.RegistryError` naming the run and the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from taskclf_core.errors import RegistryError, describe_validation_item
from taskclf_core.fs.jsonfile import MAX_JSON_BYTES, decode_utf8, loads_json, read_bounded
from taskclf_core.model.checklist import ChecklistEvidence
from taskclf_core.model.gates import GateGroup
from taskclf_core.model.reports import BootstrapInterval, EvaluationReport
from taskclf_core.registry.deployrecord import DEPLOYMENT_FILE, ChallengerDeployment
from taskclf_core.train.deploy import ServingEvidence
from taskclf_core.train.records import DatasetSnapshot

EVIDENCE_FILES = ("evaluation.json", "gates.json", "snapshot.json", "config.yaml")
#: The file each field of :class:`RunEvidence` comes from (the rest: ``evaluation.json``).
_FILE_OF = {"snapshot": "snapshot.json", "gates": "gates.json", "config_yaml": "config.yaml", "deployment": DEPLOYMENT_FILE}


class RunEvidence(BaseModel):
    """Everything a reviewer sees of one run, read back from its folder (the run's decision
    is ``registry.runs.read_run``'s)."""

    run_id: str
    snapshot: DatasetSnapshot
    challenger: EvaluationReport
    champion: EvaluationReport | None
    baseline: EvaluationReport
    bootstrap: BootstrapInterval | None
    gates: dict[str, GateGroup]
    config_yaml: str
    #: The raw reports beside the served ones the gates judged (empty when they judged raw).
    raw: dict[str, EvaluationReport | None] = {}
    #: Which outputs were judged and the two deployments (None on runs before policies).
    serving: ServingEvidence | None = None
    #: The challenger's deployment as built (None on runs before policies).
    deployment: ChallengerDeployment | None = None
    #: taskclf's promotion checklist (None on runs before it, and on the Dask engine's).
    checklist: ChecklistEvidence | None = None


def _refused(run_id: str, name: str, why: str) -> RegistryError:
    return RegistryError(f"run {run_id}: {name} is not valid ({why})")


def _read(folder: Path, run_id: str, name: str) -> str:
    """A file of the run as text, bounded; every way it can fail names the run and the file."""
    try:
        return decode_utf8(read_bounded(folder / name, MAX_JSON_BYTES))
    except FileNotFoundError:
        raise RegistryError(f"run {run_id}: {name} is missing") from None
    except OSError as exc:
        raise RegistryError(f"run {run_id}: cannot read {name} ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise _refused(run_id, name, str(exc)) from None


def _json_object(folder: Path, run_id: str, name: str) -> dict[str, Any]:
    try:
        raw = loads_json(_read(folder, run_id, name))
    except ValueError as exc:
        raise _refused(run_id, name, str(exc)) from None
    if not isinstance(raw, dict):
        raise _refused(run_id, name, "expected a JSON object")
    return raw


def read_evidence(run_dir: Path, run_id: str) -> RunEvidence:
    """Read and validate a run folder's evidence files, each once.

    Raises:
        RegistryError: a file is missing, unreadable or not valid (names the run and the file).
    """
    folder = Path(run_dir)
    evaluation = _json_object(folder, run_id, "evaluation.json")
    parts: dict[str, Any] = {
        "snapshot.json": _json_object(folder, run_id, "snapshot.json"),
        "gates.json": _json_object(folder, run_id, "gates.json"),
        "config.yaml": _read(folder, run_id, "config.yaml"),
    }
    if (folder / DEPLOYMENT_FILE).exists():
        parts[DEPLOYMENT_FILE] = _json_object(folder, run_id, DEPLOYMENT_FILE)
    try:
        reports = {k: v for k, v in evaluation.items()
                   if k in ("challenger", "champion", "baseline", "bootstrap", "serving", "checklist")}
        return RunEvidence.model_validate({
            "champion": None, "bootstrap": None, **reports, "run_id": run_id,
            "snapshot": parts["snapshot.json"], "gates": parts["gates.json"], "config_yaml": parts["config.yaml"],
            "raw": evaluation.get("raw") or {}, "deployment": parts.get(DEPLOYMENT_FILE),
        })
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        if field in _FILE_OF:  # the file is named: the path inside it starts after the field
            model = RunEvidence.model_fields[field].annotation
            inner = model if isinstance(model, type) and issubclass(model, BaseModel) else None
            why = describe_validation_item({**first, "loc": first["loc"][1:]}, inner)
        else:
            why = describe_validation_item(first, RunEvidence)
        raise _refused(run_id, _FILE_OF.get(field, "evaluation.json"), why[:300]) from None
