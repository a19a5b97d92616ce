"""`taskclf train retrain --data-dir` on data written by taskclf's real feature builder (v3-aw)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

V3_AW = Path(__file__).parent / "fixtures" / "taskclf-data" / "v3-aw"


@pytest.mark.slow
def test_retrain_on_taskclf_v3_data_completes_with_data_warnings_and_no_refusal(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("taskclf")
    env = {**os.environ, "TASKCLF_HOME": str(tmp_path)}
    args = [str(exe), "train", "retrain", "--data-dir", str(V3_AW), "--from", "2025-09-09",
            "--to", "2025-09-11", "--force"]
    done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("Snapshot: dataset ") and "1057 labelled windows of 1351" in line for line in lines)
    warnings = [line for line in lines if line.startswith("Data warning: ")]
    # aw-watcher-input durations run past the poll interval: a fully active minute is 60-62 s
    assert [w.split(":")[1].strip() for w in warnings] == [
        "active_seconds_keyboard", "active_seconds_mouse", "active_seconds_any",
    ]
    assert "active_seconds_any: 59 rows outside the documented range [0, 60] (max 60.34)" in warnings[2]
    assert any(line.startswith("Outcome: ") for line in lines)
    run_line = next(line for line in lines if line.startswith("Run: "))
    run_dir = tmp_path / "artifacts" / "runs" / run_line.split()[1]
    snapshot = json.loads((run_dir / "snapshot.json").read_text())
    assert [(w["column"], w["rows"], w["max_value"]) for w in snapshot["data_warnings"]] == [
        ("active_seconds_keyboard", 20, 60.1), ("active_seconds_mouse", 51, 60.34), ("active_seconds_any", 59, 60.34),
    ]
