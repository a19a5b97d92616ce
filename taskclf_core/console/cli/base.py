"""What every command of the ``taskclf`` CLI shares: the apps, the options, one-line errors
and exit codes, and how results are printed."""

from __future__ import annotations

import json
import os
import sys
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
import typer.core
from rich.console import Console
from rich.markup import escape as escape_markup
from rich.table import Table
from rich.text import Text

from taskclf_core.console.request import MAX_USERS, MIN_USERS
from taskclf_core.data.schema import SCHEMA_DESCRIPTIONS
from taskclf_core.errors import TaskclfError
from taskclf_core.paths import Home
from taskclf_core.times import format_utc

try:  # typer >= 0.20 parses with its own copy of click; older versions use click itself
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover
    from click import exceptions as click_errors  # type: ignore[no-redef]

CLI_HELP = """The ``taskclf`` command line: a thin layer over the library.

Each command parses its options, makes one library call and renders the result.

Exit codes: 0 when the command completed (for ``retrain``, whatever the outcome: not_due,
dry_run, rejected, awaiting_signoff or promoted); 2 for bad input or a refused action
(one line on stderr naming the problem: config, data, run id, promotion refusal, another
retrain running); 1 for an internal failure (a bug: please report it).
"""
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


app = typer.Typer(cls=_OneLineErrors, no_args_is_help=True, add_completion=False, help=CLI_HELP, epilog=EPILOG)
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


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise TaskclfError(f"{option} must be a date YYYY-MM-DD; got {value!r}") from None
