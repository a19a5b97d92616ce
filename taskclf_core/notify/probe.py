"""``taskclf notify test``: a test event to every target, and how each delivery ended."""

from __future__ import annotations

import time
from dataclasses import dataclass

from taskclf_core.notify.config import TargetConfig, load_notify_config
from taskclf_core.notify.events import Event
from taskclf_core.notify.log import DeliveryRecord
from taskclf_core.notify.worker import DISPATCHER
from taskclf_core.paths import Home


@dataclass(frozen=True)
class ProbeResult:
    """One target's answer to the test event (``record`` None: still trying when the wait ended)."""

    target: TargetConfig
    record: DeliveryRecord | None
    waited: float

    def line(self) -> str:
        """``"webhook ops-hook: delivered (1 attempt, 0.05 s)"``; a failure with its reason."""
        head = f"{self.target.kind} {self.target.name}"
        r = self.record
        if r is None:
            return f"{head}: no result within {self.waited:g} s (notify.exit_wait_seconds); given up"
        tries = f"{r.attempts} attempt{'s' if r.attempts != 1 else ''}"
        if r.status == "delivered":
            return f"{head}: delivered ({tries}, {r.seconds:.2f} s)"
        return f"{head}: {r.status} after {tries}: {r.error}"


def send_test(home: Home) -> list[ProbeResult]:
    """Send a test event to every target of the home's ``notify:`` section and wait for each.

    Waits at most ``notify.exit_wait_seconds`` in all. Every delivery is recorded in
    ``artifacts/notifications.jsonl`` as any other.

    Raises:
        ConfigError: the config cannot be read or its ``notify:`` section is invalid.
    """
    config = load_notify_config(home.config_path)
    if config is None or not config.targets:
        return []
    event = Event(
        kind="test", title="Test notification from the taskclf retrain console",
        summary=f"A test event sent by `taskclf notify test` for the home {home.root}. Nothing happened to any model.",
        page="",
    )
    deliveries = DISPATCHER.route(home, event, config)
    deadline = time.monotonic() + config.exit_wait_seconds
    for delivery in deliveries:
        delivery.done.wait(max(deadline - time.monotonic(), 0.0))
    return [ProbeResult(d.target, d.record, config.exit_wait_seconds) for d in deliveries]


__all__ = ["ProbeResult", "send_test"]
