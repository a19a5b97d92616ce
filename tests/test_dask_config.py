"""The ``compute:`` section and the ``--engine``/``--scheduler`` options (no cluster needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from taskclf_core.console.cli import app
from taskclf_core.errors import ConfigError
from taskclf_core.train.config import RetrainConfig, parse_retrain_yaml
from taskclf_core.train.dask.config import ComputeConfig, effective_compute

runner = CliRunner()


def _error_line(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False, prog_name="taskclf")
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_the_engine_is_local_unless_the_config_says_dask() -> None:
    assert RetrainConfig().compute == ComputeConfig(engine="local", scheduler="local")
    config = parse_retrain_yaml("compute:\n  engine: dask\n  scheduler: tcp://10.0.0.5:8786\n  workers: 4\n")
    assert (config.compute.engine, config.compute.scheduler, config.compute.workers) == ("dask", "tcp://10.0.0.5:8786", 4)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("compute:\n  engine: spark\n", "config: compute.engine must be one of 'local' or 'dask'; got 'spark'"),
        ("compute:\n  enigne: dask\n", "config: unknown key 'compute.enigne' (did you mean 'engine'?); allowed keys: engine, scheduler"),
        ("compute:\n  scheduler: my cluster\n",
         "config: compute.scheduler: must be 'local' or a scheduler address like tcp://host:8786; got 'my cluster'"),
        ("compute:\n  fit_timeout_minutes: 0\n", "config: compute.fit_timeout_minutes must be a whole number in [1, 600]; got 0"),
    ],
)
def test_a_bad_compute_section_is_refused_naming_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_retrain_yaml(text)
    assert str(caught.value).startswith(message)


def test_command_line_overrides_and_a_scheduler_implies_dask() -> None:
    base = ComputeConfig()
    assert effective_compute(base) is base
    assert effective_compute(base, scheduler="tcp://h:8786") == ComputeConfig(engine="dask", scheduler="tcp://h:8786")
    assert effective_compute(base, engine="dask").scheduler == "local"
    assert effective_compute(ComputeConfig(engine="dask"), engine="local").engine == "local"
    with pytest.raises(ConfigError, match=r"^--scheduler: must be 'local' or a scheduler address"):
        effective_compute(base, scheduler="nowhere")


def test_cli_refuses_an_unknown_engine_and_a_synthetic_team_on_dask(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKCLF_HOME", str(tmp_path))
    assert _error_line("train", "retrain", "--engine", "spark") == "error: --engine must be 'local' or 'dask'; got 'spark'"
    assert _error_line("train", "retrain", "--synthetic", "--force", "--engine", "dask") == (
        "error: the Dask engine reads a data directory, not a synthetic team in memory: write the team with "
        "`taskclf data synthesize --out DIR` and pass --data-dir DIR, or use --engine local"
    )
    assert _error_line("train", "retrain", "--scheduler", "nowhere").startswith("error: --scheduler: must be 'local'")
    assert not (tmp_path / "artifacts").exists()
