"""The ``taskclf`` command line: a thin layer over the library.

Each command parses its options, makes one library call and renders the result.

Exit codes: 0 when the command completed (for ``retrain``, whatever the outcome: not_due,
dry_run, rejected, awaiting_signoff or promoted); 2 for bad input or a refused action
(one line on stderr naming the problem: config, data, run id, promotion refusal, another
retrain running); 1 for an internal failure (a bug: please report it).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from taskclf_core.errors import TaskclfError
from taskclf_core.paths import Home

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2
EPILOG = "Exit codes: 0 completed (any outcome), 2 bad input or refused (one line on stderr), 1 internal failure."

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__, epilog=EPILOG)
train_app = typer.Typer(no_args_is_help=True, help="Retrain, review, promote and roll back models.", epilog=EPILOG)
data_app = typer.Typer(no_args_is_help=True, help="Write data in taskclf's data-directory layout.", epilog=EPILOG)
app.add_typer(train_app, name="train")
app.add_typer(data_app, name="data")

# Piped output (scripts, CI logs) gets wide tables instead of rich's 80-column default.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 240)
err = Console(stderr=True, highlight=False, soft_wrap=True)

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="Retrain config YAML [default: <home>/configs/retrain.yaml].")]
ModelsOpt = Annotated[Path | None, typer.Option("--models-dir", help="Folder of promoted models [default: <home>/models].")]
OutOpt = Annotated[Path | None, typer.Option("--out-dir", help="Folder for runs [default: <home>/artifacts].")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    err.print(f"error: {message}", markup=False)
    raise typer.Exit(code)


@contextmanager
def _errors() -> Iterator[None]:
    """Library errors → one line and exit 2; anything else → one line and exit 1."""
    try:
        yield
    except TaskclfError as exc:
        _fail(str(exc).replace("\n", "; "))
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as exc:  # a bug: say so in one line, keep the traceback for debugging
        if os.environ.get("TASKCLF_DEBUG"):
            raise
        _fail(f"internal error ({type(exc).__name__}: {exc}); set TASKCLF_DEBUG=1 for the traceback", EXIT_INTERNAL)


def _home(models_dir: Path | None = None, out_dir: Path | None = None) -> Home:
    return Home.resolve(models_dir=models_dir, out_dir=out_dir)


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold", no_wrap=column in ("run_id", "model_id", "gate", "new_champion"))
    for row in rows:
        table.add_row(*["" if v is None else str(v) for v in row])
    out.print(table)


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


# --------------------------------------------------------------------------- train


@train_app.command("check-retrain", epilog=EPILOG)
def check_retrain(
    config: ConfigOpt = None,
    models_dir: ModelsOpt = None,
    calibrator_store: Annotated[Path | None, typer.Option("--calibrator-store", help="Calibrator store folder (with store.json).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Say whether a global retrain (and a calibrator update) is due."""
    from taskclf_core.console.service import cadence_report

    with _errors():
        report = cadence_report(_home(models_dir), config_path=config, calibrator_store=calibrator_store)
    if as_json:
        _print_json(report)
        return
    retrain = report["retrain"]
    out.print(f"Global retrain: {'DUE' if retrain['due'] else 'not due'} ({retrain['reason']})", markup=False)
    if report.get("calibrator") is not None:
        cal = report["calibrator"]
        out.print(f"Calibrator update: {'DUE' if cal['due'] else 'not due'} ({cal['reason']})", markup=False)


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
    users: Annotated[int, typer.Option("--users", min=1, max=500, help="Synthetic team size.")] = 5,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Synthetic data seed.")] = 0,
    date_from: Annotated[str | None, typer.Option("--from", help="First day YYYY-MM-DD [default: lookback before --to].")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Last day YYYY-MM-DD [default: today, UTC].")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="taskclf data directory [default: <home>/data/processed].")] = None,
    user_id: Annotated[str | None, typer.Option("--user-id", help="User id for schema v2 files (they carry none).")] = None,
    models_dir: ModelsOpt = None,
    out_dir: OutOpt = None,
    holdout_fraction: Annotated[float, typer.Option("--holdout-fraction", min=0.0, max=0.99, help="Fraction of users held out for test.")] = 0.0,
    reject_threshold: Annotated[float, typer.Option("--reject-threshold", min=0.01, max=0.99, help="Reject threshold.")] = 0.55,
    as_json: JsonOpt = False,
) -> None:
    """Run the retrain pipeline and print the snapshot, every gate and the outcome."""
    from taskclf_core.console.service import RetrainRequest, run_retrain

    with _errors():
        request = _request(RetrainRequest, config_path=config, force=force, dry_run=dry_run, synthetic=synthetic,
                           scenario=scenario, users=users, seed=seed, date_from=_date(date_from, "--from"),
                           date_to=_date(date_to, "--to"), data_dir=data_dir, user_id=user_id,
                           holdout_fraction=holdout_fraction, reject_threshold=reject_threshold)
        report, stop = _progress_reporter(not as_json and err.is_terminal)
        try:
            result = run_retrain(_home(models_dir, out_dir), request, progress=report)
        finally:
            stop()
    if as_json:
        _print_json(result.model_dump(mode="json"))
        return
    _render_result(result)


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise TaskclfError(f"{option} must be a date YYYY-MM-DD; got {value!r}") from None


def _request(cls: Any, **fields: Any) -> Any:
    from pydantic import ValidationError

    try:
        return cls(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise TaskclfError(f"{'.'.join(map(str, first['loc'])) or 'request'}: {first['msg']}") from None


def _render_result(result: Any) -> None:
    snap = result.dataset_snapshot
    if result.outcome == "not_due":
        out.print(f"Outcome: not_due. {result.reason}", markup=False)
        return
    out.print(
        f"Snapshot: dataset {snap.dataset_hash}, {snap.row_count} labelled windows of {snap.feature_rows}, "
        f"{snap.user_count} users, {snap.date_from}..{snap.date_to}, schema {snap.schema_version}; "
        f"train {snap.train_rows} / val {snap.val_rows} / test {snap.test_rows}",
        markup=False,
    )
    _table("Gates", ["gate", "kind", "status", "value", "threshold", "detail"],
           [[g.name, g.kind, g.status.upper(), _fmt(g.value), g.threshold, g.detail] for g in result.gates])
    champion = f"champion {result.champion_source} {_fmt(result.champion_macro_f1)}" if result.champion_source else "no champion"
    out.print(
        f"macro-F1: challenger {_fmt(result.challenger_macro_f1)}, {champion}, baseline {_fmt(result.baseline_macro_f1)}",
        markup=False,
    )
    if result.bootstrap is not None:
        b = result.bootstrap
        out.print(f"macro-F1 difference {b.difference:+.4f} (95% CI {b.low:+.4f} .. {b.high:+.4f})", markup=False)
    out.print(f"Outcome: {result.outcome}. {result.reason}", markup=False)
    out.print(f"Run: {result.run_id} ({result.run_dir})", markup=False)


@train_app.command("promote", epilog=EPILOG)
def promote(
    run_id: Annotated[str, typer.Argument(help="Run id to promote (see `taskclf train runs`).")],
    approver: Annotated[str, typer.Option("--approver", help="Who signs off (required).")],
    note: Annotated[str, typer.Option("--note", help="Why (required).")],
    config: ConfigOpt = None,
    models_dir: ModelsOpt = None,
    out_dir: OutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Sign off a run awaiting sign-off and make it the champion."""
    from taskclf_core.console.service import promote_run

    with _errors():
        entry = promote_run(_home(models_dir, out_dir), run_id, approver=approver, note=note, config_path=config)
    if as_json:
        _print_json(entry.model_dump(mode="json"))
        return
    out.print(f"Promoted {entry.new_champion} (was {entry.previous_champion or 'none'}) by {entry.approver}.", markup=False)


@train_app.command("rollback", epilog=EPILOG)
def rollback(
    run_id: Annotated[str, typer.Argument(help="A previously promoted model (see `taskclf train models`).")],
    approver: Annotated[str, typer.Option("--approver", help="Who signs off (required).")],
    note: Annotated[str, typer.Option("--note", help="Why (required).")],
    models_dir: ModelsOpt = None,
    out_dir: OutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make a previously promoted model the champion again."""
    from taskclf_core.registry.listing import rollback as rollback_model

    with _errors():
        entry = rollback_model(_home(models_dir, out_dir), run_id, approver=approver, note=note)
    if as_json:
        _print_json(entry.model_dump(mode="json"))
        return
    out.print(f"Rolled back to {entry.new_champion} (was {entry.previous_champion or 'none'}) by {entry.approver}.", markup=False)


@train_app.command("runs", epilog=EPILOG)
def runs(
    outcome: Annotated[str | None, typer.Option("--outcome", help="Only runs with this outcome.")] = None,
    models_dir: ModelsOpt = None,
    out_dir: OutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List runs, newest first."""
    from taskclf_core.console.service import runs_table

    with _errors():
        rows = runs_table(_home(models_dir, out_dir), outcome=outcome)
    if as_json:
        _print_json(rows)
        return
    _table("Runs", list(rows[0]) if rows else ["run_id"], [list(r.values()) for r in rows])


@train_app.command("models", epilog=EPILOG)
def models(models_dir: ModelsOpt = None, out_dir: OutOpt = None, as_json: JsonOpt = False) -> None:
    """List promoted models; the champion is marked, broken bundles say why."""
    from taskclf_core.console.service import models_table

    with _errors():
        rows = models_table(_home(models_dir, out_dir))
    if as_json:
        _print_json(rows)
        return
    _table("Models", list(rows[0]) if rows else ["model_id"], [list(r.values()) for r in rows])


@train_app.command("history", epilog=EPILOG)
def history(models_dir: ModelsOpt = None, out_dir: OutOpt = None, as_json: JsonOpt = False) -> None:
    """The champion history (newest first): every promotion and rollback."""
    from taskclf_core.console.service import history_table

    with _errors():
        rows = history_table(_home(models_dir, out_dir))
    if as_json:
        _print_json(rows)
        return
    _table("Champion history", list(rows[0]) if rows else ["time"], [list(r.values()) for r in rows])


# --------------------------------------------------------------------------- data


@data_app.command("synthesize", epilog=EPILOG)
def synthesize(
    out_dir: Annotated[Path, typer.Option("--out", help="Data directory to write (taskclf layout).")],
    scenario: Annotated[str, typer.Option("--scenario", help="default, drift, noisy or sparse.")] = "default",
    users: Annotated[int, typer.Option("--users", min=1, max=500)] = 5,
    days: Annotated[int, typer.Option("--days", min=1, max=3650)] = 30,
    seed: Annotated[int, typer.Option("--seed", min=0)] = 0,
    date_to: Annotated[str | None, typer.Option("--to", help="Last day YYYY-MM-DD [default: today, UTC].")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the taskclf data already in --out.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write a synthetic team as a taskclf data directory (features per day + labels)."""
    from taskclf_core.data.synthetic import synthesize_data_dir

    with _errors():
        last = _date(date_to, "--to")
        team = synthesize_data_dir(out_dir, scenario, users=users, days=days, date_to=last, seed=seed,
                                   overwrite=overwrite)
    summary = {"out": str(out_dir), "scenario": scenario, "users": users, "rows": len(team.features),
               "spans": len(team.spans), "date_from": str(team.date_from), "date_to": str(team.date_to)}
    if as_json:
        _print_json(summary)
        return
    out.print(f"Wrote {summary['rows']} windows and {summary['spans']} spans ({summary['date_from']}..{summary['date_to']}) to {out_dir}", markup=False)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
