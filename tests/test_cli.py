"""The taskclf CLI: output and exit codes over real registries (seeded by real runs)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taskclf_core.console.cli import app
from tests.conftest import tree_state

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def cli(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def one_error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_help_documents_commands_scenarios_and_exit_codes():
    top = cli("--help")
    assert top.exit_code == 0 and "train" in top.stdout and "data" in top.stdout
    help_text = cli("train", "retrain", "--help").stdout
    for word in ("--force", "--dry-run", "--synthetic", "--scenario", "drift", "noisy", "sparse",
                 "--from", "--to", "--data-dir", "--holdout-fraction", "--reject-threshold", "--json", "Exit codes"):
        assert word in help_text, word
    for command in ("check-retrain", "promote", "rollback", "runs", "models", "history"):
        assert cli("train", command, "--help").exit_code == 0


def test_listings_as_json(home_copy, seeded_home):
    runs = json.loads(cli("train", "runs", "--json").stdout)
    assert {r["run_id"]: r["recorded_outcome"] for r in runs} == seeded_home.outcomes
    rejected = json.loads(cli("train", "runs", "--outcome", "rejected", "--json").stdout)
    assert rejected and {r["outcome"] for r in rejected} == {"rejected"}
    models = json.loads(cli("train", "models", "--json").stdout)
    assert [(m["model_id"], m["champion"]) for m in models] == [(seeded_home.champion, True)]
    history = json.loads(cli("train", "history", "--json").stdout)
    assert [(h["action"], h["approver"], h["new_champion"]) for h in history] == [
        ("promote", "fixture-alice", seeded_home.champion)]
    due = json.loads(cli("train", "check-retrain", "--json").stdout)
    assert due["retrain"]["due"] is False and due["retrain"]["latest_model"] == seeded_home.champion


def test_listings_as_tables_show_full_run_ids(home_copy, seeded_home):
    table = cli("train", "runs").stdout
    assert seeded_home.awaiting in table and "awaiting_signoff" in table
    assert "not due" in cli("train", "check-retrain").stdout


def test_promote_then_rollback(home_copy, seeded_home):
    promoted = cli("train", "promote", seeded_home.awaiting, "--approver", "bob", "--note", "better")
    assert promoted.exit_code == 0
    assert promoted.stdout.strip() == f"Promoted {seeded_home.awaiting} (was {seeded_home.champion}) by bob."
    assert json.loads((home_copy / "models/active.json").read_text())["model_id"] == seeded_home.awaiting
    back = cli("train", "rollback", seeded_home.champion, "--approver", "bob", "--note", "oops")
    assert back.exit_code == 0 and back.stdout.startswith(f"Rolled back to {seeded_home.champion}")
    actions = [h["action"] for h in json.loads(cli("train", "history", "--json").stdout)]
    assert actions == ["rollback", "promote", "promote"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "promote", "{rejected}", "--approver", "a", "--note", "n"], "rejected"),
        (["train", "promote", "{dry_run}", "--approver", "a", "--note", "n"], "dry run"),
        (["train", "promote", "{stale}", "--approver", "a", "--note", "n"], "champion changed"),
        (["train", "promote", "{awaiting}", "--approver", " ", "--note", "n"], "approver"),
        (["train", "promote", "../../etc", "--approver", "a", "--note", "n"], "invalid run id '../../etc'"),
        (["train", "promote", "20990101T000000000000Z-abcdef", "--approver", "a", "--note", "n"], "no run"),
        (["train", "rollback", "{awaiting}", "--approver", "a", "--note", "n"], "roll back only to a model listed there"),
    ],
)
def test_refusals_are_one_line_exit_2_and_change_nothing(home_copy, seeded_home, args, message):
    before = tree_state(home_copy)
    result = cli(*[a.format(**vars(seeded_home)) if "{" in a else a for a in args])
    assert result.exit_code == 2
    assert message in one_error_line(result)
    assert tree_state(home_copy) == before


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("regresion_tolerance: 0.1\n", "unknown key 'regresion_tolerance' (did you mean 'regression_tolerance'?)"),
        ("regression_tolerance: lots\n", "regression_tolerance must be a number in [0.0, 1.0]; got 'lots'"),
        ("global_retrain_cadence_days: -1\n", "global_retrain_cadence_days must be a whole number in [0, 3650]; got -1"),
    ],
)
def test_bad_config_is_exit_2_and_changes_nothing(home_copy, yaml_text, message):
    (home_copy / "configs/retrain.yaml").write_text(yaml_text)
    before = tree_state(home_copy)
    for args in (["train", "retrain", "--synthetic", "--force"], ["train", "check-retrain"]):
        result = cli(*args)
        assert result.exit_code == 2 and message in one_error_line(result)
    assert tree_state(home_copy) == before


def test_garbage_active_json_is_reported_and_kept(home_copy, seeded_home):
    active = home_copy / "models/active.json"
    active.write_text("{not json")
    before = tree_state(home_copy)
    result = cli("train", "promote", seeded_home.awaiting, "--approver", "a", "--note", "n")
    assert result.exit_code == 2 and "active.json" in one_error_line(result)
    assert active.read_text() == "{not json" and tree_state(home_copy) == before


def test_corrupt_bundle_is_flagged_in_models(home_copy, seeded_home):
    model = home_copy / "models" / seeded_home.champion / "model.txt"
    model.write_bytes(model.read_bytes() + b"\n# tampered\n")
    rows = json.loads(cli("train", "models", "--json").stdout)
    assert "model.txt" in rows[0]["problem"] and ("model_sha256" in rows[0]["problem"] or "SHA-256" in rows[0]["problem"])


def test_bad_data_dir_and_dates_are_exit_2(home_copy, tmp_path):
    missing = cli("train", "retrain", "--force", "--data-dir", str(tmp_path / "nowhere"))
    assert missing.exit_code == 2 and "nowhere" in one_error_line(missing)
    bad_date = cli("train", "retrain", "--force", "--synthetic", "--from", "2025-13-01")
    assert bad_date.exit_code == 2 and "--from must be a date YYYY-MM-DD; got '2025-13-01'" in one_error_line(bad_date)


def test_internal_failure_is_exit_1_with_one_line(home_copy, monkeypatch):
    import taskclf_core.console.service as service

    def boom(*_args, **_kwargs):
        raise RuntimeError("disk gremlin")

    monkeypatch.setattr(service, "runs_table", boom)
    result = cli("train", "runs")
    assert result.exit_code == 1 and "internal error (RuntimeError: disk gremlin)" in one_error_line(result)


@pytest.mark.slow
def test_synthesize_then_retrain_from_the_data_dir(home_copy, tmp_path):
    data = tmp_path / "data"
    made = cli("data", "synthesize", "--out", str(data), "--users", "3", "--days", "14", "--seed", "1",
               "--to", "2025-07-14", "--schema", "v1", "--json")
    assert made.exit_code == 0 and json.loads(made.stdout)["rows"] > 10_000
    assert (data / "features_v1/date=2025-07-01/features.parquet").exists()
    assert (data / "labels_v1/labels.parquet").exists()
    result = cli("train", "retrain", "--force", "--dry-run", "--data-dir", str(data), "--from", "2025-07-01",
                 "--to", "2025-07-14", "--json")
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["outcome"] == "dry_run" and payload["dataset_snapshot"]["source"]["kind"] == "data_dir"


@pytest.mark.slow
def test_reference_commands_on_a_fresh_home(tmp_path):
    """`taskclf train retrain --config configs/retrain.yaml --dry-run/--force --synthetic`."""
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    # The shipped config, with 40 boosting rounds instead of 100 to keep the suite quick.
    config = tmp_path / "configs" / "retrain.yaml"
    assert "  num_boost_round: 100\n" in config.read_text()
    config.write_text(config.read_text().replace("  num_boost_round: 100\n", "  num_boost_round: 40\n"))
    env = {**os.environ, "TASKCLF_HOME": str(tmp_path)}
    exe = Path(sys.executable).with_name("taskclf")
    base = [str(exe), "train", "retrain", "--config", "configs/retrain.yaml"]
    dry = subprocess.run([*base, "--dry-run", "--synthetic", "--json"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert dry.returncode == 0, dry.stderr
    payload = json.loads(dry.stdout)
    reference_fields = {"promoted", "champion_macro_f1", "challenger_macro_f1", "regression", "candidate_gates",
                        "dataset_snapshot", "run_dir", "reason", "champion_source", "active_updated"}
    assert reference_fields | {"outcome", "run_id", "gates", "bootstrap"} <= set(payload)
    assert payload["outcome"] == "dry_run" and not (tmp_path / "models/active.json").exists()
    forced = subprocess.run([*base, "--force", "--synthetic"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert forced.returncode == 0, forced.stderr
    assert "Outcome: awaiting_signoff" in forced.stdout and "macro_f1_no_regression" in forced.stdout
    assert "SKIPPED" in forced.stdout and "Snapshot: dataset" in forced.stdout
