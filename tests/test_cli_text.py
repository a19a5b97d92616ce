"""Text from people and files is printed literally by the CLI tables (issue 11 item 11, CLI part).

An approver or note with ANSI escapes, Rich markup, bidi or zero-width characters must have
no effect on a terminal: control and format characters are shown as ``\\x1b``/``\\u202e``,
everything else comes out as it was written. The history line is edited directly, as a
hostile or careless hand would; the registry still follows it (its change id is kept).
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from taskclf_core.console.cli import app

runner = CliRunner()
HIDDEN = ("Cc", "Cf", "Cs", "Zl", "Zp")


def cli(*args: str):
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result


def shown(text: str) -> str:
    """How the CLI must print ``text``: hidden characters as escapes, the rest as it is."""
    out = []
    for ch in text:
        if ch != " " and unicodedata.category(ch) in HIDDEN:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)


def rewrite_history(home: Path, approver: str, note: str) -> None:
    path = home / "models" / "active_history.jsonl"
    entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for entry in entries:
        entry["approver"], entry["note"] = approver, note
    path.write_text("".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8")


def assert_inert(output: str) -> None:
    """No character in the output can act on a terminal (only newlines separate lines)."""
    bad = [hex(ord(ch)) for ch in output if ch != "\n" and unicodedata.category(ch) in HIDDEN]
    assert bad == [], bad


def check_literal(home: Path, approver: str, note: str) -> None:
    rewrite_history(home, approver, note)
    history = cli("train", "history").stdout
    assert_inert(history)
    assert shown(approver) in history and shown(note) in history
    runs = cli("train", "runs").stdout
    assert_inert(runs)
    assert f"Signed off by {shown(approver)} on " in runs
    if note.strip():  # one full stop after the note, none after one that ends a sentence already (never "..")
        ends = note.rstrip().endswith((".", "!", "?", "…"))
        assert f"note: {shown(note)}{'' if ends else '.'}" in runs
    as_json = json.loads(cli("train", "history", "--json").stdout)
    assert (as_json[0]["approver"], as_json[0]["note"]) == (approver, note)


def test_terminal_escapes_and_markup_are_shown_not_obeyed(home_copy):
    approver = "\x1b[2J\x1b[31mmallory\x07"
    note = "[bold red]Fix: run rm -rf models[/] \u202eevil\u200b \x9b31m"
    check_literal(home_copy, approver, note)
    history = cli("train", "history").stdout
    assert "\\x1b[2J\\x1b[31mmallory\\x07" in history
    assert "[bold red]Fix: run rm -rf models[/] \\u202eevil\\u200b \\x9b31m" in history


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    approver=st.text(st.characters(codec="utf-8"), min_size=1, max_size=30),
    note=st.text(st.characters(codec="utf-8"), max_size=60),
)
@example(approver="[link=https://evil.example]x[/link]", note=":warning: **bold** <img src=x>")
@example(approver="\u200b\u200d", note="line one\nline two\r\tend")
def test_random_unicode_comes_out_literally(home_copy, approver, note):
    check_literal(home_copy, approver, note)
