"""``artifacts/notifications.jsonl``: one line per delivery (event, target, attempts, status, error).

Lines are appended whole (one ``write`` with ``O_APPEND``, then fsync: see
``fs.atomic.append_line_durable``), so processes that deliver at once (the console, a
retrain job, a CLI command) never interleave; a torn last line is skipped on reading.
No secret is ever written: errors are redacted before they get here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from taskclf_core.fs.atomic import append_line_durable
from taskclf_core.paths import Home

NOTIFICATIONS_FILE: Final = "notifications.jsonl"
#: The History page reads at most this much of the file's end.
TAIL_BYTES: Final = 1 << 20

#: delivered; failed (every attempt failed, or it could not be sent); dropped (the queue was
#: full); gave_up (the process exited before the delivery ended).
DeliveryStatus = Literal["delivered", "failed", "dropped", "gave_up"]


class DeliveryRecord(BaseModel):
    """One delivery of one event to one target."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: str
    event_id: str
    event: str
    title: str
    target: str
    target_kind: str
    attempts: int
    status: DeliveryStatus
    error: str | None = None
    run_id: str | None = None
    key: str | None = None
    seconds: float = 0.0


def log_path(home: Home) -> Path:
    """``artifacts/notifications.jsonl`` of ``home``."""
    return home.artifacts_dir / NOTIFICATIONS_FILE


def append_record(home: Home, record: DeliveryRecord) -> None:
    """Append one record (one line, durably).

    Raises:
        RegistryError: the disk refused the write (the message names the file).
    """
    home.artifacts_dir.mkdir(parents=True, exist_ok=True)
    append_line_durable(log_path(home), record.model_dump_json())


def now_iso() -> str:
    """Now, UTC, ISO 8601 to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def read_records(home: Home, *, limit: int = 200) -> tuple[list[DeliveryRecord], list[str]]:
    """The newest ``limit`` records (newest first) and one problem per line left out."""
    path = log_path(home)
    try:
        if path.is_symlink():
            return [], [f"artifacts/{NOTIFICATIONS_FILE} is a symbolic link; not read"]
        with path.open("rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(size - TAIL_BYTES, 0))
            data = fh.read()
    except FileNotFoundError:
        return [], []
    except OSError as exc:
        return [], [f"artifacts/{NOTIFICATIONS_FILE} cannot be read ({exc.strerror or exc})"]
    lines = data.split(b"\n")
    if size > TAIL_BYTES:
        lines = lines[1:]  # the first may be cut
    records: list[DeliveryRecord] = []
    problems: list[str] = []
    for raw in lines:
        if not raw.strip():
            continue
        try:
            records.append(DeliveryRecord.model_validate_json(raw))
        except ValidationError:
            problems.append(f"artifacts/{NOTIFICATIONS_FILE}: a line is not a delivery record (torn write?); left out")
    records.reverse()
    return records[:limit], problems


def delivered_keys(home: Home) -> set[tuple[str, str]]:
    """``(event key, target)`` of keyed events delivered: not sent to that target again (a
    target that failed gets the next try)."""
    records, _ = read_records(home, limit=10_000)
    return {(r.key, r.target) for r in records if r.key and r.status == "delivered"}


__all__ = ["NOTIFICATIONS_FILE", "DeliveryRecord", "DeliveryStatus", "append_record", "log_path", "now_iso",
           "delivered_keys", "read_records"]
