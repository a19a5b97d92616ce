"""The ``compute:`` section and the ``--engine``/``--scheduler`` options (no cluster needed):
addresses checked when read (issue 20.5), and the Dask engine as an optional install (22.2)."""

from __future__ import annotations

import os
import subprocess
import sys
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
         "config: compute.scheduler: must be 'local' or a scheduler address like tcp://host:8786; got 'my cluster' "
         "(not an address; schemes supported here: tcp)"),
        ("compute:\n  call_timeout_s: 0\n", "config: compute.call_timeout_s must be a whole number in [1, 3600]; got 0"),
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


#: Each refused address and why (the one line names the value, the reason and what is allowed).
REFUSED = [
    ("tls://10.0.0.5:8786", "tls:// needs TLS certificates (distributed's Security), which the compute section "
                            "does not configure"),
    ("ucx://10.0.0.5:8786", "ucx:// needs the UCX transport (ucxx and its network set-up), which this engine "
                            "does not use"),
    ("inproc://10.0.0.5/1234/1", "inproc:// reaches only a scheduler inside this process; use scheduler: local "
                                 "to start one here"),
    ("http://10.0.0.5:8787", "a web address (a scheduler's dashboard serves http on port 8787); the scheduler "
                             "itself listens at tcp://HOST:8786"),
    ("gopher://10.0.0.5:70", "unknown scheme 'gopher'"),
    ("foo:bar", "not an address"),
    ("tcp://10.0.0.5", "no port (a scheduler listens on 8786 by default: tcp://HOST:8786)"),
    ("10.0.0.5:8786", "no scheme: write tcp://10.0.0.5:8786"),
    ("tcp://10.0.0.5:99999", "the port must be a number in 1..65535"),
    ("tcp://:8786", "no host"),
    ("tcp://10.0.0.5:8786/status", "an address has no path, query or fragment: only tcp://HOST:PORT"),
]


def _refusal(value: str, reason: str) -> str:
    return (f"must be 'local' or a scheduler address like tcp://host:8786; got {value!r} "
            f"({reason}; schemes supported here: tcp)")


@pytest.mark.parametrize(("value", "reason"), REFUSED)
def test_a_scheduler_address_other_than_tcp_host_port_is_refused_in_one_line_exit_2(
    value: str, reason: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKCLF_HOME", str(tmp_path))
    # --scheduler on the command line
    assert _error_line("train", "retrain", "--scheduler", value) == f"error: --scheduler: {_refusal(value, reason)}"
    # compute.scheduler in the config, when it is read (every command that reads it refuses)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "retrain.yaml").write_text(f"compute:\n  engine: dask\n  scheduler: '{value}'\n")
    line = f"error: {tmp_path / 'configs' / 'retrain.yaml'}: compute.scheduler: {_refusal(value, reason)}"
    assert _error_line("train", "retrain", "--force") == line
    assert _error_line("train", "check-retrain") == line
    assert not (tmp_path / "artifacts").exists()


@pytest.mark.parametrize("value", ["local", "tcp://10.0.0.5:8786", "tcp://scheduler.example.com:8786",
                                   "tcp://[::1]:8786", " tcp://h-1:1 "])
def test_local_and_tcp_host_port_are_valid(value: str) -> None:
    assert ComputeConfig(scheduler=value).scheduler == value.strip()


def _without_dask(code: str, home: Path) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter where dask, distributed and scikit-learn cannot be
    imported (``sys.modules[name] = None`` makes ``import name`` fail): a machine without the
    ``dask`` extra."""
    shim = "import sys\nfor name in ('dask', 'distributed', 'sklearn'):\n    sys.modules[name] = None\n"
    return subprocess.run([sys.executable, "-c", shim + code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TASKCLF_HOME": str(home)}, cwd=Path(__file__).resolve().parents[1])


INSTALL_LINE = ("error: the Dask engine is not installed here (no dask, distributed, sklearn): install it with "
                "pip install -e '.[dask]' in the project folder, or use engine: local")


@pytest.mark.slow
def test_without_dask_installed_the_dask_engine_says_how_to_install_it(tmp_path: Path) -> None:
    cli = "from taskclf_core.console.cli import main\nsys.argv = ['taskclf', *sys.argv[1:]]\nmain()\n"
    run = [f"sys.argv[1:] = {args!r}\n" + cli for args in (
        ["train", "retrain", "--force", "--data-dir", str(tmp_path), "--engine", "dask"],
        ["train", "retrain", "--force", "--data-dir", str(tmp_path), "--scheduler", "tcp://10.0.0.5:8786"],
    )]
    for code in run:
        proc = _without_dask(code, tmp_path)
        assert (proc.returncode, proc.stderr.splitlines()[-1:]) == (2, [INSTALL_LINE]), proc.stderr
    # compute: engine: dask in the config: the same line; the local engine and the rest work without dask
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "retrain.yaml").write_text("compute:\n  engine: dask\n")
    proc = _without_dask(run[0].replace(", '--engine', 'dask'", ""), tmp_path)
    assert (proc.returncode, proc.stderr.splitlines()) == (2, [INSTALL_LINE]), proc.stderr
    proc = _without_dask("sys.argv[1:] = ['train', 'runs', '--json']\n" + cli, tmp_path)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_without_dask_the_apps_job_is_refused_before_it_starts(tmp_path: Path) -> None:
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "retrain.yaml").write_text("compute:\n  engine: dask\n")
    code = (
        "from taskclf_core.console import jobs\nfrom taskclf_core.errors import ConfigError\n"
        "from pathlib import Path\nfrom taskclf_core.paths import Home\n"
        f"try:\n    jobs.submit(Home(Path({str(tmp_path)!r})), {{'force': True, 'data_dir': {str(tmp_path)!r}}})\n"
        "except ConfigError as exc:\n    print(exc)\n"
    )
    proc = _without_dask(code, tmp_path)
    assert (proc.returncode, proc.stdout.strip()) == (0, INSTALL_LINE.removeprefix("error: ")), proc.stderr
    assert not (tmp_path / "artifacts").exists()


@pytest.mark.slow
def test_nothing_imports_dask_at_import_time() -> None:
    """Every module of the package imports (the Dask engine's too) without importing dask."""
    code = (
        "import importlib, pkgutil, sys\nimport taskclf_core\n"
        "names = [m.name for m in pkgutil.walk_packages(taskclf_core.__path__, 'taskclf_core.')]\n"
        "for name in names:\n    importlib.import_module(name)\n"
        "print('taskclf_core.train.dask.pipeline' in names, len(names))\n"
        # (scikit-learn is left out: lightgbm itself imports it whenever it is installed)
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'dask', 'distributed'}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 0, proc.stderr
    imported, found = proc.stdout.splitlines()
    assert imported.startswith("True ") and int(imported.split()[1]) > 80, imported
    assert found == "[]", found
