"""``taskclf train``: promote, roll back, and the runs, models and history listings."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.text import Text

from taskclf_core.console.cli.base import (
    EPILOG,
    ConfigOpt,
    JsonOpt,
    ModelsOpt,
    OutOpt,
    _errors,
    _home,
    _literal,
    _note_defaults,
    _print_json,
    _say,
    _table,
    err,
    train_app,
)
from taskclf_core.console.read.runstate import names_of


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
             f"calibrator and threshold, by {names_of(entry)}.")
        return
    _say(f"Promoted {entry.new_champion} (was {entry.previous_champion or 'none'}) by {names_of(entry)}.")


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
    _say(f"Rolled back to {entry.new_champion} (was {entry.previous_champion or 'none'}) by {names_of(entry)}.")


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


