"""The layer contract of ``pyproject.toml`` holds, and ``lint-imports`` catches a breach."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [str(LINT), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_layer_contracts_are_kept() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 6 kept, 0 broken." in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("data/split.py", "import streamlit", "streamlit only in app.py and pages/"),
        ("registry/runs.py", "import typer", "typer and rich only in the CLI"),
        ("model/evaluation.py", "import altair", "altair only in the chart module"),
        ("data/hashing.py", "from taskclf_core.registry import runids", "Layers point one way"),
        ("train/cadence.py", "from taskclf_core.console import status", "Layers point one way"),
        ("train/cadence.py", "from taskclf_core.synthetic import team", "Layers point one way"),
        ("synthetic/rows.py", "from taskclf_core.model import serving",
         "The synthetic-team generator writes taskclf's data layout, nothing else of ours"),
        ("notify/worker.py", "from taskclf_core.registry import runids", "Layers point one way"),
        ("registry/promotion.py", "import httpx", "httpx and apprise only in the notification targets"),
    ],
)
def test_a_forbidden_import_breaks_the_contract(tmp_path: Path, module: str, line: str, contract: str) -> None:
    shutil.copytree(ROOT / "taskclf_core", tmp_path / "taskclf_core",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "taskclf_core" / module
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert f"{contract} BROKEN" in result.stdout
