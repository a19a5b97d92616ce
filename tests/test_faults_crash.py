"""Crash injection: promotion, rollback and a retrain's save step killed with SIGKILL.

Each trial copies a pristine registry, runs one operation in a real child process and
kills it (SIGKILL) at a named fault point (``taskclf_core.fs.faultpoints``: every instant
between two disk writes of the operation) or after a random delay. After every kill the
registry invariants of ``spec/registry.md`` are checked from the files themselves
(``helpers_faults.check_invariants``), then the next operation must work without any
manual repair, and the ``.tmp-*`` leftovers must be ignored by listings and removed by
``cleanup_stale_temp``. A few trials kill a real ``run_retrain_pipeline`` (tiny synthetic
team, 5 boosting rounds) at random instants.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from helpers_faults import (
    ROOT,
    SCRIPT,
    TINY_CONFIG,
    RegistryState,
    Template,
    Trial,
    Violations,
    Zygote,
    capture,
    check_invariants,
    child_env,
    iter_faults,
    leftovers,
    run_decision,
)
from helpers_registry import bundle_files, champion_of, make_run, promoted_run, tiny_model_text

from taskclf_core.paths import Home
from taskclf_core.registry.cleanup import cleanup_stale_temp
from taskclf_core.registry.listing import inspect_history, list_models, list_runs, read_active
from taskclf_core.registry.runids import new_run_id
from taskclf_core.train.lock import retrain_running
from tests.conftest import write_config

#: Fault points of a manual promotion, in the order they are reached (name: hits).
PROMOTE_POINTS = {
    "promote.locked": 1,
    "promote.copy": 5,  # before each bundle file is copied into models/.tmp-<run_id>…
    "atomic.folder.filled": 1,
    "atomic.folder.synced": 1,
    "atomic.folder.renamed": 1,  # models/<run_id> in place, fsync of models/ pending
    "promote.installed": 1,
    "atomic.append.before": 1,
    "atomic.append.written": 1,
    "commit.appended": 1,  # history entry on disk, pointer not moved
    "atomic.file.written": 1,  # models/.tmp-active.json… complete, not renamed
    "atomic.file.replaced": 1,  # pointer moved, fsync of models/ pending
    "commit.done": 1,
}
ROLLBACK_POINTS = {
    "rollback.locked": 1,
    "atomic.append.before": 1,
    "atomic.append.written": 1,
    "commit.appended": 1,
    "atomic.file.written": 1,
    "atomic.file.replaced": 1,
    "commit.done": 1,
}
#: write_run of a run that is not promoted: 9 files, then decision.json, then the rename.
WRITE_RUN_POINTS = {
    "runs.write.file": 9,
    "runs.write.decision": 1,
    "atomic.folder.filled": 1,
    "atomic.folder.synced": 1,
    "atomic.folder.renamed": 1,
}
#: save_run of a run with outcome ``promoted``: write_run then promote_auto, under one lock.
SAVE_PROMOTED_POINTS = {
    "runsave.locked": 1,
    "runs.write.file": 9,
    "runs.write.decision": 1,
    "atomic.folder.filled": 2,  # 1: the run folder, 2: the bundle in models/
    "atomic.folder.renamed": 2,
    "runsave.written": 1,  # run folder in place, promotion not started
    "promote.copy": 5,
    "promote.installed": 1,
    "commit.appended": 1,
    "atomic.file.written": 1,
    "atomic.file.replaced": 1,
    "commit.done": 1,
}
RANDOM_TRIALS = {"promote": 8, "rollback": 6, "save_run": 8}
PIPELINE_RANDOM_KILLS = 2



@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Template, dict[str, str]]:
    """A registry with history P → C (champion C) and run A awaiting sign-off against C."""
    base = tmp_path_factory.mktemp("template")
    root = base / "home"
    home = Home(root)
    earlier = promoted_run(home, note="first")
    champion = promoted_run(home, note="second")
    awaiting = make_run(home, champion=champion_of(home))
    model_file = base / "model.txt"
    model_file.write_text(tiny_model_text(), encoding="utf-8")
    run_files = base / "run-files"
    run_files.mkdir()
    files = bundle_files()
    files.update({
        "evaluation.json": b'{"challenger": {"macro_f1": 0.8}}\n', "gates.json": b"{}\n",
        "snapshot.json": b"{}\n", "config.yaml": b"{}\n",
    })
    for name, data in files.items():
        (run_files / name).write_bytes(data)
    ids = {"earlier": earlier, "champion": champion, "awaiting": awaiting}
    return Template(root, model_file, run_files), ids


def _trial_home(template: Template, scratch: Path, label: str) -> tuple[Path, RegistryState]:
    root = template.copy(scratch / label)
    return root, capture(root)


def _ok(trial: Trial) -> object:
    assert trial.status == "ok", trial.describe()
    assert trial.outcome is not None
    return trial.outcome["value"]


def _after_crash(
    zygote: Zygote, root: Path, before: RegistryState, label: str, violations: Violations,
    *, targets: set[str], new_runs: set[str] = frozenset(),  # type: ignore[assignment]
) -> RegistryState:
    """Invariants after the kill; listings ignore leftovers; returns the state reached."""
    violations.add(label, check_invariants(root, before, targets=targets, new_runs=new_runs))
    listed = {r.run_id for r in list_runs(Home(root))}
    if any(name.startswith(".") for name in listed):
        violations.add(label, [f"list_runs shows leftovers: {sorted(listed)}"])
    return capture(root)


def _cleanup_and_recheck(root: Path, label: str, violations: Violations) -> None:
    """``cleanup_stale_temp`` removes every leftover of the dead writers and nothing else."""
    state = capture(root)
    cleanup_stale_temp(Home(root), min_age_seconds=0)
    if leftovers(root):
        violations.add(label, [f"leftovers not cleaned up: {leftovers(root)}"])
    if capture(root) != state:
        violations.add(label, ["cleanup_stale_temp changed the registry"])
    violations.add(label + " after cleanup", check_invariants(root, state))


# --------------------------------------------------------------------------- promotion


def _check_stopped_promotion(
    zygote: Zygote, root: Path, ids: dict[str, str], scratch: Path, label: str, violations: Violations
) -> None:
    """Issue 11 items 3 and 4 after a promotion that stopped before the pointer moved.

    4: a bundle it left in ``models/`` is listed as left over and is never a rollback
    target. 3: on a copy whose pointer is then damaged, the repair (a rollback) links to
    no orphan (it records a gap instead), and the stopped run can still be promoted (it
    is not "already promoted").
    """
    home = Home(root)
    awaiting = ids["awaiting"]
    leftover = (root / "models" / awaiting).is_dir()
    if leftover:
        listed = {m.model_id: m for m in list_models(home)}
        if awaiting in listed and listed[awaiting].rollback_target:
            violations.add(label, [f"left-over bundle {awaiting} is listed as a rollback target"])
        refused = zygote.run("rollback", root=str(root), model_id=awaiting)
        if refused.status != "refused" or "never champion" not in str(refused.outcome.get("message")):  # type: ignore[union-attr]
            violations.add(label, [f"rollback to the left-over {awaiting} was not refused: {refused.describe()}"])
    copy = _repair_damaged_pointer(zygote, root, ids["earlier"], scratch, label, violations)
    if copy is None:
        return
    again = zygote.run("promote", root=str(copy), run_id=awaiting, expected=ids["earlier"])
    if again.status != "ok":
        violations.add(label, [f"the stopped run cannot be promoted after the repair: {again.describe()}"])
    STOPPED_CHECKS[("leftover" if leftover else "clean")] += 1


def _repair_damaged_pointer(
    zygote: Zygote, root: Path, target: str, scratch: Path, label: str, violations: Violations
) -> Path | None:
    """Item 3 on a copy: damage the pointer, repair by rollback; no orphan may be linked."""
    copy = scratch / f"{label}-repair"
    shutil.copytree(root, copy, symlinks=True)
    orphans = {e.change_id for e in inspect_history(Home(copy)).orphaned}
    (copy / "models" / "active.json").write_bytes(b'{"model_dir": "models/x", oops')
    repaired = zygote.run("rollback", root=str(copy), model_id=target)
    if repaired.status != "ok":
        violations.add(label, [f"the repair rollback failed: {repaired.describe()}"])
        return None
    report = inspect_history(Home(copy))
    head = report.entries[0] if report.entries else None
    if head is None or head.previous_change_id is not None or head.gap is None:
        violations.add(label, [f"the repair did not record a gap: {head}"])
    if any(e.change_id in orphans for e in report.entries):
        violations.add(label, ["an orphan entry became part of the effective history"])
    return copy


#: How many stopped promotions the item 3/4 checks ran on (reported by the suite).
STOPPED_CHECKS: Counter[str] = Counter()


def _promote_trial(
    zygote: Zygote, template: Template, ids: dict[str, str], scratch: Path, label: str,
    violations: Violations, *, fault: str | None = None, kill_after: float | None = None,
) -> str:
    root, before = _trial_home(template, scratch, label)
    trial = zygote.run("promote", fault=fault, kill_after=kill_after, root=str(root), run_id=ids["awaiting"])
    if fault:
        assert trial.killed, f"{label}: the fault point was never reached ({trial.describe()})"
    elif not trial.killed:
        assert _ok(trial) == ids["awaiting"]
    reached = _after_crash(zygote, root, before, label, violations, targets={ids["awaiting"]})
    moved = reached.active != before.active
    if not moved:
        _check_stopped_promotion(zygote, root, ids, scratch, label, violations)
    # The next operation works without repair: retry the promotion, or roll back over it.
    if not moved:
        assert _ok(zygote.run("promote", root=str(root), run_id=ids["awaiting"])) == ids["awaiting"]
        violations.add(label + " retry", check_invariants(root, reached, targets={ids["awaiting"]}))
    else:
        retry = zygote.run("promote", root=str(root), run_id=ids["awaiting"])
        assert retry.outcome is not None and retry.outcome["message"] == f"run {ids['awaiting']} is already the champion"
        assert _ok(zygote.run("rollback", root=str(root), model_id=ids["champion"])) == ids["champion"]
        violations.add(label + " rollback", check_invariants(root, reached, targets={ids["champion"]}))
    _cleanup_and_recheck(root, label, violations)
    return "killed, pointer moved" if moved and trial.killed else (
        "killed, pointer not moved" if trial.killed else "completed"
    )


@pytest.mark.slow
def test_promotion_killed_at_every_fault_point_keeps_the_invariants(
    zygote: Zygote, template: tuple[Template, dict[str, str]], scratch: Path
) -> None:
    tpl, ids = template
    violations = Violations([])
    outcomes = Counter(
        _promote_trial(zygote, tpl, ids, scratch, f"promote@{fault}", violations, fault=fault)
        for fault in iter_faults(PROMOTE_POINTS)
    )
    assert not violations.items, violations.report()
    assert sum(outcomes.values()) == 16
    # Up to the pointer rename the old champion stays; from the rename on, the new one.
    assert outcomes == {"killed, pointer not moved": 14, "killed, pointer moved": 2}
    # Items 3 and 4 checked after each of the 14 stops (left-over bundle in 9 of them).
    print(f"stopped-promotion checks: {dict(STOPPED_CHECKS)}")
    assert sum(STOPPED_CHECKS.values()) >= 14 and STOPPED_CHECKS["leftover"] >= 1


def test_promotion_killed_at_random_instants_keeps_the_invariants(
    zygote: Zygote, template: tuple[Template, dict[str, str]], scratch: Path
) -> None:
    tpl, ids = template
    # How long an uninterrupted promotion takes in a child, to spread the kills over it.
    root, _ = _trial_home(tpl, scratch, "measure")
    started = time.perf_counter()
    _ok(zygote.run("promote", root=str(root), run_id=ids["awaiting"]))
    duration = time.perf_counter() - started
    rng = random.Random(20261126)
    violations = Violations([])
    outcomes = Counter(
        _promote_trial(
            zygote, tpl, ids, scratch, f"promote@{i}", violations,
            kill_after=rng.uniform(0.0, 1.1 * duration),
        )
        for i in range(RANDOM_TRIALS["promote"])
    )
    assert not violations.items, violations.report()
    assert sum(outcomes.values()) == RANDOM_TRIALS["promote"]


# --------------------------------------------------------------------------- rollback


def _rollback_trial(
    zygote: Zygote, template: Template, ids: dict[str, str], scratch: Path, label: str,
    violations: Violations, *, fault: str | None = None, kill_after: float | None = None,
) -> str:
    root, before = _trial_home(template, scratch, label)
    target = ids["earlier"]
    trial = zygote.run("rollback", fault=fault, kill_after=kill_after, root=str(root), model_id=target)
    if fault:
        assert trial.killed, f"{label}: the fault point was never reached ({trial.describe()})"
    elif not trial.killed:
        assert _ok(trial) == target
    reached = _after_crash(zygote, root, before, label, violations, targets={target})
    moved = reached.active != before.active
    if not moved and _repair_damaged_pointer(zygote, root, ids["champion"], scratch, label, violations):
        STOPPED_CHECKS["rollback"] += 1
    if not moved:
        assert _ok(zygote.run("rollback", root=str(root), model_id=target)) == target
        violations.add(label + " retry", check_invariants(root, reached, targets={target}))
    else:
        assert _ok(zygote.run("rollback", root=str(root), model_id=ids["champion"])) == ids["champion"]
        violations.add(label + " back", check_invariants(root, reached, targets={ids["champion"]}))
    _cleanup_and_recheck(root, label, violations)
    return "moved" if moved else "not moved"


@pytest.mark.slow
def test_rollback_killed_at_every_fault_point_and_at_random_instants(
    zygote: Zygote, template: tuple[Template, dict[str, str]], scratch: Path
) -> None:
    tpl, ids = template
    violations = Violations([])
    named = Counter(
        _rollback_trial(zygote, tpl, ids, scratch, f"rollback@{fault}", violations, fault=fault)
        for fault in iter_faults(ROLLBACK_POINTS)
    )
    assert named == {"not moved": 5, "moved": 2}
    assert STOPPED_CHECKS["rollback"] >= 5  # item 3 checked after every stopped rollback

    root, _ = _trial_home(tpl, scratch, "measure")
    started = time.perf_counter()
    _ok(zygote.run("rollback", root=str(root), model_id=ids["earlier"]))
    duration = time.perf_counter() - started
    rng = random.Random(7)
    for i in range(RANDOM_TRIALS["rollback"]):
        _rollback_trial(
            zygote, tpl, ids, scratch, f"rollback@{i}", violations,
            kill_after=rng.uniform(0.0, 1.1 * duration),
        )
    print(f"stopped-change checks: {dict(STOPPED_CHECKS)}")
    assert not violations.items, violations.report()


# --------------------------------------------------------------------------- the save step


def test_write_run_killed_at_every_fault_point_never_lists_a_half_written_run(
    zygote: Zygote, template: tuple[Template, dict[str, str]], scratch: Path
) -> None:
    tpl, ids = template
    violations = Violations([])
    visible = Counter()
    for fault in iter_faults(WRITE_RUN_POINTS):
        label = f"write_run@{fault}"
        root, before = _trial_home(tpl, scratch, label)
        run_id = new_run_id()
        args = {"root": str(root), "files_dir": str(tpl.run_files), "decision": run_decision()}
        trial = zygote.run("write_run", fault=fault, run_id=run_id, **args)
        assert trial.killed, f"{label}: the fault point was never reached ({trial.describe()})"
        reached = _after_crash(zygote, root, before, label, violations, targets=set(), new_runs={run_id})
        landed = run_id in reached.runs
        visible[landed] += 1
        # Next: the same save again (it refuses only when the run did land) and a new run.
        again = zygote.run("write_run", run_id=run_id, **args)
        if landed:
            assert again.outcome is not None and again.outcome["message"] == (
                f"{root / 'artifacts' / 'runs' / run_id} already exists; refusing to overwrite it"
            )
        else:
            assert _ok(again) == run_id
        other = new_run_id()
        assert _ok(zygote.run("write_run", run_id=other, **args)) == other
        violations.add(label + " next", check_invariants(root, reached, new_runs={run_id, other}))
        _cleanup_and_recheck(root, label, violations)
    assert not violations.items, violations.report()
    assert visible == {False: 12, True: 1}


def _save_trial(
    zygote: Zygote, template: Template, scratch: Path, label: str, violations: Violations,
    *, fault: str | None = None, kill_after: float | None = None,
) -> str:
    root, before = _trial_home(template, scratch, label)
    pointer = read_active(Home(root))
    assert pointer is not None
    champion = [pointer.model_id, pointer.model_sha256]
    trial = zygote.run(
        "save_run", fault=fault, kill_after=kill_after, root=str(root),
        model_file=str(template.model_file), champion=champion,
    )
    if fault:
        assert trial.killed, f"{label}: the fault point was never reached ({trial.describe()})"
    elif not trial.killed:
        assert _ok(trial)[1] == "promoted"  # type: ignore[index]
    new = set(capture(root).runs - before.runs)
    assert len(new) <= 1
    reached = _after_crash(zygote, root, before, label, violations, targets=new, new_runs=new)
    # The next retrain's save step works without repair and promotes against the champion now.
    now = read_active(Home(root))
    assert now is not None
    run_id, outcome = _ok(zygote.run(  # type: ignore[misc]
        "save_run", root=str(root), model_file=str(template.model_file),
        champion=[now.model_id, now.model_sha256],
    ))
    assert outcome == "promoted"
    violations.add(label + " next", check_invariants(root, reached, targets={run_id}, new_runs={run_id}))
    _cleanup_and_recheck(root, label, violations)
    if reached.active != before.active:
        return "run promoted"
    return "run saved, not promoted" if new else "nothing saved"


@pytest.mark.slow
def test_save_step_of_a_promoting_retrain_killed_at_every_fault_point(
    zygote: Zygote, template: tuple[Template, dict[str, str]], scratch: Path
) -> None:
    tpl, _ = template
    violations = Violations([])
    outcomes = Counter(
        _save_trial(zygote, tpl, scratch, f"save_run@{fault}", violations, fault=fault)
        for fault in iter_faults(SAVE_PROMOTED_POINTS)
    )
    assert not violations.items, violations.report()
    assert outcomes == {"nothing saved": 12, "run saved, not promoted": 12, "run promoted": 2}


@pytest.mark.slow
def test_save_step_killed_at_random_instants(
    zygote: Zygote, template: tuple[Template, dict[str, str]], scratch: Path
) -> None:
    tpl, _ = template
    root, _ = _trial_home(tpl, scratch, "measure")
    pointer = read_active(Home(root))
    assert pointer is not None
    started = time.perf_counter()
    _ok(zygote.run("save_run", root=str(root), model_file=str(tpl.model_file),
                   champion=[pointer.model_id, pointer.model_sha256]))
    duration = time.perf_counter() - started
    rng = random.Random(11)
    violations = Violations([])
    for i in range(RANDOM_TRIALS["save_run"]):
        _save_trial(zygote, tpl, scratch, f"save_run@{i}", violations,
                    kill_after=rng.uniform(0.0, 1.1 * duration))
    assert not violations.items, violations.report()


def test_an_interrupted_automatic_promotion_is_flagged_not_listed_as_promoted(
    zygote: Zygote, template: tuple[Template, dict[str, str]], scratch: Path
) -> None:
    tpl, ids = template
    root, before = _trial_home(tpl, scratch, "interrupted")
    trial = zygote.run(
        "save_run", fault="runsave.written", root=str(root), model_file=str(tpl.model_file),
        champion=[ids["champion"], json.loads(before.active or b"{}")["model_sha256"]],
    )
    assert trial.killed
    (run_id,) = capture(root).runs - before.runs
    summary = next(r for r in list_runs(Home(root)) if r.run_id == run_id)
    assert summary.outcome == "promoted"
    assert summary.broken == (
        f"run {run_id} was saved as promoted but its automatic promotion never took effect "
        f"(it was interrupted before the champion pointer moved; the champion is still "
        f"{ids['champion']}); run the retrain again"
    )
    from taskclf_core.registry.listing import promotability

    can, why = promotability(Home(root), run_id, auto_promote=False)
    assert not can
    assert why == (
        f"run {run_id} was saved as promoted but its automatic promotion never took effect "
        "(it was interrupted before the champion pointer moved); it cannot be promoted by "
        "hand: run the retrain again"
    )


def test_a_promotion_in_progress_is_not_flagged_as_interrupted(
    zygote: Zygote, template: tuple[Template, dict[str, str]], scratch: Path
) -> None:
    """While the saver holds the registry lock its run is not yet champion, and not broken."""
    tpl, ids = template
    root, before = _trial_home(tpl, scratch, "in-progress")
    flags = scratch / "flags"
    flags.mkdir()
    env = {"TASKCLF_FAULTPOINT": "runsave.written", "TASKCLF_FAULTPOINT_ACTION": f"pause:{flags}"}
    pointer = json.loads(before.active or b"{}")
    started = zygote.start("save_run", env=env, root=str(root), model_file=str(tpl.model_file),
                           champion=[pointer["model_id"], pointer["model_sha256"]])
    try:
        deadline = time.monotonic() + 30
        while not (flags / "runsave.written.reached").exists():
            assert time.monotonic() < deadline, "the save never reached runsave.written"
            time.sleep(0.01)
        (run_id,) = capture(root).runs - before.runs
        summary = next(r for r in list_runs(Home(root)) if r.run_id == run_id)
        assert (summary.outcome, summary.broken) == ("promoted", None)
    finally:
        (flags / "runsave.written.release").touch()
        trial = zygote.wait(started)
    assert _ok(trial) == [run_id, "promoted"]
    assert check_invariants(root, before, targets={run_id}, new_runs={run_id}) == []


# --------------------------------------------------------------------------- the real pipeline


def _retrain_process(root: Path, result: Path, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), "retrain", str(root), str(result)], cwd=ROOT,
        env=child_env(**env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


@pytest.mark.slow
def test_real_retrain_pipeline_killed_at_random_instants(scratch: Path) -> None:
    """A real ``run_retrain_pipeline`` (2 users, 2 days, 5 rounds) killed mid-way."""
    root = scratch / "home"
    write_config(root, TINY_CONFIG)
    home = Home(root)
    violations = Violations([])

    started = time.perf_counter()
    first = _retrain_process(root, scratch / "first.json")
    assert first.wait(timeout=120) == 0, first.stderr.read() if first.stderr else ""
    duration = time.perf_counter() - started
    assert json.loads((scratch / "first.json").read_text())["status"] == "ok"

    rng = random.Random(3)
    kills: list[tuple[str, float | None, str | None]] = [
        (f"random {i}", rng.uniform(0.35 * duration, 0.95 * duration), None)
        for i in range(PIPELINE_RANDOM_KILLS)
    ]
    kills.append(("save step", None, "atomic.folder.synced"))
    for label, delay, fault in kills:
        before = capture(root)
        env = {"TASKCLF_FAULTPOINT": fault} if fault else {}
        proc = _retrain_process(root, scratch / f"{label}.json", **env)
        if delay is not None:
            try:
                proc.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                proc.kill()
        code = proc.wait(timeout=120)
        if fault:
            assert code == -9, f"{label}: the fault point was never reached"
        new = set(capture(root).runs - before.runs)
        violations.add(label, check_invariants(root, before, targets=new, new_runs=new))
        # flock: the kernel released the retrain lock of the dead process.
        assert retrain_running(root / "artifacts") is None
    assert not violations.items, violations.report()

    # The next retrain works without repair (the leftovers are ignored).
    before = capture(root)
    final = _retrain_process(root, scratch / "final.json")
    assert final.wait(timeout=120) == 0
    result = json.loads((scratch / "final.json").read_text())
    assert result["status"] == "ok" and result["run_id"] in capture(root).runs
    assert check_invariants(root, before, new_runs={result["run_id"]}) == []
    assert inspect_history(home).problems == []
