"""Background retrain jobs: one at a time, stale locks, cancel, clear errors, nothing half-written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from taskclf_core.console import jobs
from taskclf_core.console.jobs import files as jobfiles
from taskclf_core.console.jobs import runner as jobrunner
from taskclf_core.errors import (
    ConfigError,
    DataError,
    JobCancelled,
    JobRunningError,
    RunIdError,
    StorageError,
)
from taskclf_core.paths import Home
from taskclf_core.train.lock import retrain_running
from tests.conftest import SeededHome, synthetic_request, wait_job


def leftovers(home: Home) -> list[str]:
    """Temporary folders/files of interrupted atomic writes anywhere in the registry."""
    return [str(p) for folder in (home.runs_dir, home.models_dir) for p in folder.glob(".tmp-*")]


def wait_for_stage(home: Home, job_id: str, stages: set[str], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = jobs.read_job(home, job_id)
        if job.stage in stages:
            return job.stage
        assert job.active, f"job ended before reaching {stages}: {job}"
        time.sleep(0.03)
    raise TimeoutError(f"job {job_id} never reached {stages}")


@pytest.mark.slow
def test_second_start_is_refused_and_cancel_mid_training_leaves_nothing(home_copy: Path, seeded_home: SeededHome) -> None:
    home = Home.resolve(home_copy)
    runs_before = sorted(p.name for p in home.runs_dir.iterdir())
    job = jobs.start_job(home, synthetic_request(seeded_home.seed))
    assert job.state == "starting" and job.pid is not None
    lock = json.loads((home.jobs_dir / jobs.ACTIVE_LOCK).read_text())
    assert (lock["job_id"], lock["pid"]) == (job.job_id, job.pid) and lock["pid_start"] > 0

    stage = wait_for_stage(home, job.job_id, {"training"})
    with pytest.raises(JobRunningError, match=f"a retrain is already running \\(job {job.job_id}, started ") as refused:
        jobs.start_job(home, synthetic_request(seeded_home.seed))
    assert refused.value.job_id == job.job_id
    assert jobs.running_job(home) is not None
    assert retrain_running(home.artifacts_dir) is not None  # the pipeline's own flock is held too

    jobs.cancel_job(home, job.job_id)
    final = wait_job(home, job.job_id, timeout=60)
    assert final.state == "cancelled", final
    assert final.message.startswith(f"Cancelled during {stage}.")
    assert sorted(p.name for p in home.runs_dir.iterdir()) == runs_before
    assert leftovers(home) == []
    assert not (home.jobs_dir / jobs.ACTIVE_LOCK).exists()
    assert retrain_running(home.artifacts_dir) is None
    with pytest.raises(Exception, match="is not running"):
        jobs.cancel_job(home, job.job_id)


@pytest.mark.slow
def test_a_killed_job_leaves_a_stale_lock_that_does_not_block_the_next(home_copy: Path) -> None:
    home = Home.resolve(home_copy)
    sparse = synthetic_request(0, scenario="sparse", users=2, days=3)
    job = jobs.start_job(home, sparse)
    assert job.pid is not None
    os.killpg(job.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while jobs.process_alive(job.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not jobs.process_alive(job.pid)
    assert (home.jobs_dir / jobs.ACTIVE_LOCK).exists()  # left behind by the kill
    lost = jobs.read_job(home, job.job_id)
    assert lost.state == "failed" and lost.error_kind == "JobLost"
    assert "ended without reporting a result" in (lost.error or "")
    assert jobs.running_job(home) is None

    again = jobs.start_job(home, sparse)  # the stale lock does not block
    final = wait_job(home, again.job_id, timeout=90)
    assert final.state == "failed" and final.error_kind == "InsufficientDataError"
    assert final.error is not None and final.error.startswith("only ") and "at least 100 are needed" in final.error
    assert not (home.jobs_dir / jobs.ACTIVE_LOCK).exists()
    assert [j.job_id for j in jobs.list_jobs(home)] == [again.job_id, job.job_id]


def test_bad_input_is_refused_before_anything_is_written(home_copy: Path) -> None:
    home = Home.resolve(home_copy)
    with pytest.raises(ConfigError, match="invalid retrain request: users: Input should be greater than or equal to 1"):
        jobs.submit(home, {"synthetic": True, "users": 0})
    with pytest.raises(ConfigError, match="unknown synthetic scenario 'bogus'; known: default, drift, noisy, one_user_worse, sparse"):
        jobs.submit(home, {"synthetic": True, "scenario": "bogus"})
    with pytest.raises(DataError, match="data directory .*/missing does not exist or is not a folder"):
        jobs.submit(home, {"synthetic": False, "data_dir": str(home_copy / "missing")})
    (home_copy / "configs" / "retrain.yaml").write_text("data_lookback_days: -3\n")
    with pytest.raises(ConfigError, match="data_lookback_days must be a whole number in \\[1, 3650\\]; got -3"):
        jobs.submit(home, {"synthetic": True})
    assert not home.jobs_dir.exists()


def test_job_ids_from_outside_are_validated(home_copy: Path) -> None:
    home = Home.resolve(home_copy)
    # issue 11 item 20: a job id is named as a job id
    with pytest.raises(RunIdError, match="^invalid job id '../../etc': expected the form "):
        jobs.read_job(home, "../../etc")
    with pytest.raises(RunIdError, match="^invalid job id "):
        jobs.cancel_job(home, "x" * 300)
    with pytest.raises(Exception, match="no retrain job 20261126T000000000000Z-abcdef"):
        jobs.read_job(home, "20261126T000000000000Z-abcdef")


def test_process_liveness_uses_pid_and_start_time() -> None:
    me = os.getpid()
    ticks = jobs.process_start_ticks(me)
    assert ticks is not None and jobs.process_alive(me, ticks)
    assert not jobs.process_alive(me, ticks + 1)  # same pid, another process: reused pid
    done = subprocess.Popen(["true"])
    done.wait()
    assert not jobs.process_alive(done.pid)
    assert not jobs.process_alive(None) and not jobs.process_alive(-1)


@pytest.mark.slow
def test_a_cancel_during_the_save_then_a_failed_save_ends_cancelled_with_what_stopped_it(
    home_copy: Path, seeded_home: SeededHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone asked it to stop and it stopped: the job says cancelled (not failed), with the error."""
    from taskclf_core.fs.atomic import TMP_PREFIX

    home = Home.resolve(home_copy)
    gate = tmp_path / "gate"
    gate.mkdir()
    # The job process pauses with the run folder written but not yet renamed into place.
    monkeypatch.setenv("TASKCLF_FAULTPOINT", "atomic.folder.synced")
    monkeypatch.setenv("TASKCLF_FAULTPOINT_ACTION", f"pause:{gate}")
    job = jobs.start_job(home, synthetic_request(seeded_home.seed))
    deadline = time.monotonic() + 120
    while not (gate / "atomic.folder.synced.reached").exists():
        assert time.monotonic() < deadline and jobs.read_job(home, job.job_id).active, jobs.read_job(home, job.job_id)
        time.sleep(0.05)
    assert jobs.read_job(home, job.job_id).stage == "saving"
    staged = next(p for p in home.runs_dir.iterdir() if p.name.startswith(TMP_PREFIX))
    run_id = staged.name.removeprefix(TMP_PREFIX).split(".")[0]
    (home.runs_dir / run_id / "planted").mkdir(parents=True)  # the rename into place now fails
    jobs.cancel_job(home, job.job_id)  # during the save: deferred, not acted on
    (gate / "atomic.folder.synced.release").touch()
    final = wait_job(home, job.job_id, timeout=60)
    assert final.state == "cancelled", final
    assert final.message.startswith("Cancelled during saving; it stopped with: "), final.message
    assert f"{run_id} already exists" in final.message
    assert not staged.exists() and not (home.jobs_dir / jobs.ACTIVE_LOCK).exists()


def test_a_cancel_while_the_run_is_saved_waits_for_the_save(tmp_path: Path) -> None:
    now = "2026-11-26T00:00:00+00:00"
    status = jobs.JobStatus(job_id="20261126T000000000000Z-abcdef", state="running", started_at=now, updated_at=now)
    reporter = jobrunner._Reporter(tmp_path, status)
    reporter.progress("training", 0.5)
    with pytest.raises(JobCancelled):
        reporter.on_signal(signal.SIGTERM, None)
    reporter.cancel_requested = False
    reporter.progress("saving", 0.94)
    reporter.on_signal(signal.SIGTERM, None)  # deferred: the run folder is being written
    assert reporter.cancel_requested
    reporter.progress("saving", 0.96)  # still no interruption inside the save
    assert json.loads((tmp_path / jobfiles.STATUS_FILE).read_text())["stage"] == "saving"


def test_job_entry_point_prints_usage() -> None:
    assert jobrunner.main([]) == 2
    assert jobrunner.main(["run"]) == 2


def test_the_start_lock_never_follows_a_planted_link(home_copy: Path, tmp_path: Path) -> None:
    home = Home.resolve(home_copy)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    home.jobs_dir.mkdir(parents=True, exist_ok=True)
    (home.jobs_dir / jobfiles.START_LOCK).symlink_to(victim)
    with pytest.raises(StorageError, match=f"cannot lock {home.jobs_dir / jobfiles.START_LOCK}: "):
        jobs.start_job(home, synthetic_request(0))
    assert victim.read_text() == "keep me"
    assert [p.name for p in home.jobs_dir.iterdir()] == [jobfiles.START_LOCK]
