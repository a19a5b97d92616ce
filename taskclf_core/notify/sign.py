"""The webhook's signature: HMAC-SHA256 of ``<timestamp>.<body>`` under the target's secret.

Headers on every attempt (each attempt is signed afresh, with its own timestamp):

* ``X-Taskclf-Timestamp``: seconds since 1970 (UTC), when the attempt was signed;
* ``X-Taskclf-Signature``: ``sha256=<hex digest>``;
* ``X-Taskclf-Event`` and ``X-Taskclf-Delivery``: the event's kind and id (the id is
  the same on every attempt, so a receiver can drop duplicates).

A receiver recomputes the digest over the timestamp, a full stop and the raw body,
compares it in constant time, and refuses a timestamp more than :data:`REPLAY_WINDOW_SECONDS`
away from its clock (a replay). :func:`verify` is that check; the README has it in ten lines.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Final

TIMESTAMP_HEADER: Final = "X-Taskclf-Timestamp"
SIGNATURE_HEADER: Final = "X-Taskclf-Signature"
EVENT_HEADER: Final = "X-Taskclf-Event"
DELIVERY_HEADER: Final = "X-Taskclf-Delivery"
REPLAY_WINDOW_SECONDS: Final = 300


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``timestamp + "." + body`` under ``secret``."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signed_headers(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The timestamp and signature headers of one attempt."""
    timestamp = str(int(time.time() if now is None else now))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify(
    secret: str, timestamp: str, signature_header: str, body: bytes, *, now: float | None = None,
    window: int = REPLAY_WINDOW_SECONDS,
) -> bool:
    """Whether a delivery is authentic and fresh (what a receiver checks).

    Args:
        secret: The target's secret.
        timestamp: The ``X-Taskclf-Timestamp`` header.
        signature_header: The ``X-Taskclf-Signature`` header.
        body: The raw request body.
        now: The receiver's clock (seconds since 1970); default: now.
        window: Seconds a timestamp may be away from ``now`` (replays are older).
    """
    if not timestamp.isdigit() or abs((time.time() if now is None else now) - int(timestamp)) > window:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), signature_header)


__all__ = [
    "DELIVERY_HEADER", "EVENT_HEADER", "REPLAY_WINDOW_SECONDS", "SIGNATURE_HEADER", "TIMESTAMP_HEADER",
    "signature", "signed_headers", "verify",
]
