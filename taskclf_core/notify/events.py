"""What is sent: one :class:`Event`, its JSON body (webhook) and its text (chat, email).

An event says what happened in a sentence and carries the facts a receiver acts on:
the run, its outcome, headline figures, the gates that failed, who acted, the reason the
operator gave for the run, the approvals so far (``1 of 2``, who is still needed) and a
link to the page that shows it (``<notify.base_url>/Review?run=…``). The link is built
at delivery from the configured base URL, so an event is the same whatever the address.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from taskclf_core.notify.config import EventKind

#: The version of the JSON body (a receiver can refuse one it does not know).
PAYLOAD_VERSION = 1


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ApprovalCount(BaseModel):
    """Where a change stands under the two-person rule."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    given: int
    required: int
    approved_by: list[str] = Field(default_factory=list)
    #: Who may give the next approval, in words (``"a different approver: bob@example.com"``).
    still_needed: str | None = None


class Event(BaseModel):
    """One thing that happened, as every target receives it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: EventKind | Literal["test"]
    #: One line (a chat message's title, an email's subject).
    title: str
    #: A few sentences: what happened and what to do.
    summary: str
    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    at: str = Field(default_factory=_now)
    run_id: str | None = None
    #: The model concerned (the champion after a change, a rollback's target).
    model_id: str | None = None
    outcome: str | None = None
    #: Headline figures (macro-F1 of challenger, champion, baseline; the difference).
    figures: dict[str, float | None] = Field(default_factory=dict)
    gates_failed: list[str] = Field(default_factory=list)
    #: Who acted (an approver, the operator who started the run, ``auto``, the schedule).
    actor: str | None = None
    #: The reason the operator gave when starting the run.
    reason: str | None = None
    approvals: ApprovalCount | None = None
    #: The page that shows it, relative to the console (``Review?run=…``, ``History``; ``""``: Status).
    page: str | None = None
    #: Events of the same key are sent once (the cadence: once per due period).
    key: str | None = None

    def link(self, base_url: str | None) -> str | None:
        """The page's full address, or None without a base URL or a page."""
        if not base_url or self.page is None:
            return None
        return f"{base_url.rstrip('/')}/{self.page}"

    def payload(self, base_url: str | None) -> dict[str, Any]:
        """The webhook's JSON object."""
        data = self.model_dump(mode="json", exclude={"page", "key"})
        data["version"] = PAYLOAD_VERSION
        data["link"] = self.link(base_url)
        return data

    def body(self, base_url: str | None) -> bytes:
        """The webhook's body: compact JSON, keys sorted (the bytes that are signed)."""
        return json.dumps(self.payload(base_url), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    def text(self, base_url: str | None) -> str:
        """The message body for chat and email: the summary, the facts, the link."""
        lines = [self.summary]
        figures = ", ".join(f"{k} {v:.4f}" for k, v in self.figures.items() if v is not None)
        if figures:
            lines.append(f"Figures: {figures}")
        if self.gates_failed:
            lines.append(f"Gates failed: {', '.join(self.gates_failed)}")
        if self.approvals is not None:
            a = self.approvals
            who = f" ({', '.join(a.approved_by)})" if a.approved_by else ""
            lines.append(f"Approvals: {a.given} of {a.required}{who}" + (f"; still needed: {a.still_needed}" if a.still_needed else ""))
        if self.actor:
            lines.append(f"By: {self.actor}")
        if self.reason:
            lines.append(f"Reason given: {self.reason}")
        link = self.link(base_url)
        if link:
            lines.append(f"Open: {link}")
        return "\n".join(lines)


__all__ = ["PAYLOAD_VERSION", "ApprovalCount", "Event"]
