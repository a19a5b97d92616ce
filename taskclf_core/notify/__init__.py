"""Notifications: events sent to webhooks, chat and email, off the request path.

``emit(home, Event(...))`` is the one call where something happens; the ``notify:``
section of the home's ``configs/retrain.yaml`` says which targets want which events, the
secrets file holds their secrets, and ``artifacts/notifications.jsonl`` records every
delivery. See ``worker`` for the delivery rules and ``sign`` for the webhook's signature.
"""

from taskclf_core.notify.config import EVENT_KINDS, EventKind, NotifyConfig, TargetConfig
from taskclf_core.notify.events import ApprovalCount, Event
from taskclf_core.notify.worker import emit, flush

__all__ = ["EVENT_KINDS", "ApprovalCount", "Event", "EventKind", "NotifyConfig", "TargetConfig", "emit", "flush"]
