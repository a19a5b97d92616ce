"""The ``taskclf`` command line: a thin layer over the library.

Each command parses its options, makes one library call and renders the result.

Exit codes: 0 when the command completed (for ``retrain``, whatever the outcome: not_due,
dry_run, rejected, awaiting_signoff or promoted); 2 for bad input or a refused action
(one line on stderr naming the problem: config, data, run id, promotion refusal, another
retrain running); 1 for an internal failure (a bug: please report it).
"""

from __future__ import annotations

from taskclf_core.console.cli import runs, setup, signoff  # noqa: F401  (each registers its commands)
from taskclf_core.console.cli.base import app


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
