"""The CLI on a fresh home (reference defaults, `taskclf init`) and the effective state of runs.

Issue 12 items 7 and 2 (CLI side): exact output and exit codes over real homes.
"""

from __future__ import annotations

import json

from typer.testing import CliRunner

from taskclf_core.console.cli import app
from taskclf_core.train.config import RetrainConfig, default_config_text, load_retrain_config
from tests.conftest import tree_state

runner = CliRunner()


def cli(*args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, list(args), catch_exceptions=False, env=env)


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


# --------------------------------------------------------------------------- fresh home (item 7)


def test_fresh_home_runs_with_the_reference_defaults_and_says_so_once(tmp_path, monkeypatch):
    monkeypatch.setenv("TASKCLF_HOME", str(tmp_path))
    result = cli("train", "check-retrain")
    assert result.exit_code == 0, result.stderr
    assert lines(result.stderr) == [
        f"note: no config file at {tmp_path}/configs/retrain.yaml; using the reference defaults "
        f"(`taskclf init --home {tmp_path}` writes them there, commented)"
    ]
    assert result.stdout == "Global retrain: DUE (no promoted model exists yet)\n"
    as_json = cli("train", "check-retrain", "--json")
    assert as_json.exit_code == 0 and json.loads(as_json.stdout)["retrain"]["cadence_days"] == 7
    assert list(tmp_path.iterdir()) == []  # reading the defaults writes nothing


def test_fresh_home_retrain_and_promote_get_past_the_config(tmp_path, monkeypatch):
    monkeypatch.setenv("TASKCLF_HOME", str(tmp_path))
    note = f"note: no config file at {tmp_path}/configs/retrain.yaml; using the reference defaults " \
        f"(`taskclf init --home {tmp_path}` writes them there, commented)"
    retrain = cli("train", "retrain", "--force", "--data-dir", str(tmp_path / "nowhere"))
    assert retrain.exit_code == 2
    assert lines(retrain.stderr)[0] == note and "nowhere does not exist" in lines(retrain.stderr)[1]
    promote = cli("train", "promote", "20990101T000000000000Z-abcdef", "--approver", "a", "--note", "n")
    assert promote.exit_code == 2
    assert lines(promote.stderr)[0] == note and "no run" in lines(promote.stderr)[1]


def test_fresh_home_listings_say_there_is_nothing_yet(tmp_path, monkeypatch):
    monkeypatch.setenv("TASKCLF_HOME", str(tmp_path))
    assert cli("train", "runs").stdout == f"No runs in {tmp_path}/artifacts/runs.\n"
    assert cli("train", "runs", "--outcome", "promoted").stdout == (
        f"No runs with outcome promoted in {tmp_path}/artifacts/runs.\n")
    assert cli("train", "models").stdout == f"No promoted models in {tmp_path}/models.\n"
    assert cli("train", "history").stdout == f"No champion changes yet in {tmp_path}/models.\n"
    assert cli("train", "runs", "--json").stdout == "[]\n"
    assert list(tmp_path.iterdir()) == []


def test_an_explicit_missing_config_is_still_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TASKCLF_HOME", str(tmp_path))
    result = cli("train", "check-retrain", "--config", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2
    assert lines(result.stderr) == [f"error: {tmp_path}/nope.yaml: config file not found"]


def test_init_writes_the_commented_defaults_and_never_overwrites(tmp_path):
    home = tmp_path / "team-home"
    made = cli("init", "--home", str(home))
    assert made.exit_code == 0, made.stderr
    target = home / "configs" / "retrain.yaml"
    assert made.stdout == (
        f"Wrote the default config to {target}; edit it to change cadence, gates and training.\n"
    )
    assert target.read_text() == default_config_text() and load_retrain_config(target) == RetrainConfig()
    assert "# Days between global retrains" in target.read_text()
    target.write_text("auto_promote: true\n")
    before = tree_state(home)
    again = cli("init", "--home", str(home))
    assert again.exit_code == 2
    assert lines(again.stderr) == [
        f"error: {target} already exists; not overwritten (edit it, or delete it and run init again)"
    ]
    assert tree_state(home) == before and target.read_text() == "auto_promote: true\n"


def test_init_defaults_to_taskclf_home_and_then_the_note_is_gone(tmp_path, monkeypatch):
    monkeypatch.setenv("TASKCLF_HOME", str(tmp_path))
    assert cli("init").exit_code == 0
    assert (tmp_path / "configs" / "retrain.yaml").is_file()
    result = cli("train", "check-retrain")
    assert result.exit_code == 0 and result.stderr == ""


# --------------------------------------------------------------------------- effective state (item 2)


def _runs(*args: str) -> dict[str, dict]:
    result = cli("train", "runs", "--json", *args)
    assert result.exit_code == 0, result.stderr
    return {r["run_id"]: r for r in json.loads(result.stdout)}


def test_signed_off_run_reads_promoted_with_who_when_and_note(home_copy, seeded_home):
    rows = _runs()
    champion = rows[seeded_home.champion]
    assert (champion["state"], champion["outcome"], champion["recorded_outcome"]) == (
        "signed off · champion", "promoted", "awaiting_signoff")
    assert champion["history"].startswith("Signed off by fixture-alice on ")
    assert champion["history"].endswith("; note: seeded champion.")
    awaiting = rows[seeded_home.awaiting]
    assert (awaiting["state"], awaiting["outcome"], awaiting["history"]) == (
        "awaiting_signoff", "awaiting_signoff", "")
    assert list(_runs("--outcome", "promoted")) == [seeded_home.champion]
    assert seeded_home.champion not in _runs("--outcome", "awaiting_signoff")
    table = cli("train", "runs").stdout
    row = next(line for line in table.splitlines() if line.startswith(f"│ {seeded_home.champion} "))
    assert "signed off · champion" in row and "Signed off by fixture-alice" in row
    assert "recorded_outcome" in table


def test_superseded_and_rolled_back_runs_say_so(home_copy, seeded_home):
    assert cli("train", "promote", seeded_home.awaiting, "--approver", "bob", "--note", "newer").exit_code == 0
    rows = _runs()
    assert rows[seeded_home.champion]["state"] == "signed off · superseded"
    assert "Superseded on " in rows[seeded_home.champion]["history"]
    assert rows[seeded_home.awaiting]["state"] == "signed off · champion"
    back = cli("train", "rollback", seeded_home.champion, "--approver", "carol", "--note", "worse on Meet")
    assert back.exit_code == 0, back.stderr
    rows = _runs()
    assert rows[seeded_home.awaiting]["state"] == "signed off · rolled back from"
    assert f"Rolled back (champion again: {seeded_home.champion}), signed off by carol on " in rows[seeded_home.awaiting]["history"]
    assert rows[seeded_home.awaiting]["history"].endswith("; note: worse on Meet.")  # one full stop, never ".."
    assert rows[seeded_home.champion]["state"] == "signed off · champion again"
    assert sorted(_runs("--outcome", "promoted")) == sorted([seeded_home.champion, seeded_home.awaiting])


def test_history_shows_a_change_that_never_took_effect(home_copy, seeded_home):
    path = home_copy / "models" / "active_history.jsonl"
    [line] = path.read_text().splitlines()
    entry = json.loads(line)
    orphan = {**entry, "change_id": "f" * 32, "previous_change_id": entry["change_id"], "approver": "mallory",
              "new_champion": seeded_home.awaiting, "run_id": seeded_home.awaiting,
              "previous_champion": seeded_home.champion}
    path.write_text(line + "\n" + json.dumps(orphan) + "\n")
    result = cli("train", "history")
    assert result.exit_code == 0
    left_out = [x for x in result.stdout.splitlines() if x.startswith("Left out: ")]
    assert len(left_out) == 1
    assert f"promote of {seeded_home.awaiting} by mallory" in left_out[0] and "never took effect" in left_out[0]
    table = result.stdout.split("Left out: ")[0]
    assert "fixture-alice" in table and "mallory" not in table
    assert [h["approver"] for h in json.loads(cli("train", "history", "--json").stdout)] == ["fixture-alice"]


def test_rollback_with_expect_champion_is_a_compare_and_swap(home_copy, seeded_home):
    assert cli("train", "promote", seeded_home.awaiting, "--approver", "bob", "--note", "newer").exit_code == 0
    before = tree_state(home_copy)
    stale = cli("train", "rollback", seeded_home.champion, "--approver", "carol", "--note", "back",
                "--expect-champion", seeded_home.champion)
    assert stale.exit_code == 2
    assert lines(stale.stderr) == [
        f"error: the champion changed since the rollback was chosen (was {seeded_home.champion}, now "
        f"{seeded_home.awaiting}); review the history and try again"
    ]
    assert tree_state(home_copy) == before
    bad = cli("train", "rollback", seeded_home.champion, "--approver", "carol", "--note", "back",
              "--expect-champion", "latest")
    assert bad.exit_code == 2 and "invalid model id 'latest'" in lines(bad.stderr)[0]
    done = cli("train", "rollback", seeded_home.champion, "--approver", "carol", "--note", "back",
               "--expect-champion", seeded_home.awaiting)
    assert done.exit_code == 0, done.stderr
    assert done.stdout == f"Rolled back to {seeded_home.champion} (was {seeded_home.awaiting}) by carol.\n"
