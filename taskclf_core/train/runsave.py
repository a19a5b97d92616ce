"""The pipeline's side of the registry: champion loading, the run folder, auto-promotion.

A run folder (``artifacts/runs/<run_id>/``) holds the challenger bundle plus
``evaluation.json`` (challenger, champion and baseline reports, bootstrap interval),
``gates.json``, ``snapshot.json``, ``config.yaml`` and ``decision.json`` (outcome, reason,
champion compared against, times, manifest of every file). :class:`RunEvidence` reads it
back for the review page, the CLI and the HTML report.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast, get_args

from pydantic import BaseModel, ValidationError

from taskclf_core.data.schema import LABELS, SCHEMA_HASHES
from taskclf_core.errors import BusyError, RegistryError, TaskclfError
from taskclf_core.fs.atomic import dumps_json, storage_error
from taskclf_core.fs.faultpoints import faultpoint
from taskclf_core.model.evaluation import BootstrapInterval, EvaluationReport
from taskclf_core.model.gates import RegressionResult
from taskclf_core.model.lgbm import TrainedModel
from taskclf_core.paths import Home
from taskclf_core.registry import bundle as bundle_mod
from taskclf_core.registry.runids import new_run_id
from taskclf_core.registry.runs import Outcome

if TYPE_CHECKING:
    from taskclf_core.train.config import RetrainConfig
    from taskclf_core.train.retrain import DatasetSnapshot

RETRAIN_LOCK = ".retrain.lock"
EVIDENCE_FILES = ("evaluation.json", "gates.json", "snapshot.json", "config.yaml")


@contextmanager
def retrain_lock(out_dir: Path) -> Iterator[None]:
    """Hold the one-retrain-at-a-time lock (``<out_dir>/runs/.retrain.lock``).

    The lock is an ``flock``: the kernel drops it when the holder dies, so a killed
    retrain never leaves it behind. The file records the holder's pid for messages.

    Raises:
        BusyError: another retrain holds the lock.
        RegistryError: the lock file cannot be created or opened (a read-only or full
            disk); the message names the path.
    """
    runs_dir = Path(out_dir) / "runs"
    path = runs_dir / RETRAIN_LOCK
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise storage_error(exc, path, "lock") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BusyError(
                f"another retrain is running ({_lock_holder(fd)}); wait for it to finish or cancel it"
            ) from None
        holder = f"pid {os.getpid()}, started {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC"
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, holder.encode(), 0)
        except OSError:
            pass  # only for messages: a full disk must not fail here, the save step says so
        faultpoint("retrain.locked")
        yield
    finally:
        os.close(fd)


def _lock_holder(fd: int) -> str:
    """The holder record of a held retrain lock (it may take the holder a moment to write it)."""
    for _ in range(20):
        holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
        if holder:
            return holder
        time.sleep(0.005)
    return "unknown"


def retrain_running(out_dir: Path) -> str | None:
    """Who holds the retrain lock (``"pid N, started …"``), or ``None`` when free."""
    path = Path(out_dir) / "runs" / RETRAIN_LOCK
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


@dataclass(frozen=True)
class ChampionState:
    """The current champion as the pipeline sees it."""

    model_id: str | None = None  # None: no champion
    model_sha256: str | None = None
    model: TrainedModel | None = None
    error: str | None = None  # set when a champion exists but cannot be loaded


def load_champion(home: Home) -> ChampionState:
    """Load the champion named by ``models/active.json`` (never raises for a broken one)."""
    from taskclf_core.registry.pointer import read_active

    try:
        pointer = read_active(home)
    except TaskclfError as exc:
        return ChampionState(model_id="(unreadable active.json)", error=str(exc))
    if pointer is None:
        return ChampionState()
    try:
        loaded = bundle_mod.load_bundle(home.models_dir / pointer.model_id)
        model = TrainedModel(
            booster=loaded.booster,
            feature_names=list(loaded.metadata.feature_names),
            encoders=dict(loaded.encoders),
            schema_version=loaded.metadata.schema_version,
            params=dict(loaded.metadata.params),
        )
    except TaskclfError as exc:
        return ChampionState(model_id=pointer.model_id, error=str(exc))
    return ChampionState(pointer.model_id, loaded.metadata.model_sha256, model)


def _dump(model: BaseModel | None) -> Any:
    return None if model is None else model.model_dump(mode="json")


def save_run(
    *,
    challenger: TrainedModel,
    snapshot: DatasetSnapshot,
    config: RetrainConfig,
    config_yaml: str,
    reports: dict[str, EvaluationReport | None],
    bootstrap: BootstrapInterval | None,
    gates: dict[str, RegressionResult],
    outcome: str,
    reason: str,
    champion: ChampionState,
    started_at: datetime,
    reject_threshold: float,
    data_provenance: str,
    gates_summary: str,
    failed_gates: list[str],
    version: str,
    home: Home,
) -> tuple[str, Outcome, str, Path]:
    """Write the run folder atomically (and, for ``promoted``, make it the champion).

    Returns:
        The run id, the final outcome and reason (``promoted`` turns into ``rejected``
        if the champion changed while the run was evaluated), and the run folder.

    Raises:
        ValueError: ``outcome`` is not the outcome of a run that trained a challenger.
        RegistryError: The run could not be written or promoted (e.g. a full disk).
    """
    from taskclf_core.registry.pointer import registry_lock
    from taskclf_core.registry.promotion import promote_auto
    from taskclf_core.registry.runs import write_run

    if outcome not in get_args(Outcome):
        raise ValueError(f"a saved run's outcome is one of {get_args(Outcome)}; got {outcome!r}")
    final = cast(Outcome, outcome)  # checked just above

    challenger_report = reports["challenger"]
    assert challenger_report is not None
    metadata = bundle_mod.BundleMetadata(
        schema_version=challenger.schema_version,
        schema_hash=SCHEMA_HASHES[challenger.schema_version],
        label_set=list(LABELS),
        train_date_from=snapshot.date_from,
        train_date_to=snapshot.date_to,
        params={**challenger.params, "reject_threshold": reject_threshold},
        git_commit=bundle_mod.git_commit(),
        dataset_hash=snapshot.dataset_hash,
        reject_threshold=reject_threshold,
        data_provenance=data_provenance,  # type: ignore[arg-type]
        created_at=datetime.now(UTC).isoformat(),
        library_versions=bundle_mod.library_versions(),
        feature_names=challenger.feature_names,
    )
    metrics = bundle_mod.BundleMetrics(
        macro_f1=challenger_report.macro_f1,
        weighted_f1=challenger_report.weighted_f1,
        confusion_matrix=challenger_report.confusion_matrix,
        label_names=list(LABELS),
    )
    files = bundle_mod.bundle_file_bytes(
        model_text=challenger.model_text(), encoders=challenger.encoders, metadata=metadata, metrics=metrics
    )
    evaluation = {name: _dump(report) for name, report in reports.items()}
    evaluation["bootstrap"] = _dump(bootstrap)
    files["evaluation.json"] = dumps_json(evaluation).encode()
    files["gates.json"] = dumps_json({k: _dump(v) for k, v in gates.items()}).encode()
    files["snapshot.json"] = dumps_json(_dump(snapshot)).encode()
    files["config.yaml"] = config_yaml.encode()
    compared = (
        {"run_id": champion.model_id, "model_sha256": champion.model_sha256}
        if champion.model_id is not None and champion.error is None
        else None
    )
    decision = {
        "outcome": outcome,
        "reason": reason,
        "champion_compared": compared,
        "champion_error": champion.error,
        "started_at": started_at.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "auto_promote": config.auto_promote,
        "dataset_hash": snapshot.dataset_hash,
        "macro_f1": challenger_report.macro_f1,
        "gates_summary": gates_summary,
        "failed_gates": failed_gates,
        "taskclf_core_version": version,
    }
    run_id = new_run_id()
    if final != "promoted":
        return run_id, final, reason, write_run(home.runs_dir, run_id, files=files, decision=decision)
    # Automatic promotion: check the champion, write the run and move the pointer under one
    # registry lock, so no other change slips in between. A crash (or a full disk) between
    # the two leaves a run saved as promoted that never took effect: listings flag it
    # (``runs.auto_promotion_interrupted``) and the next retrain promotes its own run.
    with registry_lock(home):
        faultpoint("runsave.locked")
        current = _current_champion_id(home)
        if current != champion.model_id:
            final = "rejected"
            reason = (
                f"Rejected: the champion changed while this run was evaluated (was "
                f"{champion.model_id or 'none'}, now {current or 'none'}); re-run the retrain."
            )
            decision.update(outcome=final, reason=reason, failed_gates=["champion_unchanged"])
        path = write_run(home.runs_dir, run_id, files=files, decision=decision)
        faultpoint("runsave.written")
        if final == "promoted":
            promote_auto(home, run_id)
    return run_id, final, reason, path


def _current_champion_id(home: Home) -> str | None:
    from taskclf_core.registry.pointer import read_active

    try:
        pointer = read_active(home)
    except TaskclfError:
        return "(unreadable active.json)"
    return pointer.model_id if pointer else None


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
        )
    except (ValidationError, KeyError, OSError) as exc:
        raise RegistryError(f"run {run_id}: evidence files do not parse ({str(exc).splitlines()[0]})") from None
