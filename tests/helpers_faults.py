"""Fault-test helpers: the registry invariant checker, a crash harness, disk-failure injection.

* :func:`capture` / :func:`check_invariants`: the invariants of ``spec/registry.md``, checked
  from the files themselves (JSON parsed here, hashes computed here, the history chain
  followed here) and compared with what the library's listings say.
* :class:`Zygote`: a helper process that imports the library once and forks one child
  per trial. A trial costs milliseconds instead of an interpreter start, and each child
  is a real process: a fault point (``taskclf_core.fs.faultpoints``) or the zygote kills it
  with a real SIGKILL.
* :func:`install_os_failures`: make the OS calls that write under a folder fail with
  ``ENOSPC`` or ``EROFS`` (all of them, or only the n-th), in a child process.

Run as a script (from the repository root):

* ``python tests/helpers_faults.py serve``: the zygote (JSON commands on stdin);
* ``python tests/helpers_faults.py retrain <root> <result.json>``: one real retrain of a
  tiny synthetic team through ``service.run_retrain``;
* ``python tests/helpers_faults.py cli <args...>``: ``taskclf_core.console.cli`` as ``__main__``
  with the OS failures described by ``$TASKCLF_TEST_OS_FAIL`` (JSON) installed first.
"""

from __future__ import annotations

import builtins
import errno
import hashlib
import io
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SCRIPT = Path(__file__).resolve()
OS_FAIL_ENV = "TASKCLF_TEST_OS_FAIL"
#: Config of every home in these tests: 5 boosting rounds keep a real retrain around a second.
TINY_CONFIG = "# fault tests: tiny and fast\ntrain_params:\n  num_boost_round: 5\n"
#: The synthetic team of a real retrain in these tests.
TINY_TEAM = {"users": 2, "days": 2, "seed": 0, "schema_version": "v1"}
BUNDLE_FILES = (
    "model.txt",
    "metadata.json",
    "metrics.json",
    "confusion_matrix.csv",
    "categorical_encoders.json",
)


def child_env(**extra: str) -> dict[str, str]:
    """Environment for helper processes: the package importable, one thread per library."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    for key in ("TASKCLF_FAULTPOINT", "TASKCLF_FAULTPOINT_ACTION", OS_FAIL_ENV, "TASKCLF_DEBUG"):
        env.pop(key, None)
    env.update(extra)
    return env


@contextmanager
def scratch_dir(fallback: Path) -> Iterator[Path]:
    """A folder on ``/dev/shm`` (a tmpfs: fsync costs nothing) when there is one, else ``fallback``.

    A SIGKILL leaves the same visible state on any file system (fsync only matters when
    the machine loses power), so the trial homes live in memory to keep the suite fast.
    """
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield fallback
        return
    path = Path(tempfile.mkdtemp(prefix="taskclf-faults-", dir=shm))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# =========================================================================== invariants


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _history_by_id(models: Path) -> dict[str, dict[str, Any]]:
    """History entries by change id, parsed here (torn lines skipped, first occurrence kept)."""
    by_id: dict[str, dict[str, Any]] = {}
    try:
        data = (models / "active_history.jsonl").read_bytes()
    except FileNotFoundError:
        return by_id
    for raw in data.split(b"\n"):
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("change_id"), str):
            by_id.setdefault(entry["change_id"], entry)
    return by_id


def effective_chain(models: Path, active: bytes | None) -> list[dict[str, Any]]:
    """The history entries reachable from ``active``'s change id, newest first."""
    if active is None:
        return []
    head = json.loads(active)["change_id"]
    by_id = _history_by_id(models)
    chain: list[dict[str, Any]] = []
    cursor: str | None = head
    while cursor is not None:
        entry = by_id.get(cursor)
        if entry is None or entry in chain:
            raise AssertionError(f"change {cursor} has no entry in the history (chain broken)")
        chain.append(entry)
        cursor = entry.get("previous_change_id")
    return chain


def _visible(folder: Path) -> set[str]:
    if not folder.is_dir():
        return set()
    return {p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")}


@dataclass(frozen=True)
class RegistryState:
    """The registry before an operation: what a crash must leave intact or replace whole."""

    active: bytes | None
    champions: tuple[str, ...]  # effective champions, newest first
    runs: frozenset[str]
    models: frozenset[str]

    @property
    def champion(self) -> str | None:
        return self.champions[0] if self.champions else None


def capture(root: Path) -> RegistryState:
    """The registry state under ``root`` (must itself satisfy the invariants)."""
    models = root / "models"
    path = models / "active.json"
    active = path.read_bytes() if path.exists() else None
    chain = effective_chain(models, active)
    return RegistryState(
        active=active,
        champions=tuple(e["new_champion"] for e in chain),
        runs=frozenset(_visible(root / "artifacts" / "runs")),
        models=frozenset(_visible(models)),
    )


def check_invariants(
    root: Path, before: RegistryState, *, targets: Iterable[str] = (), new_runs: Iterable[str] = ()
) -> list[str]:
    """Every violation of the registry invariants under ``root``, one sentence each.

    Args:
        root: The home.
        before: The state before the operation(s).
        targets: Models that the operation(s) may have made champion.
        new_runs: Runs that the operation(s) may have written.

    Returns:
        The violations (empty when every invariant holds):
        ``active.json`` is the old or a new pointer, complete valid JSON; it names a
        complete bundle whose ``model.txt`` matches its hash; every pointer change that
        took effect has its history entry (the chain from the pointer is exactly the old
        chain, or one new entry on top of it); no half-written run or bundle is visible
        or listed as complete; ``.tmp-*`` leftovers never appear in listings; a run listed
        as ``promoted`` (and not flagged) really became champion.
    """
    from taskclf_core.errors import TaskclfError
    from taskclf_core.paths import Home
    from taskclf_core.registry.bundle import verify_bundle
    from taskclf_core.registry.history import read_history
    from taskclf_core.registry.listing import list_models
    from taskclf_core.registry.pointer import ActivePointer, inspect_active
    from taskclf_core.registry.runs import list_runs, verify_run

    targets, new_runs = set(targets), set(new_runs)
    home = Home(root)
    models = root / "models"
    problems: list[str] = []

    # 1. active.json: the old pointer or a new one, complete and valid.
    path = models / "active.json"
    active = path.read_bytes() if path.exists() else None
    pointer: ActivePointer | None = None
    if active is None:
        if before.active is not None:
            problems.append("active.json disappeared")
    else:
        try:
            pointer = ActivePointer.model_validate(json.loads(active))
        except (ValueError, TypeError) as exc:
            problems.append(f"active.json is not a complete valid pointer: {exc!s:.200}")
        if pointer is not None and active != before.active:
            if pointer.model_id not in targets or pointer.model_id == before.champion:
                problems.append(
                    f"active.json is neither the old pointer nor a new one (names {pointer.model_id})"
                )

    # 2. It names a complete bundle whose model.txt matches its hash.
    if pointer is not None:
        folder = models / pointer.model_id
        missing = [n for n in BUNDLE_FILES if not (folder / n).is_file()]
        if missing:
            problems.append(f"the champion bundle {pointer.model_id} lacks {missing}")
        else:
            sha = _sha256(folder / "model.txt")
            meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
            if not sha == pointer.model_sha256 == meta.get("model_sha256"):
                problems.append(f"the champion's model.txt does not match its hash ({sha[:12]})")
        state = inspect_active(home)
        if state.problem is not None:
            problems.append(f"inspect_active reports a problem: {state.problem}")

    # 3. Every pointer change that took effect has its entry; nothing else took effect.
    try:
        chain = effective_chain(models, active if pointer is not None else None)
    except AssertionError as exc:
        problems.append(str(exc))
        chain = []
    champions = tuple(e["new_champion"] for e in chain)
    if pointer is not None and active == before.active:
        if champions != before.champions:
            problems.append(f"history changed without a pointer move: {champions} vs {before.champions}")
    elif pointer is not None:
        if champions[1:] != before.champions or champions[:1] != (pointer.model_id,):
            problems.append(
                f"the new pointer's history is {champions}; expected ({pointer.model_id},) + "
                f"{before.champions}"
            )
    if [e.change_id for e in read_history(home)] != [e["change_id"] for e in chain]:
        problems.append("read_history disagrees with the chain followed from active.json")

    # 4. No half-written run is visible, listed, or listed as complete.
    runs_dir = root / "artifacts" / "runs"
    visible_runs = _visible(runs_dir)
    unexpected = visible_runs - before.runs - new_runs
    if unexpected:
        problems.append(f"unexpected run folders {sorted(unexpected)}")
    for run_id in sorted(visible_runs):
        broken = verify_run(home, run_id)
        if broken is not None:
            problems.append(f"half-written run visible: {broken}")
    effective_runs = {e["run_id"] for e in chain}
    for summary in list_runs(home, verify=True):
        if summary.run_id.startswith("."):
            problems.append(f"list_runs lists the leftover {summary.run_id}")
        if summary.broken is None and summary.outcome == "promoted":
            if summary.run_id not in effective_runs:
                problems.append(
                    f"run {summary.run_id} is listed as promoted (and not flagged) but never "
                    "became champion"
                )

    # 5. No half-installed bundle is visible or listed.
    visible_models = _visible(models)
    unexpected = visible_models - before.models - targets
    if unexpected:
        problems.append(f"unexpected model folders {sorted(unexpected)}")
    for model_id in sorted(visible_models):
        broken = verify_bundle(models / model_id, label=f"models/{model_id}")
        if broken is not None:
            problems.append(f"half-installed bundle visible: {broken}")
    try:
        listed = list_models(home)
    except TaskclfError as exc:  # listings must never raise
        problems.append(f"list_models raised {exc}")
        listed = []
    for model in listed:
        if model.model_id.startswith("."):
            problems.append(f"list_models lists the leftover {model.model_id}")
    return problems


def leftovers(root: Path) -> list[str]:
    """``.tmp-*`` entries in the models and runs folders."""
    found = []
    for folder in (root / "models", root / "artifacts" / "runs"):
        if folder.is_dir():
            found += [f"{folder.name}/{p.name}" for p in folder.iterdir() if p.name.startswith(".tmp-")]
    return sorted(found)


# =========================================================================== OS failures

_WRITE_MODES = set("wax+")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
#: Per mode, the calls that can fail with that errno on a real file system.
_FAILING_CALLS = {
    # A full disk: anything that allocates space, including fsync (delayed allocation).
    "ENOSPC": ("open", "os.open", "mkdir", "write", "pwrite", "fsync", "sendfile", "replace", "rename"),
    # A read-only mount: anything that changes the tree or opens a file for writing.
    "EROFS": ("open", "os.open", "mkdir", "replace", "rename", "unlink", "rmdir"),
}


@dataclass
class OsFailures:
    """What :func:`install_os_failures` saw: matching calls, and whether one failed."""

    mode: str
    under: str
    nth: int | None
    calls: int = 0
    fired: int = 0
    first: str = ""


OS_FAILURES: OsFailures | None = None


def install_os_failures(mode: str, under: str, nth: int | None = None) -> OsFailures:
    """Make OS calls that write under ``under`` fail with ``mode`` (``ENOSPC`` or ``EROFS``).

    With ``nth`` only the n-th matching call fails (a sweep over every call of an
    operation); without it every matching call fails (a full or read-only disk).
    For this process only (a test child): never call it in the pytest process.
    """
    global OS_FAILURES
    code = getattr(errno, mode)
    prefix = os.path.realpath(under).rstrip("/") + "/"
    state = OsFailures(mode, prefix, nth)
    OS_FAILURES = state
    wanted = set(_FAILING_CALLS[mode])

    def path_of(target: Any) -> str:
        if isinstance(target, int):
            try:
                return os.readlink(f"/proc/self/fd/{target}")
            except OSError:
                return ""
        try:
            return os.path.realpath(os.fsdecode(target))
        except (TypeError, ValueError):
            return ""

    def maybe_fail(call: str, target: Any) -> None:
        if call not in wanted:
            return
        where = path_of(target)
        if not (where + "/").startswith(state.under):
            return
        # As the kernel does: an existing folder is EEXIST before EROFS/ENOSPC, and a full
        # disk still opens files that exist (it fails when they grow).
        if call == "mkdir" and os.path.lexists(where):
            return
        if mode == "ENOSPC" and call in ("open", "os.open") and os.path.lexists(where):
            return
        state.calls += 1
        if state.nth is None or state.calls == state.nth:
            state.fired += 1
            state.first = state.first or f"{call} {where}"
            raise OSError(code, os.strerror(code), where)

    def wrap(call: str, original: Callable[..., Any], target_of: Callable[..., Any]) -> Any:
        def patched(*args: Any, **kwargs: Any) -> Any:
            target = target_of(*args, **kwargs)
            if target is not None:
                maybe_fail(call, target)
            return original(*args, **kwargs)

        return patched

    def open_target(file: Any, mode: str = "r", *a: Any, **k: Any) -> Any:
        return file if _WRITE_MODES & set(str(k.get("mode", mode))) else None

    def os_open_target(path: Any, flags: int, *a: Any, **k: Any) -> Any:
        return path if flags & _WRITE_FLAGS else None

    patched_open = wrap("open", builtins.open, open_target)
    builtins.open = patched_open
    io.open = patched_open
    os.open = wrap("os.open", os.open, os_open_target)
    os.mkdir = wrap("mkdir", os.mkdir, lambda path, *a, **k: path)
    os.write = wrap("write", os.write, lambda fd, *a, **k: fd)
    os.pwrite = wrap("pwrite", os.pwrite, lambda fd, *a, **k: fd)
    os.fsync = wrap("fsync", os.fsync, lambda fd, *a, **k: fd)
    os.sendfile = wrap("sendfile", os.sendfile, lambda out_fd, *a, **k: out_fd)
    os.replace = wrap("replace", os.replace, lambda src, dst, *a, **k: dst)
    os.rename = wrap("rename", os.rename, lambda src, dst, *a, **k: dst)
    os.unlink = wrap("unlink", os.unlink, lambda path, *a, **k: path)
    os.remove = os.unlink
    os.rmdir = wrap("rmdir", os.rmdir, lambda path, *a, **k: path)
    return state


# =========================================================================== operations (child side)


def _home(root: str) -> Any:
    from taskclf_core.paths import Home

    return Home(Path(root))


def op_promote(root: str, run_id: str, approver: str = "alice", note: str = "ship it", **kw: Any) -> Any:
    from taskclf_core.registry.promotion import promote

    extra = {"expected_champion": kw["expected"]} if "expected" in kw else {}
    entry = promote(_home(root), run_id, approver=approver, note=note, auto_promote=False, **extra)
    return entry.new_champion


def op_rollback(root: str, model_id: str, approver: str = "bob", note: str = "back", **kw: Any) -> Any:
    from taskclf_core.registry.promotion import rollback

    extra = {"expected_champion": kw["expected"]} if "expected" in kw else {}
    entry = rollback(_home(root), model_id, approver=approver, note=note, **extra)
    return entry.new_champion


def op_write_run(root: str, run_id: str, files_dir: str, decision: dict[str, Any]) -> Any:
    from taskclf_core.registry.runs import write_run

    files = {p.name: p.read_bytes() for p in sorted(Path(files_dir).iterdir())}
    write_run(Path(root) / "artifacts" / "runs", run_id, files=files, decision=decision)
    return run_id


def save_run_kwargs(root: str, model_text: str, champion: tuple[str, str] | None, outcome: str) -> dict[str, Any]:
    """Real arguments of ``runsave.save_run`` as the pipeline builds them (no training)."""
    from datetime import UTC, datetime

    import lightgbm
    import numpy as np
    from helpers_registry import ENCODERS, FEATURES

    from taskclf_core.data.schema import LABELS
    from taskclf_core.model.evaluation import evaluate_predictions
    from taskclf_core.model.gates import all_gates, check_candidate_gates, gates_summary
    from taskclf_core.model.lgbm import TrainedModel
    from taskclf_core.train.champion import ChampionState
    from taskclf_core.train.config import RetrainConfig
    from taskclf_core.train.retrain import DatasetSnapshot

    y = np.arange(400) % len(LABELS)
    pred = np.where(np.arange(400) % 17 == 0, (y + 1) % len(LABELS), y)
    users = np.array(["u1", "u2"] * 200)
    report = evaluate_predictions("challenger", y, pred, users)
    baseline = evaluate_predictions("baseline", y, (y + 1) % len(LABELS), users)
    candidate = check_candidate_gates(report)
    if outcome != "rejected":
        # The fabricated report misses a gate or two; a run that is not rejected records
        # passing gates (promotion recomputes the verdict from gates.json).
        candidate = candidate.model_copy(
            update={"all_passed": True, "gates": [g.model_copy(update={"passed": True}) for g in candidate.gates]}
        )
    gates = all_gates(candidate)
    snapshot = DatasetSnapshot(
        dataset_hash="f00dfeedf00dfeed", row_count=400, date_from="2026-11-20", date_to="2026-11-21",
        user_count=2, class_distribution={label: 50 for label in LABELS},
    )
    challenger = TrainedModel(
        booster=lightgbm.Booster(model_str=model_text), feature_names=list(FEATURES),
        encoders=dict(ENCODERS), schema_version="v1", params={"seed": 0, "num_boost_round": 3},
    )
    config = RetrainConfig(auto_promote=outcome == "promoted")
    return {
        "challenger": challenger, "snapshot": snapshot, "config": config,
        "config_yaml": "auto_promote: true\n" if config.auto_promote else "{}\n",
        "reports": {"challenger": report, "champion": None, "baseline": baseline},
        "bootstrap": None, "gates": {"candidate": candidate}, "outcome": outcome,
        "reason": f"test save with outcome {outcome}",
        "champion": ChampionState(*champion) if champion else ChampionState(),
        "started_at": datetime.now(UTC), "reject_threshold": 0.55, "data_provenance": "synthetic",
        "gates_summary": gates_summary(gates), "failed_gates": [], "version": "0.1.0",
        "home": _home(root),
    }


def op_save_run(root: str, model_file: str, outcome: str = "promoted", champion: list[str] | None = None) -> Any:
    from taskclf_core.train.runsave import save_run

    text = Path(model_file).read_text(encoding="utf-8")
    kwargs = save_run_kwargs(root, text, tuple(champion) if champion else None, outcome)  # type: ignore[arg-type]
    run_id, final, _, _ = save_run(**kwargs)
    return [run_id, final]


def op_retrain_lock(root: str) -> Any:
    from taskclf_core.train.lock import retrain_lock

    with retrain_lock(Path(root) / "artifacts"):
        return "locked"


def op_cleanup(root: str) -> Any:
    from taskclf_core.registry.cleanup import cleanup_stale_temp

    return [p.name for p in cleanup_stale_temp(_home(root), min_age_seconds=0)]


OPS: dict[str, Callable[..., Any]] = {
    "promote": op_promote,
    "rollback": op_rollback,
    "write_run": op_write_run,
    "save_run": op_save_run,
    "cleanup": op_cleanup,
    "retrain_lock": op_retrain_lock,
}


def _run_child(task: Mapping[str, Any]) -> int:
    """Body of a forked child: one operation, its outcome written to ``task['result']``."""
    os.environ.update(task.get("env", {}))
    go = task.get("go")
    if go:
        deadline = time.monotonic() + 60
        while not os.path.exists(go) and time.monotonic() < deadline:
            time.sleep(0.0005)
    failures = install_os_failures(**task["os_fail"]) if task.get("os_fail") else None
    from taskclf_core.errors import TaskclfError

    outcome: dict[str, Any]
    code = 0
    try:
        outcome = {"status": "ok", "value": OPS[task["op"]](**task.get("args", {}))}
    except TaskclfError as exc:
        code = 3
        outcome = {"status": "refused", "type": type(exc).__name__, "message": str(exc),
                   "mro": [c.__name__ for c in type(exc).__mro__]}
    except BaseException as exc:  # reported to the test, which fails on it
        code = 4
        outcome = {"status": "crashed", "type": type(exc).__name__, "message": str(exc),
                   "traceback": traceback.format_exc()}
    if failures is not None:
        outcome["os_calls"] = failures.calls
        outcome["os_fired"] = failures.fired
        outcome["os_first"] = failures.first
    # Written with the real os calls: the failures above are for the library only.
    data = json.dumps(outcome).encode()
    with io.FileIO(task["result"], "w") as fh:
        fh.write(data)
    return code


def _start(task: Mapping[str, Any]) -> int:
    pid = os.fork()
    if pid == 0:  # child
        code = 4
        try:
            code = _run_child(task)
        finally:
            os._exit(code)
    return pid


def _wait(pid: int, result: str, kill_after: float | None = None) -> dict[str, Any]:
    if kill_after is not None:
        time.sleep(kill_after)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _, status = os.waitpid(pid, 0)
    reply: dict[str, Any] = {"pid": pid, "signal": None, "code": None, "outcome": None}
    if os.WIFSIGNALED(status):
        reply["signal"] = os.WTERMSIG(status)
    else:
        reply["code"] = os.WEXITSTATUS(status)
        try:
            reply["outcome"] = json.loads(Path(result).read_bytes())
        except (OSError, ValueError):
            reply["outcome"] = None
    return reply


def _serve() -> None:
    # Import everything a child may need once, so a fork is all a trial costs.
    import helpers_registry  # noqa: F401
    import lightgbm  # noqa: F401

    import taskclf_core.model.gates  # noqa: F401
    import taskclf_core.registry.promotion  # noqa: F401
    import taskclf_core.registry.runs  # noqa: F401
    import taskclf_core.train.retrain  # noqa: F401
    import taskclf_core.train.runsave  # noqa: F401
    from taskclf_core.registry.bundle import git_commit

    git_commit()  # cached: the children inherit it instead of each running git

    out = sys.stdout
    out.write(json.dumps({"ready": os.getpid()}) + "\n")
    out.flush()
    for line in sys.stdin:
        command = json.loads(line)
        kind = command["kind"]
        if kind == "trial":
            pid = _start(command)
            reply: Any = _wait(pid, command["result"], command.get("kill_after"))
        elif kind == "start":
            reply = {"pid": _start(command)}
        elif kind == "wait":
            reply = _wait(command["pid"], command["result"])
        elif kind == "batch":
            go = command["go"]
            pids = [(_start({**task, "go": go}), task["result"]) for task in command["tasks"]]
            Path(go).touch()
            reply = [_wait(pid, result) for pid, result in pids]
        else:
            reply = {"error": f"unknown command {kind}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


@dataclass
class Trial:
    """How one child ended: killed by a signal, or exited with an outcome."""

    pid: int
    signal: int | None
    code: int | None
    outcome: dict[str, Any] | None

    @property
    def killed(self) -> bool:
        return self.signal == signal.SIGKILL

    @property
    def status(self) -> str:
        if self.killed:
            return "killed"
        return (self.outcome or {}).get("status", f"exit {self.code} without outcome")

    def describe(self) -> str:
        if self.outcome and self.outcome.get("status") != "ok":
            return f"{self.status}: {self.outcome.get('type')}: {self.outcome.get('message')}\n{self.outcome.get('traceback', '')}"
        return self.status


class Zygote:
    """The forking helper process; one per test module (see :func:`zygote`)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.counter = 0
        self.proc = subprocess.Popen(
            [sys.executable, str(SCRIPT), "serve"], cwd=ROOT, env=child_env(),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        self.replies: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        ready = json.loads(self._reply(120))
        assert "ready" in ready, ready

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.replies.put(line)

    def _reply(self, timeout: float) -> str:
        try:
            return self.replies.get(timeout=timeout)
        except queue.Empty:
            self.close()
            raise TimeoutError(f"the fault zygote did not answer within {timeout:g} s") from None

    def _send(self, command: Mapping[str, Any], timeout: float = 60) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return json.loads(self._reply(timeout))

    def _result_path(self) -> str:
        self.counter += 1
        return str(self.workdir / f"result-{self.counter}.json")

    def run(
        self,
        op: str,
        *,
        fault: str | None = None,
        kill_after: float | None = None,
        os_fail: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 60,
        **args: Any,
    ) -> Trial:
        """Run ``op`` in a fresh child; optionally killed at a fault point or after a delay."""
        task_env = dict(env or {})
        if fault:
            task_env["TASKCLF_FAULTPOINT"] = fault
        task = {"kind": "trial", "op": op, "args": args, "env": task_env, "result": self._result_path(),
                "kill_after": kill_after, "os_fail": dict(os_fail) if os_fail else None}
        return Trial(**self._send(task, timeout))

    def start(self, op: str, *, env: Mapping[str, str] | None = None, **args: Any) -> tuple[int, str]:
        """Start ``op`` in a child and return at once (``wait`` collects it)."""
        result = self._result_path()
        reply = self._send({"kind": "start", "op": op, "args": args, "env": dict(env or {}), "result": result})
        return reply["pid"], result

    def wait(self, started: tuple[int, str], timeout: float = 60) -> Trial:
        pid, result = started
        return Trial(**self._send({"kind": "wait", "pid": pid, "result": result}, timeout))

    def batch(self, tasks: Iterable[tuple[str, Mapping[str, Any]]], timeout: float = 120) -> list[Trial]:
        """Start every task in its own child, release them together, wait for all."""
        go = str(self.workdir / f"go-{self.counter}")
        payload = [{"op": op, "args": dict(args), "result": self._result_path()} for op, args in tasks]
        return [Trial(**r) for r in self._send({"kind": "batch", "tasks": payload, "go": go}, timeout)]

    def close(self) -> None:
        global _SHARED
        if _SHARED is self:
            _SHARED = None
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


_SHARED: Zygote | None = None


def shared_zygote() -> Zygote:
    """One zygote for the whole test session (its start-up costs a few seconds)."""
    global _SHARED
    if _SHARED is None or _SHARED.proc.poll() is not None:
        import atexit

        workdir = Path(tempfile.mkdtemp(prefix="taskclf-zygote-"))
        _SHARED = Zygote(workdir)
        atexit.register(_SHARED.close)
        atexit.register(shutil.rmtree, workdir, True)
    return _SHARED


@dataclass
class Template:
    """A pristine home to copy for each trial, plus prebuilt run files."""

    root: Path
    model_file: Path  # the tiny model's text, for save_run children
    run_files: Path  # a folder with a run's files (bundle + evidence), for write_run children

    def copy(self, dest: Path) -> Path:
        shutil.copytree(self.root, dest, symlinks=True)
        return dest


def run_decision(outcome: str = "awaiting_signoff", champion: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A decision for ``write_run`` (the manifest is computed by ``write_run``)."""
    now = "2026-11-26T05:24:30+00:00"
    return {
        "outcome": outcome, "reason": f"fault test ({outcome})", "champion_compared": champion,
        "started_at": now, "finished_at": now, "auto_promote": outcome == "promoted",
        "dataset_hash": "f00dfeedf00dfeed", "macro_f1": 0.8, "gates_summary": "7 passed, 0 failed, 0 skipped",
        "failed_gates": [],
    }


@dataclass
class Violations:
    """Invariant violations collected over many trials (the test asserts none)."""

    items: list[str]

    def add(self, label: str, problems: Iterable[str]) -> None:
        self.items.extend(f"{label}: {p}" for p in problems)

    def report(self) -> str:
        return f"{len(self.items)} invariant violations:\n" + "\n".join(self.items[:40])


def iter_faults(points: Mapping[str, int]) -> Iterator[str]:
    """``{"promote.copy": 5}`` → ``promote.copy#1`` … ``promote.copy#5``."""
    for name, hits in points.items():
        for n in range(1, hits + 1):
            yield f"{name}#{n}"


# =========================================================================== script entry points


def _retrain(root: str, result: str) -> int:
    from taskclf_core.console.service import RetrainRequest, run_retrain
    from taskclf_core.errors import TaskclfError
    from taskclf_core.paths import Home

    request = RetrainRequest(synthetic=True, force=True, **TINY_TEAM)
    outcome: dict[str, Any]
    try:
        done = run_retrain(Home.resolve(root), request)
        outcome = {"status": "ok", "outcome": done.outcome, "run_id": done.run_id, "reason": done.reason}
        code = 0
    except TaskclfError as exc:
        outcome = {"status": "refused", "type": type(exc).__name__, "message": str(exc)}
        code = 3
    Path(result).write_text(json.dumps(outcome), encoding="utf-8")
    return code


def _cli(args: list[str]) -> None:
    import runpy

    spec = os.environ.get(OS_FAIL_ENV)
    if spec:
        install_os_failures(**json.loads(spec))
    sys.argv = ["taskclf", *args]
    runpy.run_module("taskclf_core.console.cli", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    command, rest = sys.argv[1], sys.argv[2:]
    if command == "serve":
        _serve()
    elif command == "retrain":
        sys.exit(_retrain(rest[0], rest[1]))
    elif command == "cli":
        _cli(rest)
    else:
        sys.exit(f"unknown command {command}")
