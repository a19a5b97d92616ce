"""taskclf's deployment descriptor ``models/inference_policy.json``, read and written as taskclf does.

taskclf's ``InferencePolicy`` (``core/inference_policy.py``; facts in
``tests/fixtures/upstream-policy/README.md``): a frozen pydantic model that ignores unknown
keys and coerces in lax mode; ``model_dir`` and ``calibrator_store_dir`` are relative to
the folder holding ``models/``. ``load_inference_policy`` returns nothing, without
raising, for a missing file, a file that is not JSON or one that fails validation; taskclf
then falls back to ``active.json`` with threshold 0.55 and no calibration. It is written
as ``model_dump_json(indent=2) + "\\n"`` through a temporary file and ``os.replace``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from taskclf_core.errors import describe_validation_error
from taskclf_core.fs.atomic import write_bytes_atomic
from taskclf_core.fs.jsonfile import loads_json
from taskclf_core.paths import Home
from taskclf_core.registry.snapshot import remembered
from taskclf_core.registry.stamps import sha256_bytes, utc_now_iso

POLICY_FILE: Final = "inference_policy.json"
#: Where taskclf's ``train calibrate`` writes a store by default (relative to the home).
DEFAULT_STORE_DIR: Final = "artifacts/calibrator_store"
#: Where the console writes calibrator stores: one folder per store, never edited in place.
CONSOLE_STORES_DIR: Final = "artifacts/calibrator_stores"


class InferencePolicy(BaseModel):
    """``models/inference_policy.json``: model + calibrator store + reject threshold(s).

    Field order is taskclf's (it decides the bytes written). Unknown keys are ignored, as
    in taskclf.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    policy_version: Literal["v1"] = "v1"
    model_dir: str
    model_schema_hash: str
    model_label_set: list[str]
    calibrator_store_dir: str | None = None
    calibration_method: str | None = None
    reject_threshold: float
    per_user_reject_thresholds: dict[str, float] | None = None
    created_at: str = Field(default_factory=utc_now_iso)
    source: str = "manual"
    git_commit: str = ""

    def to_bytes(self) -> bytes:
        """The file's bytes as taskclf's ``save_inference_policy`` writes them."""
        return (self.model_dump_json(indent=2) + "\n").encode("utf-8")


@dataclass(frozen=True)
class PolicyFile:
    """What ``models/inference_policy.json`` holds, read leniently.

    ``policy`` is set when taskclf would load the file; ``problem`` says why it would not
    (taskclf then ignores the file). ``data`` is the exact bytes (for history and restores).
    """

    exists: bool
    data: bytes | None = None
    policy: InferencePolicy | None = None
    problem: str | None = None

    @property
    def sha256(self) -> str | None:
        return sha256_bytes(self.data) if self.data is not None else None


def policy_path(home: Home) -> Path:
    """``models/inference_policy.json`` under ``home``."""
    return home.models_dir / POLICY_FILE


def parse_policy(data: bytes) -> InferencePolicy:
    """A policy from the file's bytes, as taskclf's loader accepts it.

    Raises:
        ValueError: not JSON, or not a policy taskclf would load (the reason in words).
    """
    raw = loads_json(data)
    try:
        return InferencePolicy.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(describe_validation_error(exc, model=InferencePolicy)) from None


def read_policy_file(home: Home) -> PolicyFile:
    """Read ``models/inference_policy.json`` without raising.

    Read once per ``registry.snapshot.one_read`` block (a render's snapshot).

    Args:
        home: The registry home.

    Returns:
        No file, a policy taskclf loads, or a file taskclf ignores with the reason.
    """
    return remembered(("policy", home), lambda: _read_policy_file(home))


def _read_policy_file(home: Home) -> PolicyFile:
    """:func:`read_policy_file` without the snapshot's memory."""
    path = policy_path(home)
    shown = f"{home.models_dir.name}/{POLICY_FILE}"
    try:
        if path.is_symlink():
            return PolicyFile(True, None, None, f"{shown} is a symbolic link; not read")
        data = path.read_bytes()
    except FileNotFoundError:
        return PolicyFile(False)
    except OSError as exc:
        return PolicyFile(True, None, None, f"{shown} cannot be read ({exc.strerror or exc})")
    try:
        return PolicyFile(True, data, parse_policy(data))
    except ValueError as exc:
        return PolicyFile(True, data, None, f"{shown} is not a policy taskclf loads ({exc})")


def write_policy_bytes(home: Home, data: bytes) -> None:
    """Replace ``models/inference_policy.json`` atomically. The caller holds the registry lock."""
    write_bytes_atomic(policy_path(home), data)


def remove_policy(home: Home) -> None:
    """Remove ``models/inference_policy.json`` (taskclf's ``policy remove``). Under the lock."""
    from taskclf_core.fs.atomic import fsync_dir

    try:
        policy_path(home).unlink()
    except FileNotFoundError:
        return
    fsync_dir(home.models_dir)


def resolve_home_path(home: Home, relative: str) -> Path:
    """A policy path (``model_dir``, ``calibrator_store_dir``) as taskclf joins it.

    taskclf joins onto the folder that holds ``models/``; an absolute path stays absolute.
    """
    return home.models_dir.parent / relative


__all__ = [
    "CONSOLE_STORES_DIR",
    "DEFAULT_STORE_DIR",
    "POLICY_FILE",
    "InferencePolicy",
    "PolicyFile",
    "parse_policy",
    "policy_path",
    "read_policy_file",
    "remove_policy",
    "resolve_home_path",
    "write_policy_bytes",
]
