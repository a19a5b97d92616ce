"""Email through Apprise to a real SMTP server started by the test (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import email
import socket
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from taskclf_core.console.service import promote_run
from taskclf_core.notify import flush
from taskclf_core.paths import Home
from tests.conftest import SeededHome
from tests.helpers_notify import deliveries, set_up

TWO_APPROVERS = "access:\n  approvers: [alice@example.com, bob@example.com]\n  required_approvals: 2\n"


class Inbox:
    """An SMTP handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


def text_of(message: Message) -> str:
    parts = [p for p in message.walk() if p.get_content_type() in ("text/plain", "text/html")]
    return "\n".join(str(p.get_payload(decode=True).decode()) for p in parts)  # type: ignore[union-attr]


def test_an_approval_is_emailed_with_the_deep_link_to_its_review(
    home_copy: Path, seeded_home: SeededHome, monkeypatch: pytest.MonkeyPatch, smtp: tuple[int, Inbox]
) -> None:
    port, inbox = smtp
    url = f"mailto://127.0.0.1:{port}?from=console@example.com&to=ml-team@example.com"
    set_up(home_copy, monkeypatch, [{"name": "team-mail", "kind": "apprise", "events": ["approval_recorded"]}],
           f'[notify.team-mail]\nurls = ["{url}"]\n', extra=TWO_APPROVERS, base_url="https://retrain.example.com")
    pending = promote_run(Home(home_copy), seeded_home.awaiting, approver="alice", note="looks right", origin="cli")
    assert type(pending).__name__ == "PendingApproval"  # the first of two
    assert flush(30)
    (record,) = deliveries(home_copy)
    assert (record["status"], record["target"], record["event"]) == ("delivered", "team-mail", "approval_recorded")
    (message,) = inbox.messages
    assert message["To"] == "ml-team@example.com"
    assert message["Subject"] == f"Approval 1 of 2 for run {seeded_home.awaiting}"
    body = text_of(message)
    assert f"https://retrain.example.com/Review?run={seeded_home.awaiting}" in body
    assert "Approvals: 1 of 2" in body and "still needed: a second approver" in body
