"""One call per user action, shared by the CLI and the app's background job.

:func:`run_retrain` turns a :class:`RetrainRequest` (what a person asked for: config,
toggles, data source) into data and a :func:`run_retrain_pipeline` call, so both front
ends stay thin and behave the same.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from taskclf_core.access.identity import Identity
from taskclf_core.console.request import (
    DEFAULT_SYNTHETIC_SCHEMA,
    FIRST_DAY,
    LAST_DAY,
    RetrainRequest,
    build_request,
    check_synthetic_size,
    date_range,
    shift_day,
    synthetic_size_problem,
)
from taskclf_core.errors import BusyError, ConfigError, PromotionRefused
from taskclf_core.paths import Home
from taskclf_core.registry.approve import PendingApproval
from taskclf_core.registry.history import HistoryEntry
from taskclf_core.registry.snapshot import registry_snapshot
from taskclf_core.registry.verdict import ANY_CHAMPION, AnyChampion
from taskclf_core.train.cadence import CadenceStatus, calibrator_cadence, retrain_cadence
from taskclf_core.train.config import (
    RetrainConfig,
    load_retrain_config,
    read_config,
    write_default_config,
)
from taskclf_core.train.dask.config import ComputeConfig, effective_compute, require_dask

__all__ = [  # the request helpers are re-exported: front ends import one module
    "RetrainRequest", "build_request", "cadence_report", "check_synthetic_size", "date_range",
    "default_config_notice", "expected_champion_option", "history_report", "init_home", "models_listing", "promote_run", "resolve_config",
    "resolve_home", "rollback_model", "run_retrain", "runs_table", "synthesize_data", "synthetic_size_problem",
]

if TYPE_CHECKING:  # the pipeline imports LightGBM (slow): only the retrain call needs it
    from taskclf_core.train.retrain import ProgressCallback, RetrainResult


def resolve_home(models_dir: Path | None = None, out_dir: Path | None = None) -> Home:
    """The home, with ``--models-dir``/``--out-dir`` checked to be folders when they exist.

    Raises:
        ConfigError: one of them names something that is not a folder.
    """
    for option, given in (("--models-dir", models_dir), ("--out-dir", out_dir)):
        if given is not None and Path(given).exists() and not Path(given).is_dir():
            raise ConfigError(f"{option} {given} is not a folder")
    return Home.resolve(models_dir=models_dir, out_dir=out_dir)


def resolve_config(home: Home, config_path: Path | None) -> tuple[Path, RetrainConfig]:
    """The config file in use and its validated content.

    Without ``config_path`` the home's ``configs/retrain.yaml`` is read, or the reference
    defaults are used when the home has none (see :func:`default_config_notice`). A
    ``config_path`` given explicitly must exist.
    """
    if config_path is not None:
        return Path(config_path), load_retrain_config(Path(config_path))
    return home.config_path, read_config(home.config_path).require()


def default_config_notice(home: Home, config_path: Path | None) -> str | None:
    """One line saying the reference defaults are in use, or None when a config file is."""
    if config_path is not None or os.path.lexists(home.config_path):
        return None
    return (
        f"note: no config file at {home.config_path}; using the reference defaults "
        f"(`taskclf init --home {home.root}` writes them there, commented)"
    )


def init_home(root: Path | None = None) -> Path:
    """Write the commented default ``configs/retrain.yaml`` into a home; never overwrite.

    Returns:
        The file written.

    Raises:
        ConfigError: the file already exists, or cannot be written.
    """
    return write_default_config(Home.resolve(root).config_path)


def synthesize_data(
    out_dir: Path, *, scenario: str = "default", users: int = 5, days: int = 30, date_to: date | None = None,
    seed: int = 0, overwrite: bool = False, schema_version: str = DEFAULT_SYNTHETIC_SCHEMA,
) -> dict[str, Any]:
    """Generate a synthetic team and write it as a taskclf data directory.

    Returns:
        A summary: folder, scenario, users, rows, spans and the date range.

    Raises:
        ConfigError: days out of the supported range, a team too large, bad scenario.
        DataError: the folder cannot be written, or is not empty and ``overwrite`` is false.
    """
    from taskclf_core.synthetic.team import synthesize_data_dir

    last = date_to or datetime.now(UTC).date()
    if not FIRST_DAY <= last <= LAST_DAY:
        raise ConfigError(f"--to {last} is outside the supported days {FIRST_DAY}..{LAST_DAY}")
    shift_day(last, -(days - 1), "--to")  # the first day must be representable too
    check_synthetic_size(users, days, schema_version)
    team = synthesize_data_dir(out_dir, scenario, users=users, days=days, date_to=last, seed=seed,
                               overwrite=overwrite, schema_version=schema_version)
    return {
        "out": str(out_dir), "scenario": scenario, "schema": schema_version, "users": users,
        "rows": len(team.features),
        "spans": len(team.spans), "date_from": str(team.date_from), "date_to": str(team.date_to),
    }


def run_retrain(
    home: Home, request: RetrainRequest, *, progress: ProgressCallback | None = None
) -> RetrainResult:
    """Load the config and the data the request names, then run the pipeline; announce the outcome.

    A saved run awaiting sign-off or rejected is announced (``run_awaiting_signoff``,
    ``run_rejected``), a promotion by the registry, a failure as ``run_failed``; another
    retrain running (``BusyError``) is a refusal, not a failure.

    Raises:
        TaskclfError: any bad input (config, data directory, scenario) or registry state.
    """
    from taskclf_core.console.notifications import announce, failed_event, run_event

    try:
        result = _run_retrain(home, request, progress)
    except BusyError:
        raise
    except Exception as exc:
        announce(home, failed_event(request, exc))
        raise
    announce(home, run_event(result, request))
    return result


def _run_retrain(home: Home, request: RetrainRequest, progress: ProgressCallback | None) -> RetrainResult:
    from taskclf_core.train.retrain import run_retrain_pipeline

    _, config = resolve_config(home, request.config_path)
    compute = retrain_compute(config, request)
    date_from, date_to = date_range(request, config)
    if compute.engine == "dask":
        _refuse_served_evaluation_on_dask(home, request, config)
        return _run_retrain_on_dask(home, request, config, compute, date_from, date_to, progress)
    source: dict[str, object]
    provenance: Literal["real", "synthetic"]
    if progress is not None:
        progress("loading", 0.0)
    if request.synthetic:
        from taskclf_core.synthetic.team import generate_team

        check_synthetic_size(request.users, (date_to - date_from).days + 1, request.schema_version)
        team = generate_team(
            request.scenario, users=request.users, date_from=date_from, date_to=date_to, seed=request.seed,
            schema_version=request.schema_version,
        )
        features, spans = team.features, team.spans
        warnings = None  # found by the pipeline
        known_hash = None
        source = {
            "kind": "synthetic", "scenario": request.scenario, "schema": request.schema_version,
            "users": request.users,
            "seed": request.seed, "date_from": str(date_from), "date_to": str(date_to),
        }
        provenance = "synthetic"
    else:
        from taskclf_core.data.datadir import load_data_dir

        data_dir = Path(request.data_dir) if request.data_dir is not None else home.default_data_dir
        # Only the columns a retrain reads are kept (each day file hashed whole first).
        loaded = load_data_dir(data_dir, date_from, date_to, user_id=request.user_id, project=True,
                               labels_required=True)
        features, spans = loaded.features, loaded.spans
        warnings = list(loaded.warnings)  # the label files' too
        known_hash = loaded.dataset_hash()
        source = {
            "kind": "data_dir", "data_dir": str(data_dir), "date_from": str(date_from),
            "date_to": str(date_to), "days_missing": [str(d) for d in loaded.days_missing],
            "schema_version": loaded.schema_version,
        }
        provenance = "real"
    if request.kind == "calibrate":
        from taskclf_core.train.recalibrate import run_calibration_pipeline

        return run_calibration_pipeline(
            config, features, spans, home=home, force=request.force, dry_run=request.dry_run,
            reject_threshold=request.reject_threshold, holdout_user_fraction=request.holdout_fraction,
            data_source=source, progress=progress, data_warnings=warnings, dataset_hash=known_hash,
            requested=request.requested(),
        )
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
        data_warnings=warnings,
        dataset_hash=known_hash,
        requested=request.requested(),
    )


def retrain_compute(config: RetrainConfig, request: RetrainRequest) -> ComputeConfig:
    """Where a retrain runs: the config's ``compute:`` section with the request's engine and
    scheduler applied; checked before anything starts (CLI and the app's jobs).

    Raises:
        ConfigError: a bad ``--scheduler``, or the Dask engine asked for but not installed
            (one line with the install command).
    """
    compute = effective_compute(config.compute, engine=request.engine, scheduler=request.scheduler)
    if compute.engine == "dask":
        require_dask()
    return compute


def _refuse_served_evaluation_on_dask(home: Home, request: RetrainRequest, config: RetrainConfig) -> None:
    """The Dask engine judges raw outputs only: refuse where taskclf serves a policy.

    Raises:
        ConfigError: a calibrator refit, a ``serving:`` section, or a deployment with a policy.
    """
    from taskclf_core.registry.deployment import inspect_deployment

    if request.kind == "calibrate":
        raise ConfigError("a calibrator refit runs on the local engine (it fits on the validation rows in this "
                          "process); run it with --engine local")
    if config.serving is not None or inspect_deployment(home).uses_policy:
        raise ConfigError(
            "the Dask engine judges raw model outputs only, but taskclf serves this deployment through "
            "models/inference_policy.json (calibrator and reject threshold) or the config's serving: section "
            "asks for one: run this retrain with --engine local, which judges it as served"
        )


def _run_retrain_on_dask(
    home: Home, request: RetrainRequest, config: RetrainConfig, compute: ComputeConfig, date_from: date,
    date_to: date, progress: ProgressCallback | None,
) -> RetrainResult:
    """The same retrain on a Dask cluster (compute.engine dask, or --engine/--scheduler)."""
    from taskclf_core.train.dask.pipeline import run_dask_retrain_pipeline

    if request.synthetic:
        raise ConfigError(
            "the Dask engine reads a data directory, not a synthetic team in memory: write the team with "
            "`taskclf data synthesize --out DIR` and pass --data-dir DIR, or use --engine local"
        )
    if progress is not None:
        progress("loading", 0.0)
    return run_dask_retrain_pipeline(
        config, compute,
        data_dir=Path(request.data_dir) if request.data_dir is not None else home.default_data_dir,
        date_from=date_from, date_to=date_to, user_id=request.user_id,
        models_dir=home.models_dir, out_dir=home.artifacts_dir, force=request.force, dry_run=request.dry_run,
        holdout_user_fraction=request.holdout_fraction, reject_threshold=request.reject_threshold,
        progress=progress, requested=request.requested(),
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
    home: Home, *, config_path: Path | None = None, calibrator_store: Path | None = None, announce: bool = False,
) -> dict[str, Any]:
    """Whether a global retrain (and a calibrator update, when a store is named) is due.

    Args:
        announce: Also send ``retrain_due`` / ``calibrator_due`` to the targets that want them
            (each once per due period; ``console.schedule.announce_due``).
    """
    _, config = resolve_config(home, config_path)
    if announce:
        from taskclf_core.console.schedule import announce_due

        announce_due(home, config)
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
    home: Home, run_id: str, *, approver: str, note: str, config_path: Path | None = None,
    actor: Identity | None = None, origin: Literal["local", "cli"] = "local",
    looked_at: Sequence[str] | None = None,
) -> HistoryEntry | PendingApproval:
    """Sign off a run with the effective config's ``auto_promote`` (see registry.promote).

    A run id that names no readable run is refused before the registry is touched (no
    ``models/`` folder or lock file appears in a home that has none). The config's
    ``access:`` section applies (``registry.approve.approve``): the actor must be an
    approver, and with ``required_approvals: 2`` the first sign-off is returned as a
    :class:`PendingApproval` and the second, from a different person, completes it.

    Args:
        actor: Who signs off when signed in (team mode; the session must be alive); None:
            ``approver`` as typed, from ``origin``: the local app ("local, not
            authenticated") or the CLI, both with the OS user (one approval per OS user).
    """
    from taskclf_core.console.access import acting
    from taskclf_core.registry.approve import approve
    from taskclf_core.registry.runs import read_run

    _, config = resolve_config(home, config_path)
    read_run(home, run_id)
    actor, note = acting(home, actor, approver=approver, note=note, verb="promote", policy=config.access, origin=origin)
    return approve(
        home, run_id, actor=actor, note=note, auto_promote=config.auto_promote, policy=config.access,
        looked_at=looked_at,
    )


def expected_champion_option(text: str | None) -> str | None | AnyChampion:
    """``--expect-champion`` as a rollback's compare-and-swap expects it: not given, no check
    (:data:`ANY_CHAMPION`); ``"none"``, no champion (None); else the model id (validated)."""
    from taskclf_core.registry.runids import validate_model_id

    if text is None:
        return ANY_CHAMPION
    return None if text == "none" else validate_model_id(text)


def rollback_model(
    home: Home, model_id: str, *, approver: str, note: str,
    expected_champion: str | None | AnyChampion = ANY_CHAMPION,
    actor: Identity | None = None, origin: Literal["local", "cli"] = "local",
) -> HistoryEntry | PendingApproval:
    """Roll back to a promoted model (see registry.rollback), refused before any file is touched
    when the home has no models folder. The one rollback call of the CLI and the History page.

    The two-person rule applies as to a promotion (``registry.approve.rollback_as``), so the
    config must be readable: an invalid one is refused (the rule in force is unknown).

    Args:
        expected_champion: The champion the rollback must replace (compare-and-swap), as
            ``registry.rollback`` takes it: a model id, None for "no champion", or
            :data:`ANY_CHAMPION` for no check.
        actor: Who decides, as for :func:`promote_run` (approvers only when signed in).
    """
    from taskclf_core.console.access import acting
    from taskclf_core.registry.approve import rollback_as
    from taskclf_core.registry.runids import validate_model_id

    model_id = validate_model_id(model_id)
    if not home.models_dir.is_dir():
        raise PromotionRefused(
            f"there is no models folder at {home.models_dir}, so no model to roll back to "
            "(set TASKCLF_HOME or --models-dir to the home's models folder)"
        )
    _, config = resolve_config(home, None)
    actor, note = acting(home, actor, approver=approver, note=note, verb="roll back", policy=config.access, origin=origin)
    return rollback_as(home, model_id, actor=actor, note=note, policy=config.access, expected_champion=expected_champion)


def runs_table(home: Home, *, outcome: str | None = None) -> list[dict[str, Any]]:
    """Runs, newest first, with their effective state, as rows for a table or JSON.

    ``state`` and ``outcome`` are effective (a run signed off since it finished is
    ``promoted``; see :mod:`taskclf_core.console.read.runstate`); ``recorded_outcome`` is what
    its ``decision.json`` recorded, kept as evidence; ``history`` says what happened to it
    after it finished (by whom, when, with the note). Broken runs say why.

    Args:
        outcome: Only runs with this effective outcome (one of ``runstate.OUTCOMES``).

    Raises:
        ConfigError: ``outcome`` is not one of them.
    """
    from taskclf_core.console.formatting import sentences
    from taskclf_core.console.read.runstate import OUTCOMES, run_rows

    if outcome is not None and outcome not in OUTCOMES:
        raise ConfigError(f"unknown outcome {outcome!r}; expected one of: {', '.join(OUTCOMES)}")
    with registry_snapshot(home) as snap:  # one read of the registry for the listing
        rows, _, _ = run_rows(snap)
    return [
        {
            "run_id": r.run_id,
            "state": r.state.label,
            "outcome": r.outcome,
            "recorded_outcome": r.state.recorded,
            "macro_f1": round(r.decision.macro_f1, 4) if r.decision else None,
            "gates": r.decision.gates_summary if r.decision else "",
            "champion_compared": r.compared_against,
            "finished_at": r.decision.finished_at if r.decision else None,
            "history": sentences(r.state.sentences(r.run_id, full_notes=True)),
            "problem": r.broken,
        }
        for r in rows
        if outcome is None or r.outcome == outcome
    ]


def models_listing(home: Home) -> tuple[list[dict[str, Any]], list[str], list[dict[str, Any]]]:
    """``taskclf train models`` from one read of the registry: the promoted models as rows;
    every registry file that could not be read and why (pointer, history lines, bundles, the
    deployment), so an empty or short table is never silent; and what each taskclf serving
    path serves now (model, calibrator, thresholds).

    ``served_by`` names the taskclf paths that serve each model now.
    """
    from taskclf_core.console.read.deployview import deployment_view
    from taskclf_core.registry.listing import inspect_models

    with registry_snapshot(home) as snap:
        report = inspect_models(home)
        view = deployment_view(snap)
    served_by: dict[str, list[str]] = {}
    for row in view.rows:
        served_by.setdefault(row.model, []).append(row.path)
    rows = [
        {
            "model_id": m.model_id,
            "champion": m.is_champion,
            "served_by": "; ".join(served_by.get(m.model_id, [])) or None,
            "macro_f1": round(m.metrics.macro_f1, 4) if m.metrics else None,
            "trained": f"{m.metadata.train_date_from}..{m.metadata.train_date_to}" if m.metadata else None,
            "created_at": m.metadata.created_at if m.metadata else None,
            "origin": m.origin,
            "integrity": m.integrity,
            "rollback_target": m.rollback_target,
            "problem": m.broken or m.leftover,
        }
        for m in report.models
    ]
    problems = [*report.problems, *(f"{p.what}. Fix: {p.fix}" for p in view.problems if p.severity != "note")]
    return rows, problems, view.rows_as_dicts()


def recover_change(home: Home) -> HistoryEntry | None:
    """Complete a change stopped between its policy and pointer writes (None: nothing to do)."""
    from taskclf_core.registry.deploychange import complete_interrupted_change
    from taskclf_core.registry.pointer import registry_lock

    with registry_lock(home):
        return complete_interrupted_change(home)


def history_report(home: Home) -> tuple[list[dict[str, Any]], list[str]]:
    """The champion history that took effect (newest first) and what was left out and why:
    entries whose pointer move never happened, torn or invalid lines, a broken chain."""
    from taskclf_core.console.access import signed_by
    from taskclf_core.console.read.deployview import describe_change

    with registry_snapshot(home) as snap:  # one read of the registry for the listing
        report = snap.history
    rows = [
        {
            "time": e.time, "action": e.action, "approver": e.approver, "signed_off_by": signed_by(e), "note": e.note,
            "previous_champion": e.previous_champion, "new_champion": e.new_champion,
            "dataset_hash": e.dataset_hash, "gates": e.gates_summary, "macro_f1": e.macro_f1,
            "deployment": describe_change(e.deployment_before, e.deployment_after) or None,
        }
        for e in report.entries
    ]
    return rows, list(report.problems)
