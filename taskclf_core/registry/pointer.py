"""The champion pointer ``models/active.json`` and the registry lock.

The pointer is replaced atomically (temp file, fsync, ``os.replace``) and only under
:func:`registry_lock`. Reading it never repairs it: an invalid pointer, or one naming a
missing or broken bundle, is reported with what is wrong and which file, and left for a
person to fix by rolling back to a good bundle.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from taskclf_core.errors import BundleError, BusyError, RegistryError, describe_validation_error
from taskclf_core.fs.atomic import storage_error, write_json_atomic
from taskclf_core.paths import Home
from taskclf_core.registry.bundle import load_bundle
from taskclf_core.registry.metadata import METADATA_FILE
from taskclf_core.registry.runids import RUN_ID_PATTERN
from taskclf_core.registry.stamps import UtcTimestamp

ACTIVE_FILE = "active.json"
LOCK_FILE = ".registry.lock"
#: Version of the rule that chose the champion (sign-off promotion with gates).
POLICY_VERSION = 1
DEFAULT_LOCK_TIMEOUT = 10.0

Action = Literal["auto_promote", "promote", "rollback"]


class PointerReason(BaseModel):
    """Why the champion is the champion: the change that made it so."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Action
    approver: str
    note: str
    macro_f1: float | None = None


class ActivePointer(BaseModel):
    """``models/active.json``: which promoted bundle is the champion."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_dir: str
    model_id: str
    selected_at: UtcTimestamp
    policy_version: int = POLICY_VERSION
    reason: PointerReason
    #: The history entry that made this change; links the pointer to its history.
    change_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    model_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="after")
    def _dir_matches_id(self) -> ActivePointer:
        # active.json comes from disk: never let it steer a path outside models/.
        if not RUN_ID_PATTERN.match(self.model_id):
            raise ValueError(f"model_id {self.model_id!r} is not a run id")
        if self.model_dir != f"models/{self.model_id}":
            raise ValueError(f"model_dir must be 'models/{self.model_id}'; got {self.model_dir!r}")
        return self


@dataclass(frozen=True)
class ActiveState:
    """What ``active.json`` says, read leniently.

    ``pointer`` is set whenever the file parses as a pointer (even if its bundle is
    broken); ``problem`` says what is wrong, or is None when the champion is usable.
    """

    exists: bool
    pointer: ActivePointer | None
    problem: str | None


def active_path(home: Home) -> Path:
    """``models/active.json`` under ``home``."""
    return home.models_dir / ACTIVE_FILE


def inspect_active(home: Home) -> ActiveState:
    """Read ``active.json`` and check the bundle it names, without raising.

    Args:
        home: The registry home.

    Returns:
        The state: no file, a usable pointer, or a pointer (or garbage) with a problem.
    """
    path = active_path(home)
    shown = f"models/{ACTIVE_FILE}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ActiveState(exists=False, pointer=None, problem=None)
    except (OSError, UnicodeDecodeError) as exc:
        return ActiveState(True, None, f"{shown} cannot be read ({exc})")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        return ActiveState(True, None, f"{shown} is not valid JSON ({exc})")
    try:
        pointer = ActivePointer.model_validate(raw)
    except ValidationError as exc:
        return ActiveState(
            True,
            None,
            f"{shown} is not a valid champion pointer: {describe_validation_error(exc, model=ActivePointer)}",
        )
    # models_dir, not root / model_dir: the CLI may place the models folder elsewhere.
    folder = home.models_dir / pointer.model_id
    if not folder.is_dir():
        return ActiveState(
            True, pointer, f"{shown} points to {pointer.model_dir}, which does not exist"
        )
    try:
        bundle = load_bundle(folder, parse_model=False, label=pointer.model_dir)
    except BundleError as exc:
        return ActiveState(
            True, pointer, f"{shown} points to {pointer.model_dir}, which is broken: {exc}"
        )
    if bundle.metadata.model_sha256 != pointer.model_sha256:
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
    write_json_atomic(active_path(home), pointer.model_dump(mode="json"))


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
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # also releases the shared lock just taken
    return False


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
        RegistryError: The lock file cannot be created or opened (a read-only or full
            disk); the message names the path.
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

    try:
        home.models_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise storage_error(exc, path, "lock") from exc
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
                if time.monotonic() >= deadline:
                    raise BusyError(
                        "the model registry is busy: another promotion or rollback holds "
                        f"models/{LOCK_FILE} (waited {timeout:g} s); try again in a moment"
                    ) from None
                time.sleep(0.02)
        depth[key] = 1
        try:
            yield
        finally:
            depth[key] = 0
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
