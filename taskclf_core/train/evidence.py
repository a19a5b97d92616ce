"""A run's evidence read back from its folder, for the review page, the CLI and the report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from taskclf_core.errors import RegistryError
from taskclf_core.model.checklist import ChecklistEvidence
from taskclf_core.model.gates import RegressionResult
from taskclf_core.model.reports import BootstrapInterval, EvaluationReport
from taskclf_core.registry.deployrecord import DEPLOYMENT_FILE, ChallengerDeployment
from taskclf_core.train.deploy import ServingEvidence

EVIDENCE_FILES = ("evaluation.json", "gates.json", "snapshot.json", "config.yaml")


class RunEvidence(BaseModel):
    """Everything a reviewer sees of one run, read back from its folder."""

    run_id: str
    decision: dict[str, Any]
    snapshot: dict[str, Any]
    challenger: EvaluationReport
    champion: EvaluationReport | None
    baseline: EvaluationReport
    bootstrap: BootstrapInterval | None
    gates: dict[str, RegressionResult]
    config_yaml: str
    #: The raw reports beside the served ones the gates judged (empty when they judged raw).
    raw: dict[str, EvaluationReport | None] = {}
    #: Which outputs were judged and the two deployments (None on runs before policies).
    serving: ServingEvidence | None = None
    #: The challenger's deployment as built (None on runs before policies).
    deployment: ChallengerDeployment | None = None
    #: taskclf's promotion checklist (None on runs before it, and on the Dask engine's).
    checklist: ChecklistEvidence | None = None


def read_evidence(run_dir: Path, run_id: str) -> RunEvidence:
    """Parse a run folder's evidence files.

    Raises:
        RegistryError: a file is missing or does not parse (names the file).
    """
    def load(name: str) -> Any:
        path = Path(run_dir) / name
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RegistryError(f"run {run_id}: cannot read {name} ({exc})") from None

    evaluation = load("evaluation.json")
    try:
        return RunEvidence(
            run_id=run_id,
            decision=load("decision.json"),
            snapshot=load("snapshot.json"),
            challenger=evaluation["challenger"],
            champion=evaluation.get("champion"),
            baseline=evaluation["baseline"],
            bootstrap=evaluation.get("bootstrap"),
            gates=load("gates.json"),
            config_yaml=(Path(run_dir) / "config.yaml").read_text(encoding="utf-8"),
            raw=evaluation.get("raw") or {},
            serving=evaluation.get("serving"),
            checklist=evaluation.get("checklist"),
            deployment=load(DEPLOYMENT_FILE) if (Path(run_dir) / DEPLOYMENT_FILE).exists() else None,
        )
    except (ValidationError, KeyError, OSError) as exc:
        raise RegistryError(f"run {run_id}: evidence files do not parse ({str(exc).splitlines()[0]})") from None
