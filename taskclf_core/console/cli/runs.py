"""``taskclf train``: whether a retrain is due, a retrain or a calibrator refit, and completing an interrupted change."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from taskclf_core.console.cli.base import (
    EPILOG,
    ConfigOpt,
    DataDirOpt,
    FromOpt,
    IfDueOpt,
    JsonOpt,
    ModelsOpt,
    OutOpt,
    ReasonOpt,
    SchemaOpt,
    SeedOpt,
    ToOpt,
    UserIdOpt,
    UsersOpt,
    _date,
    _errors,
    _fmt,
    _help,
    _home,
    _note_defaults,
    _print_json,
    _say,
    _table,
    err,
    train_app,
)
from taskclf_core.data.schema import DEFAULT_REJECT_THRESHOLD
from taskclf_core.paths import Home

# --------------------------------------------------------------------------- train


@train_app.command("check-retrain", epilog=EPILOG)
def check_retrain(
    config: ConfigOpt = None,
    models_dir: ModelsOpt = None,
    calibrator_store: Annotated[Path | None, typer.Option("--calibrator-store", help="Calibrator store folder (with store.json).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Say whether a global retrain (and a calibrator update) is due; when one is, tell the
    notification targets that want retrain_due / calibrator_due (once per due period)."""
    from taskclf_core.console.service import cadence_report

    with _errors():
        home = _home(models_dir)
        _note_defaults(home, config)
        report = cadence_report(home, config_path=config, calibrator_store=calibrator_store, announce=True)
    if as_json:
        _print_json(report)
        return
    retrain = report["retrain"]
    _say(f"Global retrain: {'DUE' if retrain['due'] else 'not due'} ({retrain['reason']})")
    if report.get("calibrator") is not None:
        cal = report["calibrator"]
        _say(f"Calibrator update: {'DUE' if cal['due'] else 'not due'} ({cal['reason']})")


def _progress_reporter(enabled: bool) -> tuple[Callable[[str, float], None] | None, Callable[[], None]]:
    if not enabled:
        return None, lambda: None
    progress = Progress(TextColumn("{task.description:<22}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                        TimeElapsedColumn(), console=err, transient=True)
    task = progress.add_task("starting", total=1.0)
    progress.start()

    def report(stage: str, fraction: float) -> None:
        progress.update(task, description=stage, completed=fraction)

    return report, progress.stop


@train_app.command("retrain", epilog=EPILOG)
def retrain(
    config: ConfigOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Skip the cadence check.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Evaluate and save for review; never promotable.")] = False,
    synthetic: Annotated[bool, typer.Option("--synthetic", help="Train on a synthetic team instead of a data directory.")] = False,
    scenario: Annotated[str, typer.Option("--scenario", help="Synthetic scenario: default (passes every gate), drift (regression gate fails), noisy (candidate gates fail), sparse (too few labels).")] = "default",
    users: UsersOpt = 5,
    seed: SeedOpt = 0,
    schema_version: SchemaOpt = "v3",
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    data_dir: DataDirOpt = None,
    user_id: UserIdOpt = None,
    models_dir: ModelsOpt = None,
    out_dir: OutOpt = None,
    holdout_fraction: Annotated[float, typer.Option("--holdout-fraction", help="Fraction of users held out for test, in [0, 1).")] = 0.0,
    reject_threshold: Annotated[float, typer.Option("--reject-threshold", help="Reject threshold, in (0, 1).")] = DEFAULT_REJECT_THRESHOLD,
    engine: Annotated[str | None, typer.Option("--engine", help=_help("Where to run: local (this process) or dask (a Dask cluster) [default: the config's compute.engine]."))] = None,
    scheduler: Annotated[str | None, typer.Option("--scheduler", help=_help("Dask scheduler: local (a cluster on this machine) or an address like tcp://host:8786; implies --engine dask [default: the config's compute.scheduler]."))] = None,
    if_due: IfDueOpt = False,
    reason: ReasonOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the retrain pipeline and print the snapshot, every gate and the outcome.

    With --if-due (for a timer, docs/SCHEDULING.md): one line and exit 0 when it is not due
    or a retrain is already running; the retrain, as usual, when it is due.
    """
    _start(dict(config_path=config, force=force, dry_run=dry_run, synthetic=synthetic, scenario=scenario,
                schema_version=schema_version, users=users, seed=seed, date_from=date_from, date_to=date_to,
                data_dir=data_dir, user_id=user_id, holdout_fraction=holdout_fraction,
                reject_threshold=reject_threshold, engine=engine, scheduler=scheduler, reason=reason),
           models_dir, out_dir, if_due=if_due, as_json=as_json)


@train_app.command("calibrate", epilog=EPILOG)
def calibrate(
    config: ConfigOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Refit even when the calibrator cadence is not due.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Evaluate and save for review; never applied.")] = False,
    synthetic: Annotated[bool, typer.Option("--synthetic", help="Refit on a synthetic team instead of a data directory.")] = False,
    scenario: Annotated[str, typer.Option("--scenario", help="Synthetic scenario.")] = "default",
    users: UsersOpt = 5,
    seed: SeedOpt = 0,
    schema_version: SchemaOpt = "v3",
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    data_dir: DataDirOpt = None,
    user_id: UserIdOpt = None,
    models_dir: ModelsOpt = None,
    out_dir: OutOpt = None,
    if_due: IfDueOpt = False,
    reason: ReasonOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Refit the champion's calibrator on recent labelled data: a run gated and signed off like a model
    (`taskclf train promote RUN_ID` applies it). --if-due as for retrain."""
    _start(dict(kind="calibrate", config_path=config, force=force, dry_run=dry_run, synthetic=synthetic,
                scenario=scenario, schema_version=schema_version, users=users, seed=seed, date_from=date_from,
                date_to=date_to, data_dir=data_dir, user_id=user_id, reason=reason),
           models_dir, out_dir, if_due=if_due, as_json=as_json)


def _start(fields: dict[str, Any], models_dir: Path | None, out_dir: Path | None, *, if_due: bool, as_json: bool) -> None:
    """The one body of ``retrain`` and ``calibrate``: check the request (``--from``/``--to`` as
    typed), run it (with --if-due only when due) and render the result."""
    from taskclf_core.console.service import build_request

    with _errors():
        days = {"date_from": _date(fields["date_from"], "--from"), "date_to": _date(fields["date_to"], "--to")}
        request = build_request(**{**fields, **days}, **_cli_starter())
        home = _home(models_dir, out_dir)
        _note_defaults(home, request.config_path)
        result = _run(home, request, if_due=if_due, as_json=as_json)
    if result is None:
        return
    if as_json:
        _print_json(result.model_dump(mode="json"))
        return
    _render_result(result)


def _cli_starter() -> dict[str, str]:
    """Who starts a run from the command line: the OS user (never typed)."""
    from taskclf_core.access.identity import os_user

    return {"started_by": f"OS user {os_user()}", "started_how": "cli"}


def _run(home: Home, request: Any, *, if_due: bool, as_json: bool) -> Any:
    """Run the retrain or refit (with --if-due: only when due); None when nothing started (said)."""
    from taskclf_core.console.schedule import run_if_due
    from taskclf_core.console.service import run_retrain

    report, stop = _progress_reporter(not as_json and err.is_terminal)
    try:
        if not if_due:
            return run_retrain(home, request, progress=report)
        scheduled = run_if_due(home, request, progress=report)
    finally:
        stop()
    if scheduled.result is None:
        if as_json:
            _print_json({"started": False, "reason": scheduled.skipped})
        else:
            _say(scheduled.skipped or "Nothing started.")
    return scheduled.result


@train_app.command("recover", epilog=EPILOG)
def recover(models_dir: ModelsOpt = None, out_dir: OutOpt = None) -> None:
    """Complete a promotion or rollback that stopped between writing the policy and active.json."""
    from taskclf_core.console.service import recover_change

    with _errors():
        done = recover_change(_home(models_dir, out_dir))
    _say(f"Completed the {done.action} of {done.new_champion}." if done else "Nothing to complete: every path agrees.")


def _render_result(result: Any) -> None:
    snap = result.dataset_snapshot
    if result.outcome == "not_due":
        _say(f"Outcome: not_due. {result.reason}")
        return
    _say(
        f"Snapshot: dataset {snap.dataset_hash}, {snap.row_count} labelled windows of {snap.feature_rows}, "
        f"{snap.user_count} users, {snap.date_from}..{snap.date_to}, schema {snap.schema_version}; "
        f"train {snap.train_rows} / val {snap.val_rows} / test {snap.test_rows}",
    )
    for warning in snap.data_warnings:
        _say(f"Data warning: {warning.message}")
    _table("Gates", ["gate", "kind", "status", "value", "threshold", "detail"],
           [[g.name, g.kind, g.status.upper(), _fmt(g.value), g.threshold, g.detail] for g in result.gates])
    champion = f"champion {result.champion_source} {_fmt(result.champion_macro_f1)}" if result.champion_source else "no champion"
    if result.baseline_macro_f1 is None and result.champion_source:  # a calibrator refit
        _say(f"served macro-F1 of {result.champion_source}: before {_fmt(result.champion_macro_f1)}, "
             f"after the refit {_fmt(result.challenger_macro_f1)}")
    else:
        _say(
            f"macro-F1: challenger {_fmt(result.challenger_macro_f1)}, {champion}, baseline {_fmt(result.baseline_macro_f1)}",
        )
    if result.bootstrap is not None:
        b = result.bootstrap
        _say(f"macro-F1 difference (challenger - champion) {b.difference:+.4f} "
             f"({b.level:.0%} CI {b.low:+.4f} to {b.high:+.4f})")
    _say(f"Outcome: {result.outcome}. {result.reason}")
    _say(f"Run: {result.run_id} ({result.run_dir})")


