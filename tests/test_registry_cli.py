"""`taskclf train models` / `train history` on a registry taskclf wrote, and on unreadable files.

The listings never print an empty (or short) result silently over files they could not
read: each problem names the file and goes to stderr (models) or after the table
(history, "Left out: ..."); the CLI's rollback reaches a taskclf bundle by its name.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from helpers_taskclf_rules import FIXTURES, taskclf_resolve_active
from typer.testing import CliRunner

from taskclf_core.console.cli import app

runner = CliRunner()
UPSTREAM = "2026-11-29_211443_run-5212"


def cli(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def _home(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES / "v1" / "models", tmp_path / "models")
    return tmp_path / "models"


def test_train_models_lists_a_taskclf_champion_with_its_origin(tmp_path: Path) -> None:
    models = _home(tmp_path)
    result = cli("train", "models", "--models-dir", str(models), "--out-dir", str(tmp_path / "artifacts"), "--json")
    assert result.exit_code == 0, result.stderr
    [row] = json.loads(result.stdout)
    assert (row["model_id"], row["champion"], row["problem"]) == (UPSTREAM, True, None)
    assert row["origin"] == "trained by taskclf"
    assert row["integrity"] == "no recorded hash: integrity not verifiable"
    assert result.stderr == ""
    history = cli("train", "history", "--models-dir", str(models), "--out-dir", str(tmp_path / "artifacts"), "--json")
    [entry] = json.loads(history.stdout)
    assert (entry["action"], entry["approver"], entry["new_champion"]) == ("set_active", "taskclf", UPSTREAM)


def test_train_models_names_every_file_it_could_not_read_on_stderr(tmp_path: Path) -> None:
    models = _home(tmp_path)
    (models / UPSTREAM / "metrics.json").write_text("[" * 100_000)
    with (models / "active_history.jsonl").open("a") as fh:
        fh.write('{"at": "0001-01-01T00:00:00+01:00", "old": null}\n')
    result = cli("train", "models", "--models-dir", str(models), "--out-dir", str(tmp_path / "artifacts"))
    assert result.exit_code == 0
    problems = [line for line in result.stderr.splitlines() if line.startswith("Problem: ")]
    assert any(f"bundle models/{UPSTREAM}: metrics.json is not valid JSON" in p for p in problems), result.stderr
    assert any("models/active_history.jsonl line 2 is not a valid entry" in p for p in problems), result.stderr
    assert any(p.startswith("Problem: models/active.json points to") for p in problems), result.stderr
    history = cli("train", "history", "--models-dir", str(models), "--out-dir", str(tmp_path / "artifacts"))
    assert "line 2 is not a valid entry" in history.stdout + history.stderr


def test_cli_rollback_returns_to_a_taskclf_bundle_by_its_name(tmp_path: Path) -> None:
    models = _home(tmp_path)
    # A second taskclf bundle that was champion once (its history line says so).
    other = "2026-11-29_211454_run-1131"
    shutil.copytree(FIXTURES / "v2" / "models" / other, models / other)
    line = json.loads((FIXTURES / "v2" / "models" / "active_history.jsonl").read_text())
    pointer = json.loads((models / "active.json").read_text())
    line["old"] = line["new"]
    line["new"] = pointer
    line["at"] = pointer["selected_at"]
    (models / "active_history.jsonl").write_text(
        (FIXTURES / "v2" / "models" / "active_history.jsonl").read_text() + json.dumps(line) + "\n"
    )
    result = cli(
        "train", "rollback", other, "--approver", "ops", "--note", "back to v2",
        "--expect-champion", UPSTREAM, "--models-dir", str(models), "--out-dir", str(tmp_path / "artifacts"),
    )
    assert result.exit_code == 0, result.stderr + result.stdout
    assert taskclf_resolve_active(models).name == other
