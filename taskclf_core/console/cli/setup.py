"""``taskclf data synthesize``, ``taskclf notify test`` and ``taskclf init``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from taskclf_core.console.cli.base import (
    EPILOG,
    EXIT_BAD_INPUT,
    JsonOpt,
    ModelsOpt,
    OutOpt,
    SchemaOpt,
    SeedOpt,
    ToOpt,
    UsersOpt,
    _date,
    _errors,
    _fail,
    _help,
    _home,
    _print_json,
    _say,
    app,
    data_app,
    notify_app,
)
from taskclf_core.console.request import MAX_DAYS, MIN_DAYS

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


