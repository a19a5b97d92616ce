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
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
import typer.core
from rich.console import Console
from rich.markup import escape as escape_markup
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from taskclf_core.console.request import MAX_DAYS, MAX_USERS, MIN_DAYS, MIN_USERS
from taskclf_core.data.schema import DEFAULT_REJECT_THRESHOLD, SCHEMA_DESCRIPTIONS
from taskclf_core.errors import TaskclfError
from taskclf_core.paths import Home
from taskclf_core.times import format_utc

try:  # typer >= 0.20 parses with its own copy of click; older versions use click itself
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover
    from click import exceptions as click_errors  # type: ignore[no-redef]

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2
EPILOG = "Exit codes: 0 completed (any outcome), 2 bad input or refused (one line on stderr), 1 internal failure."

# Piped output (scripts, CI logs) is never folded: one table row per line, whatever its width.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 100_000)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _help(text: str) -> str:
    """Help text shown literally: typer renders help as Rich markup, which would swallow
    ``[default: <home>/...]`` as a tag."""
    return escape_markup(text) if typer.core.HAS_RICH else text


def _literal(value: object) -> str:
    """``value`` as text that has no effect on a terminal: control, format (bidi,
    zero-width), line-separator and surrogate characters are shown as ``\\x1b``/``\\u202e``."""
    text = str(value)
    if text.isprintable():
        return text
    shown = []
    for ch in text:
        if ch == " " or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            shown.append(ch)
        else:
            code = ord(ch)
            shown.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(shown)


class _OneLineErrors(typer.core.TyperGroup):
    """Usage errors (unknown option, missing argument) as one ``error:`` line on stderr, exit 2,
    instead of typer's boxed panel."""

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, complete_var: str | None = None,
        standalone_mode: bool = True, **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click_errors.NoArgsIsHelpError as exc:  # bare `taskclf train`: the help, as before
            shown = exc.format_message()
            if shown.strip():
                sys.stdout.write(shown + "\n")
            sys.exit(EXIT_BAD_INPUT)
        except click_errors.ClickException as exc:
            ctx = getattr(exc, "ctx", None)
            where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            message = " ".join(exc.format_message().split()).rstrip(".")
            err.print(Text(_literal(f"error: {message}{where}")))
            sys.exit(exc.exit_code)
        except typer.Abort:
            err.print("error: aborted", markup=False)
            sys.exit(EXIT_INTERNAL)
        sys.exit(code if isinstance(code, int) else EXIT_OK)


app = typer.Typer(cls=_OneLineErrors, no_args_is_help=True, add_completion=False, help=__doc__, epilog=EPILOG)
train_app = typer.Typer(no_args_is_help=True, help="Retrain, review, promote and roll back models.", epilog=EPILOG)
data_app = typer.Typer(no_args_is_help=True, help="Write data in taskclf's data-directory layout.", epilog=EPILOG)
app.add_typer(train_app, name="train")
notify_app = typer.Typer(no_args_is_help=True, help="Notifications: webhooks, chat and email (the notify: section).", epilog=EPILOG)
app.add_typer(data_app, name="data")
app.add_typer(notify_app, name="notify")

ConfigOpt = Annotated[Path | None, typer.Option("--config", help=_help("Retrain config YAML [default: <home>/configs/retrain.yaml; the reference defaults when it does not exist]."))]
ModelsOpt = Annotated[Path | None, typer.Option("--models-dir", help=_help("Folder of promoted models [default: <home>/models]."))]
OutOpt = Annotated[Path | None, typer.Option("--out-dir", help=_help("Folder for runs [default: <home>/artifacts]."))]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]
SchemaOpt = Annotated[str, typer.Option("--schema", help="Schema version of the synthetic team: " + "; ".join(f"{v} ({d})" for v, d in SCHEMA_DESCRIPTIONS.items()) + ".")]
UsersOpt = Annotated[int, typer.Option("--users", min=MIN_USERS, max=MAX_USERS, help="Synthetic team size.")]
FromOpt = Annotated[str | None, typer.Option("--from", help=_help("First day YYYY-MM-DD [default: lookback before --to]."))]
ToOpt = Annotated[str | None, typer.Option("--to", help=_help("Last day YYYY-MM-DD [default: today, UTC]."))]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help=_help("taskclf data directory [default: <home>/data/processed]."))]
UserIdOpt = Annotated[str | None, typer.Option("--user-id", help="User id for schema v2 files (they carry none).")]
SeedOpt = Annotated[int, typer.Option("--seed", min=0, help="Synthetic data seed.")]
IfDueOpt = Annotated[bool, typer.Option("--if-due", help="Only when due (for a timer): otherwise one line, exit 0, nothing started; also when a retrain is already running.")]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Why you start it: shown on Review, sent with its events, kept in the history.")]


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    err.print(Text(_literal(f"error: {message}")))
    raise typer.Exit(code)


def _say(message: str) -> None:
    """One line of output, shown literally (it may carry text from files or people)."""
    out.print(Text(_literal(message)))


@contextmanager
def _errors() -> Iterator[None]:
    """Library errors → one line and exit 2; anything else → one line and exit 1."""
    try:
        yield
    except TaskclfError as exc:
        _fail(str(exc).replace("\n", "; "))
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except OSError as exc:  # the file system refused (not a folder, no permission): the path and why
        where = f"{exc.filename}: " if exc.filename else ""
        _fail(f"{where}{exc.strerror or exc}")
    except Exception as exc:  # a bug: say so in one line, keep the traceback for debugging
        if os.environ.get("TASKCLF_DEBUG"):
            raise
        _fail(f"internal error ({type(exc).__name__}: {exc}); set TASKCLF_DEBUG=1 for the traceback", EXIT_INTERNAL)


def _home(models_dir: Path | None = None, out_dir: Path | None = None) -> Home:
    from taskclf_core.console.service import resolve_home

    return resolve_home(models_dir, out_dir)


def _note_defaults(home: Home, config: Path | None) -> None:
    from taskclf_core.console.service import default_config_notice

    notice = default_config_notice(home, config)
    if notice is not None:
        err.print(Text(_literal(notice)))


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


#: Columns holding ISO 8601 times: tables show them as every page does (``--json`` keeps ISO).
_TIME_COLUMNS = frozenset({"finished_at", "created_at", "time"})


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold", no_wrap=column in ("run_id", "model_id", "gate", "new_champion"))
    for row in rows:
        shown = [format_utc(v) if c in _TIME_COLUMNS and isinstance(v, str) else v for c, v in zip(columns, row, strict=True)]
        table.add_row(*[Text("" if v is None else _literal(v)) for v in shown])
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


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise TaskclfError(f"{option} must be a date YYYY-MM-DD; got {value!r}") from None


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


def _names(entry: Any) -> str:
    """Every approver of a change (``"alice and bob"``); the history entry has when and how."""
    from taskclf_core.console.read.runstate import names_of

    return names_of(entry)


def _say_pending(entry: Any, as_json: bool) -> None:
    """Render a sign-off kept pending by the two-person rule (another approver completes it)."""
    if as_json:
        _print_json({"pending": True, "kind": entry.kind, "subject": entry.subject, "run_id": entry.subject,
                     "approval": entry.approval.model_dump(mode="json"),
                     "approvals": len(entry.state.valid), "required": entry.state.required})
    else:
        _say(entry.describe() + ".")


@train_app.command("promote", epilog=EPILOG)
def promote(
    run_id: Annotated[str, typer.Argument(help="Run id to promote (see `taskclf train runs`).")],
    approver: Annotated[str, typer.Option("--approver", help="Who signs off (required).")],
    note: Annotated[str, typer.Option("--note", help="Why (required).")],
    looked_at: Annotated[list[str] | None, typer.Option("--looked-at", help="A person you looked at first (repeat; the run's proposed people and as many as gates.spot_check_users asks; the report has their timelines).")] = None,
    config: ConfigOpt = None,
    models_dir: ModelsOpt = None,
    out_dir: OutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Sign off a run awaiting sign-off and make it the champion.

    Under the two-person rule (access.required_approvals: 2) the first sign-off is kept
    pending; the CLI counts as one approver per OS user, whatever --approver says.
    """
    from taskclf_core.console.service import promote_run
    from taskclf_core.registry.approve import PendingApproval

    with _errors():
        home = _home(models_dir, out_dir)
        _note_defaults(home, config)
        entry = promote_run(home, run_id, approver=approver, note=note, config_path=config, origin="cli",
                            looked_at=looked_at)
    if isinstance(entry, PendingApproval):
        _say_pending(entry, as_json)
        return
    if as_json:
        _print_json(entry.model_dump(mode="json"))
        return
    if entry.action == "recalibrate":
        _say(f"Applied calibrator refit {entry.run_id}: {entry.new_champion} keeps serving with the refitted "
             f"calibrator and threshold, by {_names(entry)}.")
        return
    _say(f"Promoted {entry.new_champion} (was {entry.previous_champion or 'none'}) by {_names(entry)}.")


@train_app.command("rollback", epilog=EPILOG)
def rollback(
    run_id: Annotated[str, typer.Argument(help="A previously promoted model (see `taskclf train models`).")],
    approver: Annotated[str, typer.Option("--approver", help="Who signs off (required).")],
    note: Annotated[str, typer.Option("--note", help="Why (required).")],
    expect_champion: Annotated[str | None, typer.Option("--expect-champion", help="Refuse unless this model (or 'none') is the champion now: the one you decided to replace.")] = None,
    models_dir: ModelsOpt = None,
    out_dir: OutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make a previously promoted model the champion again.

    Under the two-person rule (access.required_approvals: 2) the first sign-off is kept
    pending, as for a promotion; the CLI counts as one approver per OS user.
    """
    from taskclf_core.console.service import expected_champion_option, rollback_model
    from taskclf_core.registry.approve import PendingApproval

    with _errors():
        entry = rollback_model(_home(models_dir, out_dir), run_id, approver=approver, note=note,
                               expected_champion=expected_champion_option(expect_champion), origin="cli")
    if isinstance(entry, PendingApproval):
        _say_pending(entry, as_json)
        return
    if as_json:
        _print_json(entry.model_dump(mode="json"))
        return
    _say(f"Rolled back to {entry.new_champion} (was {entry.previous_champion or 'none'}) by {_names(entry)}.")


@train_app.command("runs", epilog=EPILOG)
def runs(
    outcome: Annotated[str | None, typer.Option("--outcome", help="Only runs with this effective outcome: awaiting_signoff, promoted (signed off or automatic), rejected, dry_run or broken.")] = None,
    models_dir: ModelsOpt = None,
    out_dir: OutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List runs, newest first, with their effective state (a signed-off run is promoted)."""
    from taskclf_core.console.service import runs_table

    with _errors():
        home = _home(models_dir, out_dir)
        rows = runs_table(home, outcome=outcome)
    if as_json:
        _print_json(rows)
        return
    if not rows:
        _say(f"No runs{f' with outcome {outcome}' if outcome else ''} in {home.runs_dir}.")
        return
    _table("Runs", list(rows[0]), [list(r.values()) for r in rows])


@train_app.command("models", epilog=EPILOG)
def models(models_dir: ModelsOpt = None, out_dir: OutOpt = None, as_json: JsonOpt = False) -> None:
    """List promoted models; the champion is marked, broken bundles say why; files that
    could not be read are named on stderr."""
    from taskclf_core.console.service import models_listing

    with _errors():
        home = _home(models_dir, out_dir)
        rows, problems, paths = models_listing(home)
    for problem in problems:
        err.print(Text(_literal(f"Problem: {problem}")))
    if as_json:
        _print_json(rows)
        return
    if not rows:
        _say(f"No promoted models in {home.models_dir}.")
        return
    _table("Models", list(rows[0]), [list(r.values()) for r in rows])
    _table("What taskclf serves now", list(paths[0]), [list(r.values()) for r in paths])


@train_app.command("history", epilog=EPILOG)
def history(models_dir: ModelsOpt = None, out_dir: OutOpt = None, as_json: JsonOpt = False) -> None:
    """The champion history (newest first): every promotion and rollback that took effect,
    then any line left out and why (a change that never took effect, a torn line)."""
    from taskclf_core.console.service import history_report

    with _errors():
        home = _home(models_dir, out_dir)
        rows, problems = history_report(home)
    if as_json:
        _print_json(rows)
        return
    if rows:
        _table("Champion history", list(rows[0]), [list(r.values()) for r in rows])
    else:
        _say(f"No champion changes yet in {home.models_dir}.")
    for problem in problems:
        _say(f"Left out: {problem}")


# --------------------------------------------------------------------------- data


@data_app.command("synthesize", epilog=EPILOG)
def synthesize(
    out_dir: Annotated[Path, typer.Option("--out", help="Data directory to write (taskclf layout).")],
    scenario: Annotated[str, typer.Option("--scenario", help="default, drift, noisy or sparse.")] = "default",
    users: UsersOpt = 5,
    days: Annotated[int, typer.Option("--days", min=MIN_DAYS, max=MAX_DAYS, help="Days of data.")] = 30,
    seed: SeedOpt = 0,
    date_to: ToOpt = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the taskclf data already in --out.")] = False,
    schema_version: SchemaOpt = "v3",
    as_json: JsonOpt = False,
) -> None:
    """Write a synthetic team as a taskclf data directory (features per day + labels)."""
    from taskclf_core.console.service import synthesize_data

    with _errors():
        summary = synthesize_data(out_dir, scenario=scenario, users=users, days=days,
                                  date_to=_date(date_to, "--to"), seed=seed, overwrite=overwrite,
                                  schema_version=schema_version)
    if as_json:
        _print_json(summary)
        return
    _say(f"Wrote {summary['rows']} windows and {summary['spans']} spans ({summary['date_from']}..{summary['date_to']}) to {out_dir}")


# --------------------------------------------------------------------------- notify


@notify_app.command("test", epilog=EPILOG)
def notify_test(
    models_dir: ModelsOpt = None,
    out_dir: OutOpt = None,
) -> None:
    """Send a test event to every target of the notify: section and print one line per target.

    Exit 0 when every target got it; 2 when one did not (its line says why) or there is no target.
    """
    from taskclf_core.console.notifications import probe_targets

    with _errors():
        home = _home(models_dir, out_dir)
        results = probe_targets(home)
    if not results:
        _fail(f"no notification targets in {home.config_path} (add a notify: section with targets; see README "
              "\"Notifications\")")
    for result in results:
        _say(result.line())
    if any(r.record is None or r.record.status != "delivered" for r in results):
        raise typer.Exit(EXIT_BAD_INPUT)


# --------------------------------------------------------------------------- init


@app.command("init", epilog=EPILOG)
def init(
    home: Annotated[Path | None, typer.Option("--home", help=_help("Home folder [default: $TASKCLF_HOME, else the current folder]."))] = None,
) -> None:
    """Write the commented default configs/retrain.yaml into a home (never over an existing one)."""
    from taskclf_core.console.service import init_home

    with _errors():
        written = init_home(home)
    _say(f"Wrote the default config to {written}; edit it to change cadence, gates and training.")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
