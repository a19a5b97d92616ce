"""One call per user action, shared by the CLI and the app's background job.

:func:`run_retrain` turns a :class:`RetrainRequest` (what a person asked for: config,
toggles, data source) into data and a :func:`run_retrain_pipeline` call, so both front
ends stay thin and behave the same.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from taskclf_core.data.schema import DEFAULT_REJECT_THRESHOLD
from taskclf_core.errors import ConfigError
from taskclf_core.paths import Home
from taskclf_core.registry.history import HistoryEntry
from taskclf_core.train.cadence import CadenceStatus, calibrator_cadence, retrain_cadence
from taskclf_core.train.config import RetrainConfig, load_retrain_config

if TYPE_CHECKING:  # the pipeline imports LightGBM (slow): only the retrain call needs it
    from taskclf_core.train.retrain import ProgressCallback, RetrainResult


class RetrainRequest(BaseModel):
    """A retrain as asked for on the command line or in the app."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    config_path: Path | None = None  # default: <home>/configs/retrain.yaml
    force: bool = False
    dry_run: bool = False
    synthetic: bool = False
    scenario: str = "default"
    users: int = Field(5, ge=1, le=500)
    days: int | None = Field(None, ge=1, le=3650)  # default: the config's data_lookback_days
    seed: int = Field(0, ge=0, le=2**31 - 1)
    data_dir: Path | None = None  # default: <home>/data/processed
    date_from: date | None = None
    date_to: date | None = None
    user_id: str | None = None  # for schema v2 files, which carry no user_id
    holdout_fraction: float = Field(0.0, ge=0.0, lt=1.0)
    reject_threshold: float = Field(DEFAULT_REJECT_THRESHOLD, gt=0.0, lt=1.0)

    @model_validator(mode="after")
    def _range_order(self) -> RetrainRequest:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError(f"--from {self.date_from} is after --to {self.date_to}")
        return self


def resolve_config(home: Home, config_path: Path | None) -> tuple[Path, RetrainConfig]:
    """The config file in use and its validated content."""
    path = Path(config_path) if config_path is not None else home.config_path
    return path, load_retrain_config(path)


def date_range(request: RetrainRequest, config: RetrainConfig, *, today: date | None = None) -> tuple[date, date]:
    """The requested date range, defaulting to the lookback window ending today (UTC)."""
    today = today or datetime.now(UTC).date()
    days = request.days or config.data_lookback_days
    date_to = request.date_to or (request.date_from + timedelta(days=days - 1) if request.date_from else today)
    date_from = request.date_from or date_to - timedelta(days=days - 1)
    if date_from > date_to:
        raise ConfigError(f"date range is empty: from {date_from} to {date_to}")
    return date_from, date_to


def run_retrain(
    home: Home, request: RetrainRequest, *, progress: ProgressCallback | None = None
) -> RetrainResult:
    """Load the config and the data the request names, then run the pipeline.

    Raises:
        TaskclfError: any bad input (config, data directory, scenario) or registry state.
    """
    from taskclf_core.train.retrain import run_retrain_pipeline

    _, config = resolve_config(home, request.config_path)
    date_from, date_to = date_range(request, config)
    source: dict[str, object]
    provenance: Literal["real", "synthetic"]
    if progress is not None:
        progress("loading", 0.0)
    if request.synthetic:
        from taskclf_core.data.synthetic import generate_team

        team = generate_team(
            request.scenario, users=request.users, date_from=date_from, date_to=date_to, seed=request.seed
        )
        features, spans = team.features, team.spans
        source = {
            "kind": "synthetic", "scenario": request.scenario, "users": request.users,
            "seed": request.seed, "date_from": str(date_from), "date_to": str(date_to),
        }
        provenance = "synthetic"
    else:
        from taskclf_core.data.datadir import load_data_dir

        data_dir = Path(request.data_dir) if request.data_dir is not None else home.default_data_dir
        loaded = load_data_dir(data_dir, date_from, date_to, user_id=request.user_id)
        features, spans = loaded.features, loaded.spans
        source = {
            "kind": "data_dir", "data_dir": str(data_dir), "date_from": str(date_from),
            "date_to": str(date_to), "days_missing": [str(d) for d in loaded.days_missing],
            "schema_version": loaded.schema_version,
        }
        provenance = "real"
    return run_retrain_pipeline(
        config,
        features,
        spans,
        models_dir=home.models_dir,
        out_dir=home.artifacts_dir,
        force=request.force,
        dry_run=request.dry_run,
        holdout_user_fraction=request.holdout_fraction,
        reject_threshold=request.reject_threshold,
        data_provenance=provenance,
        data_source=source,
        progress=progress,
    )


def _cadence_dict(status: CadenceStatus) -> dict[str, Any]:
    return {
        "due": status.due,
        "reason": status.reason,
        "cadence_days": status.cadence_days,
        "last_created_at": status.last_created_at.isoformat() if status.last_created_at else None,
        "due_at": status.due_at.isoformat() if status.due_at else None,
        "latest_model": status.latest_model.name if status.latest_model else None,
    }


def cadence_report(
    home: Home, *, config_path: Path | None = None, calibrator_store: Path | None = None
) -> dict[str, Any]:
    """Whether a global retrain (and a calibrator update, when a store is named) is due."""
    _, config = resolve_config(home, config_path)
    report: dict[str, Any] = {
        "retrain": _cadence_dict(retrain_cadence(home.models_dir, config.global_retrain_cadence_days)),
        "calibrator": None,
    }
    if calibrator_store is not None:
        report["calibrator"] = _cadence_dict(
            calibrator_cadence(calibrator_store, config.calibrator_update_cadence_days)
        )
    return report


def promote_run(
    home: Home, run_id: str, *, approver: str, note: str, config_path: Path | None = None
) -> HistoryEntry:
    """Sign off a run with the effective config's ``auto_promote`` (see registry.promote)."""
    from taskclf_core.registry.promotion import promote

    _, config = resolve_config(home, config_path)
    return promote(home, run_id, approver=approver, note=note, auto_promote=config.auto_promote)


def runs_table(home: Home, *, outcome: str | None = None) -> list[dict[str, Any]]:
    """Runs, newest first, as rows for a table or JSON (broken runs say why)."""
    from taskclf_core.registry.runs import list_runs

    rows = []
    for run in list_runs(home):
        if outcome is not None and run.outcome != outcome:
            continue
        d = run.decision
        rows.append({
            "run_id": run.run_id,
            "outcome": run.outcome or "broken",
            "macro_f1": round(d.macro_f1, 4) if d else None,
            "gates": d.gates_summary if d else "",
            "champion_compared": d.champion_compared.run_id if d and d.champion_compared else None,
            "finished_at": d.finished_at if d else None,
            "problem": run.broken,
        })
    return rows


def models_table(home: Home) -> list[dict[str, Any]]:
    """Promoted models (champion marked, broken bundles with the reason)."""
    from taskclf_core.registry.listing import list_models

    return [
        {
            "model_id": m.model_id,
            "champion": m.is_champion,
            "macro_f1": round(m.metrics.macro_f1, 4) if m.metrics else None,
            "trained": f"{m.metadata.train_date_from}..{m.metadata.train_date_to}" if m.metadata else None,
            "created_at": m.metadata.created_at if m.metadata else None,
            "problem": m.broken,
        }
        for m in list_models(home)
    ]


def history_table(home: Home) -> list[dict[str, Any]]:
    """The champion history, newest first."""
    from taskclf_core.registry.history import read_history

    return [
        {
            "time": e.time, "action": e.action, "approver": e.approver, "note": e.note,
            "previous_champion": e.previous_champion, "new_champion": e.new_champion,
            "dataset_hash": e.dataset_hash, "gates": e.gates_summary, "macro_f1": e.macro_f1,
        }
        for e in read_history(home)
    ]
