"""Deliveries off the request path: a background router and one worker thread per target.

:func:`emit` only puts the event on a bounded queue and returns (microseconds: a
retrain, a promotion or a page never waits for a target). The router thread reads the
``notify:`` section of the home's config, and hands one delivery per interested target
to that target's own worker thread and bounded queue, so a slow or dead target delays
nobody else. A worker makes up to ``attempts`` attempts with ``backoff_seconds``
doubling between them, then records the delivery (``notify.log``): delivered, failed,
dropped (its queue was full) or gave_up (the process ended first).

A process does not end with deliveries in flight: at exit it waits for them at most
``exit_wait_seconds`` (the longest asked for by the deliveries started), then records
the rest as given up. A CLI command and a retrain job therefore end at most that long
after their work; the console's server the same when it stops.
"""

from __future__ import annotations

import atexit
import os
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Final

from taskclf_core.errors import DeliveryError, SecretsProblem, TaskclfError
from taskclf_core.notify.config import NotifyConfig, TargetConfig, load_notify_config
from taskclf_core.notify.events import Event
from taskclf_core.notify.log import (
    DeliveryRecord,
    DeliveryStatus,
    append_record,
    delivered_keys,
    now_iso,
)
from taskclf_core.notify.secrets import (
    MIN_SECRET_CHARS,
    TargetSecrets,
    read_target_secrets,
    redact,
)
from taskclf_core.notify.targets import send_apprise, send_webhook
from taskclf_core.paths import Home

#: Events waiting to be routed to their targets (beyond it an event is dropped, said on stderr).
ROUTER_QUEUE_SIZE: Final = 1000
#: The longest wait at exit for events still being routed (before their deliveries say how long).
ROUTING_WAIT_SECONDS: Final = 5.0


@dataclass(eq=False)
class Delivery:
    """One event on its way to one target."""

    home: Home
    target: TargetConfig
    event: Event
    config: NotifyConfig
    started: float = field(default_factory=time.monotonic)
    attempts: int = 0
    record: DeliveryRecord | None = None
    done: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Lane:
    """One target's queue and worker thread."""

    def __init__(self, owner: Dispatcher, name: str, size: int) -> None:
        self.queue: queue.Queue[Delivery] = queue.Queue(maxsize=size)
        self.thread = threading.Thread(target=self._run, args=(owner,), name=f"notify-{name}", daemon=True)
        self.thread.start()

    def _run(self, owner: Dispatcher) -> None:
        while True:
            delivery = self.queue.get()
            try:
                owner.deliver(delivery)
            except Exception as exc:  # never let a bug kill the lane: record it and go on
                owner.finish(delivery, "failed", delivery.attempts, f"internal error ({type(exc).__name__})")


class Dispatcher:
    """The process's notifier (one per process: :data:`DISPATCHER`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._inbox: queue.Queue[tuple[Home, Event]] = queue.Queue(maxsize=ROUTER_QUEUE_SIZE)
        self._lanes: dict[tuple[str, str], _Lane] = {}
        self._open: set[Delivery] = set()
        self._unrouted = 0
        self._router: threading.Thread | None = None
        self._stopping = threading.Event()
        self._exit_wait = 0.0
        self._registered = False

    def after_fork(self) -> None:
        """A forked child has none of the parent's threads: start afresh."""
        self._lock = threading.Lock()
        self._reset()

    # ------------------------------------------------------------------ submitting
    def submit(self, home: Home, event: Event) -> None:
        """Queue ``event`` for the home's targets; never blocks, never raises."""
        try:
            with self._lock:
                if not self._registered:
                    atexit.register(self.at_exit)
                    self._registered = True
                if self._router is None or not self._router.is_alive():
                    self._router = threading.Thread(target=self._route_loop, name="notify-router", daemon=True)
                    self._router.start()
                self._inbox.put_nowait((home, event))
                self._unrouted += 1
        except queue.Full:
            _say(f"notify: {ROUTER_QUEUE_SIZE} events wait to be routed; event {event.kind} {event.id} dropped")
        except Exception as exc:  # a notification must never fail the action that caused it
            _say(f"notify: event {event.kind} not queued ({type(exc).__name__}: {exc})")

    def _route_loop(self) -> None:
        while True:
            home, event = self._inbox.get()
            try:
                self.route(home, event)
            except Exception as exc:
                _say(f"notify: event {event.kind} not routed ({type(exc).__name__}: {exc})")
            finally:
                with self._lock:
                    self._unrouted -= 1

    def route(self, home: Home, event: Event, config: NotifyConfig | None = None) -> list[Delivery]:
        """Hand ``event`` to every target of ``config`` (default: the home's) that wants it."""
        if config is None:
            try:
                config = load_notify_config(home.config_path)
            except TaskclfError as exc:
                self._record(home, event, "(config)", "config", 0, "failed", str(exc), 0.0)
                return []
        if config is None or not config.wanting(event.kind):
            return []
        done = delivered_keys(home) if event.key else set()  # a due cadence: once per period and target
        deliveries = [Delivery(home, target, event, config) for target in config.wanting(event.kind)
                      if (event.key, target.name) not in done]
        for delivery in deliveries:
            self._enqueue(delivery)
        return deliveries

    def _enqueue(self, delivery: Delivery) -> None:
        key = (str(delivery.home.artifacts_dir), delivery.target.name)
        with self._lock:
            lane = self._lanes.get(key)
            if lane is None or not lane.thread.is_alive():
                lane = self._lanes[key] = _Lane(self, delivery.target.name, delivery.config.queue_size)
            self._open.add(delivery)
            self._exit_wait = max(self._exit_wait, delivery.config.exit_wait_seconds)
        try:
            lane.queue.put_nowait(delivery)
        except queue.Full:
            self.finish(delivery, "dropped", 0,
                        f"{lane.queue.maxsize} deliveries already wait for target {delivery.target.name} "
                        "(notify.queue_size)")

    # ------------------------------------------------------------------ delivering
    def deliver(self, d: Delivery) -> None:
        """Make the attempts of one delivery (on its target's worker thread), then record it."""
        try:
            secrets = read_target_secrets(d.target.name)
        except SecretsProblem as exc:
            self.finish(d, "failed", 0, str(exc))
            return
        missing = _missing_secret(d.target, secrets)
        if missing:
            self.finish(d, "failed", 0, missing)
            return
        base = d.config.base_url
        last = "not attempted"
        for attempt in range(1, d.config.attempts + 1):
            if d.record is not None:  # given up at exit meanwhile
                return
            d.attempts = attempt
            try:
                if d.target.kind == "webhook":
                    assert d.target.url is not None and secrets.secret is not None
                    send_webhook(d.target.url, secrets.secret, d.event.body(base), kind=d.event.kind,
                                 event_id=d.event.id, timeout=d.config.timeout_seconds)
                else:
                    send_apprise(secrets.urls, title=d.event.title, body=d.event.text(base))
            except DeliveryError as exc:
                last = redact(str(exc), secrets)
            except Exception as exc:  # a library's own error: its type and words, redacted
                last = redact(f"{type(exc).__name__}: {exc}", secrets)
            else:
                self.finish(d, "delivered", attempt, None)
                return
            if attempt < d.config.attempts and self._stopping.wait(d.config.backoff_seconds * 2 ** (attempt - 1)):
                break  # the process is ending
        self.finish(d, "failed", d.attempts, last)

    def finish(self, d: Delivery, status: DeliveryStatus, attempts: int, error: str | None) -> None:
        """Record a delivery's end, once (a worker and the exit may race: the first wins)."""
        with d.lock:
            if d.record is not None:
                return
            d.record = self._record(d.home, d.event, d.target.name, d.target.kind, attempts, status, error,
                                    time.monotonic() - d.started)
        with self._lock:
            self._open.discard(d)
        d.done.set()

    def _record(self, home: Home, event: Event, target: str, kind: str, attempts: int, status: DeliveryStatus,
                error: str | None, seconds: float) -> DeliveryRecord:
        record = DeliveryRecord(at=now_iso(), event_id=event.id, event=event.kind, title=event.title, target=target,
                                target_kind=kind, attempts=attempts, status=status, error=error, run_id=event.run_id,
                                key=event.key, seconds=round(seconds, 3))
        try:
            append_record(home, record)
        except (TaskclfError, OSError) as exc:
            _say(f"notify: the delivery of {event.kind} to {target} ({status}) could not be recorded: {exc}")
        return record

    # ------------------------------------------------------------------ waiting
    def flush(self, timeout: float) -> bool:
        """Wait until every queued event is routed and every delivery ended; False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                idle = self._unrouted == 0 and not self._open
            if idle:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    def at_exit(self) -> None:
        """Wait for deliveries in flight (at most ``exit_wait_seconds``), then give the rest up."""
        with self._lock:
            busy = self._unrouted > 0 or bool(self._open)
        if not busy:
            return
        routed_by = time.monotonic() + ROUTING_WAIT_SECONDS  # routing reads a config: quick
        while self._unrouted and time.monotonic() < routed_by:
            time.sleep(0.01)
        wait = self._exit_wait
        if self.flush(wait):
            return
        self._stopping.set()
        with self._lock:
            left = list(self._open)
        for delivery in left:
            self.finish(delivery, "gave_up", delivery.attempts,
                        f"the process ended before the delivery did (waited {wait:g} s: notify.exit_wait_seconds)")


def _missing_secret(target: TargetConfig, secrets: TargetSecrets) -> str | None:
    if target.kind == "webhook":
        if not secrets.secret:
            return (f"webhook target {target.name} has no secret: add [notify.{target.name}] secret = \"...\" to the "
                    "secrets file (nothing is sent unsigned)")
        if len(secrets.secret) < MIN_SECRET_CHARS:
            return (f"the secret of webhook target {target.name} is shorter than {MIN_SECRET_CHARS} characters "
                    "(python -c 'import secrets; print(secrets.token_hex(32))' makes one)")
    elif not secrets.urls:
        return f"apprise target {target.name} has no URLs: add [notify.{target.name}] urls = [\"...\"] to the secrets file"
    return None


def _say(line: str) -> None:
    try:
        print(line, file=sys.stderr, flush=True)
    except Exception:
        pass


#: The process's dispatcher.
DISPATCHER: Final = Dispatcher()
os.register_at_fork(after_in_child=DISPATCHER.after_fork)


def emit(home: Home, event: Event) -> None:
    """Send ``event`` to the home's targets that want it, in the background (never blocks, never raises)."""
    DISPATCHER.submit(home, event)


def flush(timeout: float = 30.0) -> bool:
    """Wait (at most ``timeout`` seconds) until every event emitted so far is delivered or recorded as not."""
    return DISPATCHER.flush(timeout)


__all__ = ["DISPATCHER", "Delivery", "Dispatcher", "emit", "flush"]
