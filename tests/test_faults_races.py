"""Races: concurrent champion changes, concurrent retrains, and the app's job lock after a kill.

* 44 promotions and rollbacks in two rounds of 22 separate processes, each round released
  at once against the same expected champion: exactly one change takes effect, every
  other attempt is refused with ``ChampionChanged`` and a message naming both champions.
* Two real retrains started at once: one runs, the other is refused with ``BusyError``
  naming the holder's pid.
* A background job (``taskclf_core.console.jobs``) killed with SIGKILL leaves its lock behind;
  the lock is recognised as stale by its process id and start time and replaced by the
  next start.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers_faults import (
    ROOT,
    SCRIPT,
    TINY_CONFIG,
    TINY_TEAM,
    Zygote,
    capture,
    check_invariants,
    child_env,
    effective_chain,
    leftovers,
)
from helpers_registry import champion_of, make_run, promoted_run

from taskclf_core.paths import Home
from taskclf_core.registry.listing import inspect_history, read_active
from taskclf_core.train.lock import retrain_running
from tests.conftest import write_config

ROUNDS = 2
PROMOTERS = 14
ROLLERS = 8



@pytest.mark.slow
def test_concurrent_promotions_and_rollbacks_against_one_champion_exactly_one_wins(
    zygote: Zygote, scratch: Path
) -> None:
    root = scratch / "home"
    home = Home(root)
    earlier = [promoted_run(home, note=f"champion {i}") for i in range(ROLLERS + 1)]
    attempts = 0
    for round_ in range(ROUNDS):
        before = capture(root)
        champion = before.champion
        assert champion is not None
        expected = champion_of(home)
        assert expected is not None
        runs = [make_run(home, champion=expected) for _ in range(PROMOTERS)]
        before = capture(root)  # with the new runs
        targets = [m for m in earlier if m != champion][:ROLLERS]
        tasks = [("promote", {"root": str(root), "run_id": r}) for r in runs]
        tasks += [("rollback", {"root": str(root), "model_id": m, "expected": champion}) for m in targets]
        trials = zygote.batch(tasks)
        attempts += len(trials)

        crashed = [t.describe() for t in trials if t.status not in ("ok", "refused")]
        assert crashed == []
        winners = [t.outcome["value"] for t in trials if t.outcome and t.outcome["status"] == "ok"]
        assert len(winners) == 1, f"round {round_}: {len(winners)} changes took effect: {winners}"
        winner = winners[0]
        messages = sorted(
            (t.outcome["type"], t.outcome["message"]) for t in trials if t.outcome and t.outcome["status"] != "ok"
        )
        promote_refusal = (
            "ChampionChanged",
            f"the champion changed since this run was evaluated (was {champion}, now {winner}); "
            "re-run the retrain to compare against the new champion",
        )
        rollback_refusal = (
            "ChampionChanged",
            f"the champion changed since the rollback was chosen (was {champion}, now {winner}); "
            "review the history and try again",
        )
        won_by_promotion = winner in runs
        assert messages == sorted(
            [promote_refusal] * (PROMOTERS - won_by_promotion)
            + [rollback_refusal] * (ROLLERS - (not won_by_promotion))
        )
        pointer = read_active(home)
        assert pointer is not None and pointer.model_id == winner
        chain = [e["new_champion"] for e in effective_chain(root / "models", (root / "models" / "active.json").read_bytes())]
        assert chain == [winner, *before.champions]
        assert check_invariants(root, before, targets={winner}) == []
        assert capture(root).models == before.models | {winner}
        assert inspect_history(home).orphaned == []
        assert leftovers(root) == []
        earlier.append(winner)
    assert attempts == ROUNDS * (PROMOTERS + ROLLERS) == 44


@pytest.mark.slow
def test_two_retrains_started_at_once_one_runs_the_other_is_refused_busy(scratch: Path) -> None:
    root = scratch / "home"
    write_config(root, TINY_CONFIG)
    flags = scratch / "flags"
    flags.mkdir()
    # Whichever retrain takes the lock pauses right after taking it, so the overlap does
    # not depend on how fast this machine is; the other one must be refused at once.
    env = {"TASKCLF_FAULTPOINT": "retrain.locked", "TASKCLF_FAULTPOINT_ACTION": f"pause:{flags}"}
    results = [scratch / "a.json", scratch / "b.json"]
    procs = [
        subprocess.Popen(
            [sys.executable, str(SCRIPT), "retrain", str(root), str(result)], cwd=ROOT,
            env=child_env(**env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        for result in results
    ]
    try:
        deadline = time.monotonic() + 120
        reached = flags / "retrain.locked.reached"
        while not (reached.exists() and any(r.exists() for r in results)):
            assert time.monotonic() < deadline, "neither retrain took the lock and the other got refused"
            assert all(p.poll() in (None, 3) for p in procs), [p.stderr.read() for p in procs if p.stderr]
            time.sleep(0.05)
        holder = int(reached.read_text())
        refused = next(r for r in results if r.exists())
        outcome = json.loads(refused.read_text())
        assert outcome["type"] == "BusyError"
        assert re.fullmatch(
            rf"another retrain is running \(pid {holder}, started \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC\); "
            "wait for it to finish or cancel it",
            outcome["message"],
        ), outcome["message"]
        assert retrain_running(root / "artifacts") is not None
    finally:
        (flags / "retrain.locked.release").touch()
        codes = sorted(p.wait(timeout=120) for p in procs)
    assert codes == [0, 3]
    winner = next(json.loads(r.read_text()) for r in results if r != refused)
    assert winner["status"] == "ok"
    assert capture(root).runs == {winner["run_id"]}
    assert retrain_running(root / "artifacts") is None


def _wait_for(predicate: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_killed_background_job_leaves_a_stale_lock_that_the_next_start_replaces(scratch: Path) -> None:
    from taskclf_core.console import jobs
    from taskclf_core.console.service import RetrainRequest

    root = scratch / "home"
    write_config(root, TINY_CONFIG)
    home = Home(root)
    request = RetrainRequest(synthetic=True, force=True, **TINY_TEAM)
    first = jobs.start_job(home, request)
    assert first.pid is not None
    try:
        _wait_for(lambda: jobs.read_job(home, first.job_id).stage not in ("starting",), "the job to run")
        assert jobs.running_job(home) is not None
        os.killpg(first.pid, signal.SIGKILL)
        _wait_for(lambda: not jobs.process_alive(first.pid), "the killed job to be gone")
    finally:
        if jobs.process_alive(first.pid):
            os.killpg(first.pid, signal.SIGKILL)

    # The lock file is still there, naming the dead job ...
    lock = json.loads((home.jobs_dir / jobs.ACTIVE_LOCK).read_text())
    assert (lock["job_id"], lock["pid"]) == (first.job_id, first.pid)
    # ... but it is stale: its process is gone, so nothing is reported running.
    assert jobs.running_job(home) is None
    lost = jobs.read_job(home, first.job_id)
    assert (lost.state, lost.error_kind) == ("failed", "JobLost")
    assert lost.error is not None and lost.error.startswith(
        "the job process ended without reporting a result (killed or crashed) during "
    )
    assert retrain_running(home.artifacts_dir) is None  # the pipeline's flock went with it

    # A lock naming a live pid whose start time differs (the pid was reused) is stale too.
    reused = {**lock, "pid": os.getpid(), "pid_start": 1}
    (home.jobs_dir / jobs.ACTIVE_LOCK).write_text(json.dumps(reused))
    assert jobs.running_job(home) is None

    second = jobs.start_job(home, request)
    assert second.pid is not None
    try:
        assert jobs.running_job(home) is not None
        with pytest.raises(jobs.JobRunningError) as busy:
            jobs.start_job(home, request)
        assert busy.value.job_id == second.job_id
        assert str(busy.value).startswith(f"a retrain is already running (job {second.job_id}, started ")
        assert str(busy.value).endswith("wait for it to finish or cancel it")
    finally:
        os.killpg(second.pid, signal.SIGKILL)
        _wait_for(lambda: not jobs.process_alive(second.pid), "the second job to be gone")
    assert jobs.running_job(home) is None
    assert check_invariants(root, capture(root), new_runs=capture(root).runs) == []

