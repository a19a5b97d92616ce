"""taskclf's calibrator store on disk: ``store.json``, ``global.json``, ``users/<user_id>.json``.

Read as taskclf's ``load_calibrator_store`` reads it (only the users listed in
``store.json``'s ``user_ids`` whose file exists; each file's ``"type"`` decides the
calibrator, whatever ``method`` says) and written in taskclf's bytes (``json.dumps(…,
indent=2)``, no trailing newline; ``store.json`` keys ``method``, ``user_count``,
``user_ids``, ``model_bundle_id``, ``model_schema_hash``, ``created_at``). A store is
never edited in place: a new one is written as a whole folder (temporary folder, rename).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taskclf_core.errors import RegistryError
from taskclf_core.fs.atomic import atomic_folder
from taskclf_core.fs.jsonfile import read_json
from taskclf_core.model.calibration import (
    Calibrator,
    CalibratorSet,
    IdentityCalibrator,
    IsotonicCalibrator,
    IsotonicRegressor,
    TemperatureCalibrator,
)

STORE_FILE = "store.json"
GLOBAL_FILE = "global.json"
USERS_DIR = "users"


@dataclass(frozen=True)
class StoreRecord:
    """A calibrator store read from disk: its metadata and its calibrators."""

    folder: Path
    method: str
    user_ids: tuple[str, ...]
    calibrators: CalibratorSet
    #: The model the store was fitted for (taskclf's ``train calibrate`` records it; nothing
    #: in taskclf checks it at serving).
    model_bundle_id: str | None = None
    model_schema_hash: str | None = None
    created_at: str | None = None
    #: Users listed in ``store.json`` whose file is missing (served the global calibrator).
    missing_users: tuple[str, ...] = ()
    #: Temperatures by who they apply to (``global`` and user ids), for display.
    temperatures: dict[str, float] = field(default_factory=dict)

    @property
    def user_count(self) -> int:
        return len(self.calibrators.user_calibrators)


def calibrator_from_json(data: Any, shown: str) -> Calibrator:
    """A calibrator from its JSON object (``{"type": …}``), as taskclf's ``load_calibrator``.

    Raises:
        RegistryError: not an object, an unknown type or a malformed field (names ``shown``).
    """
    if not isinstance(data, dict):
        raise RegistryError(f"{shown} is not a calibrator (expected a JSON object)")
    kind = data.get("type", "identity")
    try:
        if kind == "identity":
            return IdentityCalibrator()
        if kind == "temperature":
            t = data["temperature"]
            if isinstance(t, bool) or not isinstance(t, int | float) or not t > 0:
                raise ValueError(f"temperature must be a positive number; got {t!r}")
            return TemperatureCalibrator(float(t))
        if kind == "isotonic":
            regs = data["regressors"]
            if not isinstance(regs, list) or not regs:
                raise ValueError("regressors must be a non-empty list")
            return IsotonicCalibrator(
                tuple(
                    IsotonicRegressor(
                        x_thresholds=tuple(float(v) for v in r["X_thresholds_"]),
                        y_thresholds=tuple(float(v) for v in r["y_thresholds_"]),
                        x_min=float(r["X_min_"]),
                        x_max=float(r["X_max_"]),
                        increasing=bool(r.get("increasing_", True)),
                        out_of_bounds=str(r.get("out_of_bounds", "clip")),
                    )
                    for r in regs
                )
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise RegistryError(f"{shown} is not a valid {kind} calibrator ({exc})") from None
    raise RegistryError(f"{shown} has unknown calibrator type {kind!r}; expected identity, temperature or isotonic")


def calibrator_to_json(calibrator: Calibrator) -> dict[str, Any]:
    """The JSON object taskclf's ``save_calibrator`` writes for ``calibrator``."""
    if isinstance(calibrator, TemperatureCalibrator):
        return {"type": "temperature", "temperature": calibrator.temperature}
    if isinstance(calibrator, IsotonicCalibrator):
        return {
            "type": "isotonic",
            "regressors": [
                {
                    "X_thresholds_": list(r.x_thresholds),
                    "y_thresholds_": list(r.y_thresholds),
                    "X_min_": r.x_min,
                    "X_max_": r.x_max,
                    "increasing_": r.increasing,
                    "out_of_bounds": r.out_of_bounds,
                }
                for r in calibrator.regressors
            ],
        }
    return {"type": "identity"}


def _read(path: Path, shown: str) -> Any:
    try:
        return read_json(path)
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise RegistryError(f"{shown} cannot be read ({exc})") from None


def read_store(folder: Path, *, shown: str | None = None) -> StoreRecord:
    """Read a calibrator store folder as taskclf does.

    Args:
        folder: The store folder.
        shown: How to name the folder in messages (default: its path).

    Returns:
        The store.

    Raises:
        FileNotFoundError: ``store.json`` or ``global.json`` is missing (taskclf raises too).
        RegistryError: a file is not valid.
    """
    label = shown or str(folder)
    meta = _read(folder / STORE_FILE, f"{label}/{STORE_FILE}")
    if not isinstance(meta, dict):
        raise RegistryError(f"{label}/{STORE_FILE} is not a JSON object")
    global_cal = calibrator_from_json(_read(folder / GLOBAL_FILE, f"{label}/{GLOBAL_FILE}"), f"{label}/{GLOBAL_FILE}")
    listed = meta.get("user_ids") or []
    if not isinstance(listed, list) or not all(isinstance(u, str) for u in listed):
        raise RegistryError(f"{label}/{STORE_FILE}: user_ids must be a list of user ids")
    users: dict[str, Calibrator] = {}
    missing: list[str] = []
    for uid in listed:
        path = folder / USERS_DIR / f"{uid}.json"
        if Path(uid).name != uid or uid in ("", ".", ".."):
            raise RegistryError(f"{label}/{STORE_FILE}: user id {uid!r} is not a file name")
        if not path.exists():
            missing.append(uid)
            continue
        users[uid] = calibrator_from_json(_read(path, f"{label}/{USERS_DIR}/{uid}.json"), f"{label}/{USERS_DIR}/{uid}.json")
    method = str(meta.get("method", "temperature"))
    temps = {
        who: cal.temperature
        for who, cal in [("global", global_cal), *users.items()]
        if isinstance(cal, TemperatureCalibrator)
    }

    def opt(key: str) -> str | None:
        value = meta.get(key)
        return value if isinstance(value, str) else None

    return StoreRecord(
        folder=folder,
        method=method,
        user_ids=tuple(listed),
        calibrators=CalibratorSet(method=method, global_calibrator=global_cal, user_calibrators=users),
        model_bundle_id=opt("model_bundle_id"),
        model_schema_hash=opt("model_schema_hash"),
        created_at=opt("created_at"),
        missing_users=tuple(missing),
        temperatures=temps,
    )


def store_file_bytes(
    calibrators: CalibratorSet, *, model_bundle_id: str, model_schema_hash: str, created_at: str
) -> dict[str, bytes]:
    """Every file of a store in taskclf's bytes, by path relative to the store folder."""

    def dumps(obj: Any) -> bytes:
        return json.dumps(obj, indent=2).encode("utf-8")

    users = sorted(calibrators.user_calibrators)
    meta = {
        "method": calibrators.method,
        "user_count": len(users),
        "user_ids": users,
        "model_bundle_id": model_bundle_id,
        "model_schema_hash": model_schema_hash,
        "created_at": created_at,
    }
    files = {GLOBAL_FILE: dumps(calibrator_to_json(calibrators.global_calibrator)), STORE_FILE: dumps(meta)}
    for uid in users:
        files[f"{USERS_DIR}/{uid}.json"] = dumps(calibrator_to_json(calibrators.user_calibrators[uid]))
    return files


def write_store(folder: Path, files: dict[str, bytes]) -> None:
    """Write a whole store folder atomically (refuses to replace an existing one).

    Raises:
        RegistryError: the folder exists already (a store is never edited in place).
        StorageError: the disk refused the write.
    """
    if folder.exists() or folder.is_symlink():
        raise RegistryError(f"calibrator store {folder} exists already; a store is never edited in place")
    with atomic_folder(folder) as tmp:
        for rel, data in files.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)


__all__ = [
    "GLOBAL_FILE",
    "STORE_FILE",
    "StoreRecord",
    "calibrator_from_json",
    "calibrator_to_json",
    "read_store",
    "store_file_bytes",
    "write_store",
]
