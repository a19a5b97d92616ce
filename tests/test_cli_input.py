"""Bad input on the command line: one plain line on stderr, exit 2, nothing written.

Issue 12 items 18-21 and issue 11 items 15, 16, 18 and 20 (CLI side), each pinned by exact
output over real files.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taskclf_core.console.cli import app
from taskclf_core.console.service import synthetic_size_problem
from tests.conftest import tree_state

runner = CliRunner()


def cli(*args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, list(args), catch_exceptions=False, env=env, prog_name="taskclf")


def the_error(result) -> str:
    """The one stderr line of a refusal (exit 2)."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    shown = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(shown) == 1, result.stderr
    return shown[0]


@pytest.fixture
def fresh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty home with the shipped default config (no notes on stderr)."""
    home = tmp_path / "home"
    assert cli("init", "--home", str(home)).exit_code == 0
    monkeypatch.setenv("TASKCLF_HOME", str(home))
    return home


# --------------------------------------------------------------------------- issue 12, CLI items


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        (["train", "check-retrain"], "[default: <home>/models]"),
        (["train", "retrain"], "[default: <home>/configs/retrain.yaml; the reference defaults when it does not exist]"),
        (["train", "retrain"], "[default: <home>/data/processed]"),
        (["train", "retrain"], "[default: lookback before --to]"),
        (["train", "runs"], "[default: <home>/artifacts]"),
        (["data", "synthesize"], "[default: today, UTC]"),
        (["init"], "[default: $TASKCLF_HOME, else the current folder]"),
    ],
)
def test_help_keeps_its_defaults(command, shown):
    result = cli(*command, "--help", env={"COLUMNS": "250"})
    assert result.exit_code == 0
    assert shown in result.stdout


def test_unknown_outcome_filter_lists_the_allowed_ones(fresh_home):
    assert the_error(cli("train", "runs", "--outcome", "reject")) == (
        "error: unknown outcome 'reject'; expected one of: awaiting_signoff, promoted, rejected, dry_run, broken"
    )
    assert cli("train", "runs", "--outcome", "rejected", "--json").stdout == "[]\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-11-21", "--to", "2026-11-09"],
         "error: --from 2026-11-21 is after --to 2026-11-09; the first day must not be after the last"),
        (["--seed", "99999999999"], "error: --seed must be less than or equal to 2147483647; got 99999999999"),
    ],
)
def test_request_errors_are_plain_sentences(fresh_home, args, message):
    before = tree_state(fresh_home)
    assert the_error(cli("train", "retrain", "--synthetic", "--force", *args)) == message
    assert tree_state(fresh_home) == before


def test_data_dir_without_labels_names_the_missing_file(fresh_home, tmp_path):
    data = tmp_path / "data"
    made = cli("data", "synthesize", "--out", str(data), "--users", "2", "--days", "3", "--to", "2025-07-03")
    assert made.exit_code == 0, made.stderr
    (data / "labels_v1" / "labels.parquet").unlink()
    (data / "labels.csv").unlink()
    result = cli("train", "retrain", "--force", "--data-dir", str(data), "--from", "2025-07-01", "--to", "2025-07-03")
    assert the_error(result) == (
        f"error: no labels file in {data}: expected labels_v1/labels.parquet or labels.csv "
        "(label spans: user_id, start_ts, end_ts, label)"
    )
    assert not (fresh_home / "artifacts" / "runs").exists() or not any((fresh_home / "artifacts" / "runs").iterdir())


# --------------------------------------------------------------------------- issue 11 item 15


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "retrain", "--synthetic", "--force", "--to", "0001-01-05"],
         "error: --to 0001-01-05 is outside the supported days 1970-01-01..2261-12-31"),
        (["train", "retrain", "--synthetic", "--force", "--from", "9999-12-25"],
         "error: --from 9999-12-25 is outside the supported days 1970-01-01..2261-12-31"),
        (["train", "retrain", "--synthetic", "--force", "--to", "1970-01-05"],
         "error: a 30-day range ending 1970-01-05 (--to) would start before 1970-01-01; "
         "the supported days are 1970-01-01..2261-12-31"),
        (["train", "retrain", "--synthetic", "--force", "--from", "2261-12-20"],
         "error: a 30-day range starting 2261-12-20 (--from) would end after 2261-12-31; "
         "the supported days are 1970-01-01..2261-12-31"),
        (["data", "synthesize", "--out", "{tmp}/d", "--to", "0001-01-05"],
         "error: --to 0001-01-05 is outside the supported days 1970-01-01..2261-12-31"),
        (["data", "synthesize", "--out", "{tmp}/d", "--to", "1970-01-02", "--days", "5"],
         "error: a 5-day range ending 1970-01-02 (--to) would start before 1970-01-01; "
         "the supported days are 1970-01-01..2261-12-31"),
    ],
)
def test_days_at_the_edge_of_the_calendar_are_exit_2(fresh_home, tmp_path, args, message):
    before = tree_state(fresh_home)
    assert the_error(cli(*[a.format(tmp=tmp_path) for a in args])) == message
    assert tree_state(fresh_home) == before and not (tmp_path / "d").exists()


def test_models_dir_that_is_a_file_is_exit_2(fresh_home, tmp_path):
    a_file = tmp_path / "passwd"
    a_file.write_text("root:x:0:0\n")
    for command in ("history", "models", "runs"):
        assert the_error(cli("train", command, "--models-dir", str(a_file))) == (
            f"error: --models-dir {a_file} is not a folder"
        )
    assert the_error(cli("train", "runs", "--out-dir", str(a_file))) == f"error: --out-dir {a_file} is not a folder"


# --------------------------------------------------------------------------- issue 11 item 16


def test_synthetic_team_too_large_is_refused_up_front_with_the_estimate(fresh_home, tmp_path):
    before = tree_state(fresh_home)
    started = time.monotonic()
    retrain = the_error(cli("train", "retrain", "--synthetic", "--force", "--users", "500",
                            "--from", "2000-01-01", "--to", "2009-12-31"))
    synth = the_error(cli("data", "synthesize", "--out", str(tmp_path / "d"), "--users", "500", "--days", "3650"))
    assert time.monotonic() - started < 10  # refused before generating anything
    assert retrain.startswith(
        "error: a synthetic v3 team of 500 users x 3,653 days is about 821,925,000 one-minute windows "
        "(~9,863.1 GB of memory); at most "
    ) and retrain.endswith(" windows fit here: use fewer users or days")
    assert synth.startswith(
        "error: a synthetic v3 team of 500 users x 3,650 days is about 821,250,000 one-minute windows"
    )
    assert tree_state(fresh_home) == before and not (tmp_path / "d").exists()


def test_synthetic_size_estimate_lets_the_usual_teams_through():
    assert synthetic_size_problem(5, 30) is None
    assert synthetic_size_problem(60, 30) is None  # v3 (the default): 810,000 windows
    assert synthetic_size_problem(20, 365, "v1") is None  # 3.3 million narrow windows
    assert synthetic_size_problem(500, 3650) is not None


def test_config_is_read_with_a_size_limit(fresh_home):
    started = time.monotonic()
    result = cli("train", "check-retrain", "--config", "/dev/zero")
    assert time.monotonic() - started < 5
    assert the_error(result) == (
        "error: /dev/zero: the config file is larger than 1,048,576 bytes; a retrain config is a few hundred "
        "bytes (is this the right file?)"
    )


# --------------------------------------------------------------------------- issue 11 item 18


def test_duplicate_config_keys_are_refused_naming_both_lines(fresh_home):
    config = fresh_home / "configs" / "retrain.yaml"
    config.write_text(config.read_text() + "\nauto_promote: true\n")
    lines = config.read_text().splitlines()
    first = lines.index("auto_promote: false") + 1
    before = tree_state(fresh_home)
    for args in (["train", "check-retrain"], ["train", "retrain", "--synthetic", "--force"]):
        assert the_error(cli(*args)) == (
            f"error: {config}: key 'auto_promote' appears twice, at line {first} and line {len(lines)}; "
            "keep one of them"
        )
    assert tree_state(fresh_home) == before


# --------------------------------------------------------------------------- issue 11 item 20


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "runs", "--bogus"], "error: No such option: --bogus (see 'taskclf train runs --help')"),
        (["train", "promote"], "error: Missing argument 'run_id' (see 'taskclf train promote --help')"),
        (["train", "promote", "20990101T000000000000Z-abcdef", "--note", "n"],
         "error: Missing option '--approver' (see 'taskclf train promote --help')"),
        (["train", "retrain", "--users", "0"],
         "error: Invalid value for '--users': Input should be greater than or equal to 1 "
         "(see 'taskclf train retrain --help')"),
        (["trian"], "error: No such command 'trian'. Did you mean 'train'? (see 'taskclf --help')"),
    ],
)
def test_usage_errors_are_one_line(fresh_home, args, message):
    result = cli(*args)
    assert the_error(result) == message
    assert result.stdout == ""


def test_rollback_without_a_home_refuses_before_touching_anything(tmp_path, monkeypatch):
    monkeypatch.setenv("TASKCLF_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    result = cli("train", "rollback", "20990101T000000000000Z-abcdef", "--approver", "a", "--note", "n")
    assert the_error(result) == (
        f"error: there is no models folder at {tmp_path}/models, so no model to roll back to "
        "(set TASKCLF_HOME or --models-dir to the home's models folder)"
    )
    assert list(tmp_path.iterdir()) == []


def test_promote_of_an_unknown_run_refuses_before_touching_the_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TASKCLF_HOME", str(tmp_path))
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "retrain.yaml").write_text("auto_promote: false\n")
    result = cli("train", "promote", "20990101T000000000000Z-abcdef", "--approver", "a", "--note", "n")
    assert the_error(result) == "error: no run 20990101T000000000000Z-abcdef in artifacts/runs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["configs"]
