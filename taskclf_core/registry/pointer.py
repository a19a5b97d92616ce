"""The champion pointer ``models/active.json`` and the registry lock.

The pointer is replaced atomically (temp file, fsync, ``os.replace``) and only under
:func:`registry_lock`. Reading it never repairs it: an invalid pointer, or one naming a
missing or broken bundle, is reported with what is wrong and which file, and left for a
person to fix by rolling back to a good bundle.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from taskclf_core.errors import BundleError, BusyError, RegistryError, describe_validation_error
from taskclf_core.fs.atomic import write_text_atomic
from taskclf_core.fs.jsonfile import read_json
from taskclf_core.fs.locks import lock_file, lock_holder, try_lock
from taskclf_core.paths import Home
from taskclf_core.registry.installed import load_installed
from taskclf_core.registry.metadata import METADATA_FILE
from taskclf_core.registry.runids import MODEL_ID_REGEX, is_model_id, validate_model_id
from taskclf_core.registry.snapshot import remembered
from taskclf_core.registry.stamps import UtcTimestamp

ACTIVE_FILE = "active.json"
LOCK_FILE = ".registry.lock"
#: Version of the rule that chose the champion (sign-off promotion with gates).
POLICY_VERSION = 1
DEFAULT_LOCK_TIMEOUT = 10.0

#: What made a champion: our actions (``recalibrate``: a calibrator refit of the same model),
#: or ``set_active`` for a pointer taskclf wrote
#: (``taskclf model set-active``, its auto-repair or its retrain promotion).
Action = Literal["auto_promote", "promote", "rollback", "set_active", "recalibrate"]


class PointerReason(BaseModel):
    """Why the champion is the champion: the change that made it so.

    taskclf reads ``reason`` as a free object; ours carries taskclf's keys (``metric``,
    ``macro_f1``, ``weighted_f1``, ``note``) and our own (``action``, ``approver``). A
    pointer taskclf wrote reads with action ``set_active`` and approver ``taskclf``.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    action: Action = "set_active"
    approver: str = "taskclf"
    note: str = ""
    macro_f1: float | None = None


class ActivePointer(BaseModel):
    """``models/active.json``: which promoted bundle is the champion.

    taskclf's ``ActivePointer`` fields first (``model_dir``, ``selected_at``,
    ``policy_version``, ``model_id``, ``reason``), then ours (``change_id`` links the
    pointer to its history entry, ``model_sha256`` to its model); both optional so that a
    pointer taskclf wrote reads. ``model_dir`` is resolved as taskclf does, against the
    folder that contains the models folder (see :func:`resolve_model_dir`).
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    model_dir: str
    selected_at: UtcTimestamp
    policy_version: int = POLICY_VERSION
    model_id: str = Field(pattern=MODEL_ID_REGEX)
    reason: PointerReason = Field(default_factory=PointerReason)
    #: The history entry that made this change; None in a pointer taskclf wrote.
    change_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    model_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="before")
    @classmethod
    def _taskclf_defaults(cls, data: Any) -> Any:
        # taskclf allows model_id and reason to be null: the folder named by model_dir is
        # the model (taskclf ignores model_id), and a null reason says nothing.
        if isinstance(data, dict):
            data = dict(data)
            if data.get("model_id") is None and isinstance(data.get("model_dir"), str):
                data["model_id"] = PurePosixPath(data["model_dir"].replace("\\", "/")).name
            if data.get("reason") is None:
                data.pop("reason", None)
        return data

    def taskclf_fields(self) -> dict[str, Any]:
        """The pointer as JSON, taskclf's keys first (the order taskclf writes them)."""
        return self.model_dump(mode="json")


@dataclass(frozen=True)
class ActiveState:
    """What ``active.json`` says, read leniently.

    ``pointer`` is set whenever the file parses as a pointer (even if its bundle is
    broken); ``problem`` says what is wrong, or is None when the champion is usable.
    """

    exists: bool
    pointer: ActivePointer | None
    problem: str | None

    @property
    def pointer_id(self) -> str | None:
        """The model ``active.json`` names, even when it is broken (what a change replaces)."""
        return self.pointer.model_id if self.pointer is not None else None

    @property
    def champion_id(self) -> str | None:
        """The usable champion's model id; None when there is none or it has a problem."""
        return self.pointer.model_id if self.pointer is not None and self.problem is None else None


def active_path(home: Home) -> Path:
    """``models/active.json`` under ``home``."""
    return home.models_dir / ACTIVE_FILE


def pointer_model_dir(home: Home, model_id: str) -> str:
    """``model_dir`` as we write it: ``<models folder name>/<model_id>``.

    taskclf resolves ``model_dir`` against the parent of the models folder, so this
    resolves for any models-folder name, in taskclf and here.
    """
    return f"{home.models_dir.name}/{validate_model_id(model_id)}"


def resolve_model_dir(home: Home, model_dir: str) -> tuple[str | None, str | None]:
    """Resolve a pointer's ``model_dir`` as taskclf does; refuse anything but a bundle folder.

    taskclf joins ``model_dir`` onto the parent of the models folder (an absolute path
    stays absolute). Here the result must be a folder directly inside the models folder
    whose name is a model id: no ``..``, no other folder, no path tricks.

    Args:
        home: The registry home.
        model_dir: The pointer's ``model_dir``.

    Returns:
        ``(model_id, None)`` when it names ``models/<model_id>``, else ``(None, problem)``.
    """
    models = os.path.normpath(os.path.abspath(home.models_dir))
    text = model_dir.replace("\\", "/") if os.sep == "/" else model_dir
    joined = os.path.normpath(os.path.join(os.path.dirname(models), text))
    parent, name = os.path.split(joined)
    if parent != models or not is_model_id(name):
        return None, (
            f"model_dir {model_dir!r} does not name a bundle folder in "
            f"{home.models_dir.name}/ (taskclf resolves it against {os.path.dirname(models)}; "
            f"expected {home.models_dir.name}/<model id>)"
        )
    return name, None


def inspect_active(home: Home) -> ActiveState:
    """Read ``active.json`` and check the bundle it names, without raising.

    Read once per ``registry.snapshot.one_read`` block (a render's snapshot).

    Args:
        home: The registry home.

    Returns:
        The state: no file, a usable pointer, or a pointer (or garbage) with a problem.
    """
    return remembered(("active", home), lambda: _inspect_active(home))


def _inspect_active(home: Home) -> ActiveState:
    """:func:`inspect_active` without the snapshot's memory."""
    path = active_path(home)
    shown = f"{home.models_dir.name}/{ACTIVE_FILE}"
    try:
        if path.is_symlink():
            return ActiveState(True, None, f"{shown} is a symbolic link; refused")
        raw = read_json(path)
    except FileNotFoundError:
        return ActiveState(exists=False, pointer=None, problem=None)
    except OSError as exc:
        return ActiveState(True, None, f"{shown} cannot be read ({exc.strerror or exc})")
    except ValueError as exc:
        return ActiveState(True, None, f"{shown} is not valid JSON ({exc})")
    try:
        pointer = ActivePointer.model_validate(raw)
    except ValidationError as exc:
        reason = describe_validation_error(exc, model=ActivePointer)
        return ActiveState(True, None, f"{shown} is not a valid champion pointer: {reason}")
    folder_id, problem = resolve_model_dir(home, pointer.model_dir)
    if problem:
        return ActiveState(True, pointer, f"{shown}: {problem}")
    if folder_id != pointer.model_id:
        return ActiveState(
            True,
            pointer,
            f"{shown} has model_id {pointer.model_id!r} but model_dir {pointer.model_dir!r} "
            f"(taskclf serves the folder model_dir names)",
        )
    folder = home.models_dir / pointer.model_id
    if not folder.is_dir() and not folder.is_symlink():
        return ActiveState(
            True, pointer, f"{shown} points to {pointer.model_dir}, which does not exist"
        )
    try:
        bundle = load_installed(home, pointer.model_id, parse_model=False)
    except BundleError as exc:
        return ActiveState(
            True, pointer, f"{shown} points to {pointer.model_dir}, which is broken: {exc}"
        )
    if pointer.model_sha256 and bundle.metadata.model_sha256 != pointer.model_sha256:
        return ActiveState(
            True,
            pointer,
            f"{shown} records model_sha256 {pointer.model_sha256[:12]}… but "
            f"{pointer.model_dir}/{METADATA_FILE} has {bundle.metadata.model_sha256[:12]}…",
        )
    return ActiveState(True, pointer, None)


def read_active(home: Home) -> ActivePointer | None:
    """The champion pointer, or None when there is no champion yet.

    Args:
        home: The registry home.

    Returns:
        The pointer, whose bundle exists and matches its hashes; None if ``active.json``
        does not exist.

    Raises:
        RegistryError: ``active.json`` is unreadable, invalid, or names a missing or
            broken bundle. The file is left as it is.
    """
    state = inspect_active(home)
    if state.problem:
        raise RegistryError(state.problem)
    return state.pointer


def write_active(home: Home, pointer: ActivePointer) -> None:
    """Replace ``active.json`` atomically. The caller holds :func:`registry_lock`.

    Args:
        home: The registry home.
        pointer: The new pointer.
    """
    text = json.dumps(pointer.taskclf_fields(), indent=2, ensure_ascii=False, allow_nan=False)
    write_text_atomic(active_path(home), text + "\n")


# --------------------------------------------------------------------------- lock

_held = threading.local()


def registry_change_in_progress(home: Home) -> bool:
    """Whether another thread or process holds :func:`registry_lock` right now.

    A reader uses it to tell a change in progress (a run just saved as ``promoted`` whose
    pointer move is a few milliseconds away) from one that was interrupted.
    """
    path = home.models_dir / LOCK_FILE
    if (getattr(_held, "depth", None) or {}).get(str(path), 0) > 0:
        return False  # this thread is the change
    return lock_holder(path) is not None


@contextmanager
def registry_lock(home: Home, *, timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the exclusive registry lock (``models/.registry.lock``) for a change.

    ``fcntl.flock`` is released by the kernel when the holder dies, so a crash never
    leaves a stale lock. Re-entrant within one thread (the pipeline may hold it around
    ``write_run`` + ``promote_auto``); other threads and processes wait.

    Args:
        home: The registry home.
        timeout: Seconds to wait for another holder before giving up.

    Yields:
        Nothing; the lock is held inside the ``with`` block.

    Raises:
        BusyError: Another process or thread held the lock for ``timeout`` seconds.
        StorageError: The lock file cannot be created or opened (a read-only or full
            disk, or it is a symbolic link or not a regular file); the message names the
            path.
    """
    path = home.models_dir / LOCK_FILE
    key = str(path)
    depth: dict[str, int] = getattr(_held, "depth", None) or {}
    _held.depth = depth
    if depth.get(key, 0) > 0:
        depth[key] += 1
        try:
            yield
        finally:
            depth[key] -= 1
        return

    with lock_file(path) as fd:
        deadline = time.monotonic() + timeout
        while not try_lock(fd):
            if time.monotonic() >= deadline:
                raise BusyError(
                    "the model registry is busy: another promotion or rollback holds "
                    f"models/{LOCK_FILE} (waited {timeout:g} s); try again in a moment"
                )
            time.sleep(0.02)
        depth[key] = 1
        try:
            yield
        finally:
            depth[key] = 0
