"""Retrains that start themselves: ``--if-due`` starts nothing when not due, one retrain when due, one of two at once."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taskclf_core.console.cli import app
from taskclf_core.paths import Home
from taskclf_core.train.lock import retrain_lock
from tests.conftest import ROOT, SEED_DAYS, SEED_USERS, TEST_CONFIG, SeededHome, write_config

TASKCLF = Path(sys.executable).with_name("taskclf")
runner = CliRunner()


def synthetic(seed: int) -> list[str]:
    return ["--synthetic", "--users", str(SEED_USERS), "--schema", "v1", "--seed", str(seed)]


def taskclf(root: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "TASKCLF_HOME": str(root), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([str(TASKCLF), *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def finished(proc: subprocess.Popen[str]) -> tuple[int, list[str], str]:
    out, err = proc.communicate(timeout=600)
    return proc.returncode, [line for line in out.splitlines() if line.strip()], err


def runs(root: Path) -> list[str]:
    folder = root / "artifacts" / "runs"
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")) if folder.is_dir() else []


def test_if_due_starts_nothing_when_not_due(home_copy: Path, seeded_home: SeededHome) -> None:
    before = runs(home_copy)
    code, lines, err = finished(taskclf(home_copy, "train", "retrain", "--if-due", *synthetic(seeded_home.seed)))
    assert code == 0, err
    assert len(lines) == 1 and lines[0].startswith(f"Not due: latest model {seeded_home.champion} is younger than 7 day(s)")
    assert runs(home_copy) == before and not (home_copy / "artifacts" / "jobs").exists()


@pytest.mark.slow
def test_if_due_runs_one_retrain_when_due_and_two_at_once_start_one(tmp_path: Path, seeded_home: SeededHome) -> None:
    root = tmp_path / "home"
    write_config(root, f"{TEST_CONFIG}data_lookback_days: {SEED_DAYS}\n")  # no model yet: a retrain is due
    ticks = [taskclf(root, "train", "retrain", "--if-due", *synthetic(seeded_home.seed)) for _ in range(2)]
    results = [finished(t) for t in ticks]
    assert [code for code, _, _ in results] == [0, 0], [err for _, _, err in results]
    (run_id,) = runs(root)  # one retrain
    ran, skipped = sorted(results, key=lambda r: len(r[1]), reverse=True)
    assert ran[1][-2].startswith("Outcome: awaiting_signoff.") and ran[1][-1].startswith(f"Run: {run_id}")
    (line,) = skipped[1]  # the other tick: one line, nothing started
    assert line in (
        "Nothing started: another scheduled retrain is deciding or running.",
        f"Due (no promoted model exists yet), but {_answered(root, run_id)}.",
    )
    decision = json.loads((root / "artifacts" / "runs" / run_id / "decision.json").read_text())
    assert decision["requested"]["how"] == "schedule"
    assert decision["requested"]["reason"] == "scheduled: retrain due (no promoted model exists yet)"
    # The next tick: the run awaiting sign-off answers this due period.
    code, lines, _ = finished(taskclf(root, "train", "retrain", "--if-due", *synthetic(seeded_home.seed)))
    assert (code, lines) == (0, [f"Due (no promoted model exists yet), but {_answered(root, run_id)}."])
    assert runs(root) == [run_id]


def _answered(root: Path, run_id: str) -> str:
    from taskclf_core.console.read.runstate import run_rows
    from taskclf_core.registry.snapshot import registry_snapshot

    with registry_snapshot(Home(root)) as snap:
        (row,) = run_rows(snap)[0]
    return (f"run {run_id} (finished {row.finished_at:%Y-%m-%d %H:%M} UTC) answers this due period and awaits "
            "sign-off; nothing started")


def test_if_due_while_a_retrain_runs_starts_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(tmp_path)
    monkeypatch.setenv("TASKCLF_HOME", str(tmp_path))
    with retrain_lock(Home(tmp_path).artifacts_dir):
        result = runner.invoke(app, ["train", "retrain", "--if-due", "--synthetic"], catch_exceptions=False)
    assert result.exit_code == 0
    (line,) = result.stdout.splitlines()
    assert line.startswith(f"Nothing started: a retrain is already running (pid {os.getpid()}, started ")
    assert runs(tmp_path) == []


def test_calibrate_if_due_without_a_calibrator_store_starts_nothing(home_copy: Path) -> None:
    result = runner.invoke(app, ["train", "calibrate", "--if-due", "--synthetic"], catch_exceptions=False)
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "Nothing started: the deployment has no calibrator store (a refit on demand, `taskclf train calibrate`, "
        "writes the first one)."
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--if-due", "--force"], "error: --if-due and --force contradict each other: --if-due runs only when due; drop one"),
        (["--reason", "new\x1blabels"], "error: --reason must be plain text (line breaks and tabs allowed); character 4 "
                                        "is U+001B, a control character"),
    ],
)
def test_scheduling_options_refuse_bad_input_in_one_line(
    home_copy: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(app, ["train", "retrain", "--synthetic", *args], catch_exceptions=False)
    assert result.exit_code == 2
    assert [line for line in result.stderr.splitlines() if line.strip()] == [message]


@pytest.mark.slow
def test_calibrate_if_due_refits_once_when_the_store_is_due(tmp_path: Path) -> None:
    from tests.test_policy_console import DATA, PERMISSIVE, _cli, _home

    args = ("train", "calibrate", "--if-due", "--data-dir", str(DATA), "--from", "2025-09-09", "--to", "2025-09-11")
    fresh = _home(tmp_path, "policy-temperature", PERMISSIVE + "calibrator_update_cadence_days: 3650\n")
    not_due = _cli(fresh, *args)
    assert not_due.returncode == 0 and not_due.stdout.startswith("Not due: calibrator store updated ")
    assert len(not_due.stdout.splitlines()) == 1 and runs(fresh) == []
    root = _home(tmp_path / "due", "policy-temperature", PERMISSIVE + "calibrator_update_cadence_days: 0\n")
    refit = _cli(root, *args)
    assert refit.returncode == 0, refit.stderr
    (run_id,) = runs(root)
    assert "Outcome: awaiting_signoff." in refit.stdout and f"Run: {run_id}" in refit.stdout
    again = _cli(root, *args)
    assert again.returncode == 0
    assert re.fullmatch(rf"Due \(calibrator store updated [^)]*\), but run {run_id} \(finished [^)]* UTC\) answers "
                        r"this due period and awaits sign-off; nothing started\.", again.stdout.strip())
    assert runs(root) == [run_id]
