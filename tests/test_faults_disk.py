"""Full and read-only disks: a clear one-line error naming the path, the champion intact.

Where the machine lets us mount (root in a container), the home lives on a tiny tmpfs
that is filled up, or its models folder is bind-mounted read-only, before or in the
middle of an operation. Everywhere (and in place of the mounts when mounting is not
permitted) the same failures are simulated at the OS call: in a child process every
call that writes under the home (open for writing, mkdir, write, fsync, sendfile,
rename, replace, unlink) fails with ``ENOSPC`` or ``EROFS``, one call at a time, so each
step of a promotion, a rollback and a save is hit once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers_faults import (
    OS_FAIL_ENV,
    ROOT,
    SCRIPT,
    Template,
    Trial,
    Violations,
    Zygote,
    capture,
    check_invariants,
    child_env,
    leftovers,
    run_decision,
    write_config,
)
from helpers_registry import bundle_files, champion_of, make_run, promoted_run, tiny_model_text

from taskclf_core.errors import StorageError
from taskclf_core.paths import Home
from taskclf_core.registry.listing import (
    cleanup_stale_temp,
    promote,
    read_active,
    write_run,
)
from taskclf_core.registry.runids import new_run_id

REASONS = {"ENOSPC": "no space left on device", "EROFS": "read-only file system"}


def _mount(*args: str) -> bool:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    return done.returncode == 0


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


@pytest.fixture(scope="module")
def can_mount(tmp_path_factory: pytest.TempPathFactory) -> bool:
    """Whether this machine lets the tests mount a tmpfs (root, no seccomp filter).

    ``TASKCLF_TEST_NO_MOUNT=1`` forces the simulated path (to test it where mounting works).
    """
    if os.environ.get("TASKCLF_TEST_NO_MOUNT"):
        return False
    probe = tmp_path_factory.mktemp("probe")
    if os.geteuid() != 0 or not _mount("-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)):
        return False
    _umount(probe)
    return True



def _populate(root: Path) -> dict[str, str]:
    """Champion C over an earlier champion P; run A awaiting sign-off against C."""
    home = Home(root)
    write_config(root)
    earlier = promoted_run(home, note="first")
    champion = promoted_run(home, note="second")
    return {"earlier": earlier, "champion": champion, "awaiting": make_run(home, champion=champion_of(home))}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Template, dict[str, str]]:
    base = tmp_path_factory.mktemp("disk-template")
    ids = _populate(base / "home")
    model_file = base / "model.txt"
    model_file.write_text(tiny_model_text(), encoding="utf-8")
    run_files = base / "run-files"
    run_files.mkdir()
    files = {**bundle_files(), "evaluation.json": b"{}\n", "gates.json": b"{}\n", "snapshot.json": b"{}\n", "config.yaml": b"{}\n"}
    for name, data in files.items():
        (run_files / name).write_bytes(data)
    return Template(base / "home", model_file, run_files), ids


class SmallDisk:
    """A tmpfs of ``size`` mounted at ``path`` (unmounted at the end of the test)."""

    def __init__(self, path: Path, size: str) -> None:
        path.mkdir(parents=True)
        assert _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))
        self.path = path
        self.filler = path / "filler"

    def fill(self) -> int:
        """Write a filler file until the disk is full; returns its size."""
        chunk = b"\0" * 4096
        with open(self.filler, "ab", buffering=0) as fh:
            while True:
                try:
                    fh.write(chunk)
                except OSError:
                    break
        return self.filler.stat().st_size

    def leave_free(self, full_size: int, pages: int) -> None:
        os.truncate(self.filler, max(0, full_size - pages * 4096))

    def close(self) -> None:
        _umount(self.path)


class ReadOnly:
    """``folder`` bind-mounted over itself read-only (files opened before stay writable)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        assert _mount("--bind", str(folder), str(folder))
        assert _mount("-o", "remount,ro,bind", str(folder))

    def close(self) -> None:
        _umount(self.folder)


def _assert_clean_refusal(message: str, root: Path, mode: str) -> None:
    assert "\n" not in message
    assert REASONS[mode] in message, message
    assert message.startswith("cannot "), message
    assert f"{root}/" in message, message  # names the path


# --------------------------------------------------------------------------- simulated sweeps


def _sweep(
    zygote: Zygote, template: Template, scratch: Path, label: str, op: str, mode: str,
    violations: Violations, *, targets: set[str], first: int = 1, limit: int = 80, **args: object,
) -> dict[str, int]:
    """Fail the n-th OS call under the home, for n = first, … until the operation succeeds.

    Returns the number of trials refused and completed, and ``calls``: how many OS calls
    under the home the operation makes.
    """
    counts = {"refused": 0, "ok": 0, "calls": 0}
    for nth in range(first, limit + 1):
        root = template.copy(scratch / f"{label}-{nth}")
        before = capture(root)
        trial = zygote.run(op, os_fail={"mode": mode, "under": str(root), "nth": nth}, root=str(root), **args)
        outcome = trial.outcome or {}
        assert trial.status in ("ok", "refused"), f"{label} call {nth}: {trial.describe()}"
        new = set(capture(root).runs - before.runs)
        problems = check_invariants(root, before, targets=targets | new, new_runs=new)
        violations.add(f"{label} call {nth} ({outcome.get('os_first')})", problems)
        if trial.status == "refused":
            counts["refused"] += 1
            # The disk's refusal is a StorageError; a file the change reads back is a RegistryError.
            assert "TaskclfError" in outcome["mro"] and {"StorageError", "RegistryError"} & set(outcome["mro"]), outcome
            _assert_clean_refusal(outcome["message"], root, mode)
            # A refused change changed nothing: the previous champion is intact.
            if capture(root).active != before.active:
                violations.add(label, [f"call {nth}: refused with {outcome['message']!r} but the pointer moved"])
            read_active(Home(root))  # the champion's pointer and bundle still read
            if mode == "ENOSPC" and leftovers(root):  # a read-only disk cannot delete them
                violations.add(label, [f"call {nth}: a live writer left {leftovers(root)}"])
        else:
            counts["ok"] += 1
            if not outcome.get("os_fired"):
                counts["calls"] = outcome["os_calls"]
                return counts  # every matching call has been failed once
    raise AssertionError(f"{label}: still failing after {limit} calls")


@pytest.mark.parametrize("mode", ["ENOSPC", "EROFS"])
def test_promotion_and_rollback_fail_cleanly_at_every_os_call(
    zygote: Zygote, template: tuple[Template, dict[str, str]], scratch: Path, mode: str
) -> None:
    tpl, ids = template
    violations = Violations([])
    promoted = _sweep(zygote, tpl, scratch, f"promote-{mode}", "promote", mode, violations,
                      targets={ids["awaiting"]}, run_id=ids["awaiting"])
    rolled = _sweep(zygote, tpl, scratch, f"rollback-{mode}", "rollback", mode, violations,
                    targets={ids["earlier"]}, model_id=ids["earlier"])
    assert not violations.items, violations.report()
    assert promoted["refused"] >= (14 if mode == "ENOSPC" else 8)
    assert rolled["refused"] >= 3


def test_save_step_fails_cleanly_at_every_os_call_of_a_full_disk(
    zygote: Zygote, template: tuple[Template, dict[str, str]], scratch: Path
) -> None:
    tpl, ids = template
    violations = Violations([])
    written = _sweep(
        zygote, tpl, scratch, "write_run", "write_run", "ENOSPC", violations, targets=set(),
        run_id=new_run_id(), files_dir=str(tpl.run_files), decision=run_decision(),
    )
    pointer = json.loads((tpl.root / "models" / "active.json").read_text())
    # A promoting save is write_run (swept just above: the same calls), then promote_auto.
    saved = _sweep(
        zygote, tpl, scratch, "save_run", "save_run", "ENOSPC", violations, targets=set(),
        first=written["calls"] + 1,
        model_file=str(tpl.model_file), champion=[pointer["model_id"], pointer["model_sha256"]],
    )
    assert not violations.items, violations.report()
    assert written["refused"] >= 12 and saved["refused"] >= 15


def test_retrain_lock_on_a_read_only_disk_is_a_clear_error(zygote: Zygote, scratch: Path) -> None:
    root = scratch / "home"
    (root / "artifacts" / "runs").mkdir(parents=True)
    (root / "models").mkdir()
    trial = zygote.run("cleanup", os_fail={"mode": "EROFS", "under": str(root)}, root=str(root))
    assert trial.status == "ok", trial.describe()  # cleanup is best effort, never fatal
    result = _zygote_retrain_lock(zygote, root)
    assert result.outcome is not None and result.outcome["status"] == "refused", result.describe()
    assert result.outcome["message"] == (
        f"cannot lock {root}/artifacts/runs/.retrain.lock: read-only file system"
    )


def _zygote_retrain_lock(zygote: Zygote, root: Path) -> Trial:
    return zygote.run("retrain_lock", os_fail={"mode": "EROFS", "under": str(root)}, root=str(root))


# --------------------------------------------------------------------------- real tmpfs / bind mounts


def test_promotion_on_a_tmpfs_filling_up_fails_cleanly_at_every_fill_level(
    can_mount: bool, zygote: Zygote, template: tuple[Template, dict[str, str]], scratch: Path
) -> None:
    """Leave 0, 1, 2, … free pages on a full tmpfs and promote until it fits."""
    if not can_mount:  # same scenario at the OS call: every write under the home fails
        tpl, ids = template
        root = tpl.copy(scratch / "home")
        before = capture(root)
        trial = zygote.run("promote", os_fail={"mode": "ENOSPC", "under": str(root)}, root=str(root), run_id=ids["awaiting"])
        assert trial.outcome is not None and trial.outcome["status"] == "refused", trial.describe()
        _assert_clean_refusal(trial.outcome["message"], root, "ENOSPC")
        assert check_invariants(root, before, targets={ids["awaiting"]}) == [] and capture(root).active == before.active
        return
    disk = SmallDisk(scratch / "fs", "1m")
    try:
        root = disk.path / "home"
        ids = _populate(root)
        home = Home(root)
        before = capture(root)
        full = disk.fill()
        failures: list[str] = []
        for pages in range(0, 64):
            disk.leave_free(full, pages)
            try:
                promote(home, ids["awaiting"], approver="alice", note="ship it", auto_promote=False)
            except StorageError as exc:
                _assert_clean_refusal(str(exc), root, "ENOSPC")
                failures.append(str(exc).split(":")[0])
                assert capture(root).active == before.active
                assert check_invariants(root, before, targets={ids["awaiting"]}) == []
                assert leftovers(root) == []  # the live writer removed its temporary files
                continue
            break
        else:
            raise AssertionError("the promotion never fitted")
        assert read_active(home).model_id == ids["awaiting"]  # type: ignore[union-attr]
        assert check_invariants(root, before, targets={ids["awaiting"]}) == []
        # Each fill level stopped the promotion at a later write.
        assert len(failures) >= 3 and failures[0].startswith(f"cannot write {root}/models/")
        assert len(set(failures)) >= 2, failures
    finally:
        disk.close()


def test_save_step_on_a_full_tmpfs_is_a_clear_error_and_leaves_nothing(
    can_mount: bool, template: tuple[Template, dict[str, str]], scratch: Path, zygote: Zygote
) -> None:
    tpl, _ = template
    files = {p.name: p.read_bytes() for p in tpl.run_files.iterdir()}
    if not can_mount:
        root = tpl.copy(scratch / "home")
        trial = zygote.run("write_run", os_fail={"mode": "ENOSPC", "under": str(root)}, root=str(root),
                           run_id=new_run_id(), files_dir=str(tpl.run_files), decision=run_decision())
        assert trial.outcome is not None and trial.outcome["status"] == "refused", trial.describe()
        _assert_clean_refusal(trial.outcome["message"], root, "ENOSPC")
        return
    disk = SmallDisk(scratch / "fs", "1m")
    try:
        root = disk.path / "home"
        _populate(root)
        before = capture(root)
        disk.fill()
        run_id = new_run_id()
        with pytest.raises(StorageError) as err:
            write_run(Home(root).runs_dir, run_id, files=files, decision=run_decision())
        _assert_clean_refusal(str(err.value), root, "ENOSPC")
        assert str(err.value).startswith(f"cannot write {root}/artifacts/runs/{run_id}")
        assert capture(root) == before and leftovers(root) == []
    finally:
        disk.close()


def test_promotion_on_a_read_only_models_folder_before_and_mid_operation(
    can_mount: bool, zygote: Zygote, template: tuple[Template, dict[str, str]], scratch: Path
) -> None:
    tpl, ids = template
    root = tpl.copy(scratch / "home")
    home = Home(root)
    before = capture(root)
    if not can_mount:
        trial = zygote.run("promote", os_fail={"mode": "EROFS", "under": str(root / "models")},
                           root=str(root), run_id=ids["awaiting"])
        assert trial.outcome is not None
        assert trial.outcome["message"] == f"cannot lock {root}/models/.registry.lock: read-only file system"
        return
    # Read-only before the promotion starts: refused at the lock, nothing changed.
    ro = ReadOnly(root / "models")
    try:
        with pytest.raises(StorageError) as err:
            promote(home, ids["awaiting"], approver="alice", note="ship it", auto_promote=False)
        assert str(err.value) == f"cannot lock {root}/models/.registry.lock: read-only file system"
    finally:
        ro.close()
    assert capture(root) == before

    # Read-only in the middle: after the bundle is copied, before the history entry.
    # (The copy first: once a stopped promotion left the bundle complete, it is reused.)
    for point, failing in [("promote.copy#3", "models/"), ("promote.installed", "models/active_history.jsonl")]:
        flags = scratch / f"flags-{point}"
        flags.mkdir()
        env = {"TASKCLF_FAULTPOINT": point, "TASKCLF_FAULTPOINT_ACTION": f"pause:{flags}"}
        started = zygote.start("promote", env=env, root=str(root), run_id=ids["awaiting"])
        name = point.split("#")[0]
        ro: ReadOnly | None = None
        try:
            deadline = time.monotonic() + 30
            while not (flags / f"{name}.reached").exists():
                assert time.monotonic() < deadline, f"{point} was never reached"
                time.sleep(0.01)
            ro = ReadOnly(root / "models")
        finally:
            (flags / f"{name}.release").touch()
            trial = zygote.wait(started)
            if ro is not None:
                ro.close()
        assert trial.outcome is not None and trial.outcome["status"] == "refused", trial.describe()
        message = trial.outcome["message"]
        _assert_clean_refusal(message, root, "EROFS")
        assert message.startswith(f"cannot write {root}/{failing}"), message
        assert capture(root).active == before.active
        assert check_invariants(root, before, targets={ids["awaiting"]}) == []
    # Writable again: the next promotion works without repair, leftovers are cleaned up.
    promote(home, ids["awaiting"], approver="alice", note="ship it", auto_promote=False)
    assert check_invariants(root, before, targets={ids["awaiting"]}) == []
    cleanup_stale_temp(home, min_age_seconds=0)
    assert leftovers(root) == []


# --------------------------------------------------------------------------- the CLI


def _cli(root: Path, args: list[str], *, simulate: dict[str, object] | None = None) -> subprocess.CompletedProcess[str]:
    env = child_env(TASKCLF_HOME=str(root))
    if simulate is None:
        cmd = [sys.executable, "-m", "taskclf_core.console.cli", *args]
    else:
        env[OS_FAIL_ENV] = json.dumps(simulate)
        cmd = [sys.executable, str(SCRIPT), "cli", *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_cli_promote_on_a_full_or_read_only_disk_exits_2_with_one_line(
    can_mount: bool, template: tuple[Template, dict[str, str]], scratch: Path
) -> None:
    """``python -m taskclf_core.console.cli train promote`` prints one line and exits 2, not a traceback."""
    tpl, ids = template
    args = ["train", "promote", ids["awaiting"], "--approver", "alice", "--note", "ship it"]
    # (mode, home, the CLI's result, whether the champion pointer stayed as it was)
    cases: list[tuple[str, Path, subprocess.CompletedProcess[str], bool]] = []

    def run(mode: str, root: Path, cli_args: list[str], simulate: bool) -> None:
        before = capture(root).active
        done = _cli(root, cli_args, simulate={"mode": mode, "under": str(root)} if simulate else None)
        cases.append((mode, root, done, capture(root).active == before))

    run("ENOSPC", tpl.copy(scratch / "simulated-full"), args, simulate=True)
    if can_mount:
        disk = SmallDisk(scratch / "fs", "1m")
        try:
            root = disk.path / "home"
            on_disk = _populate(root)
            disk.fill()
            run("ENOSPC", root, ["train", "promote", on_disk["awaiting"], "--approver", "a", "--note", "n"], simulate=False)
        finally:
            disk.close()
        root = tpl.copy(scratch / "read-only")
        ro = ReadOnly(root / "models")
        try:
            run("EROFS", root, args, simulate=False)
        finally:
            ro.close()
    else:
        run("EROFS", tpl.copy(scratch / "simulated-read-only"), args, simulate=True)

    assert len(cases) == (3 if can_mount else 2)
    for mode, root, done, unchanged in cases:
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2, (mode, done.stderr)
        assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
        assert lines[0].startswith("error: cannot "), lines[0]
        _assert_clean_refusal(lines[0].removeprefix("error: "), root, mode)
        assert unchanged, f"{mode}: the champion pointer changed"
