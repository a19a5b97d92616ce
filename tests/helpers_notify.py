"""Homes with a ``notify:`` section and a secrets file, read back deliveries, a server that never answers."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_CONFIG

SECRET = "s3cret-0123456789-abcdef"


def notify_yaml(targets: list[dict[str, Any]], *, base_url: str | None = "http://console.test:8501", **settings: Any) -> str:
    """A ``notify:`` section (YAML) with ``targets`` and quick retries."""
    section: dict[str, Any] = {"attempts": 3, "backoff_seconds": 0.05, "timeout_seconds": 2, **settings,
                               "targets": targets}
    if base_url:
        section["base_url"] = base_url
    return "notify: " + json.dumps(section) + "\n"


def set_up(root: Path, monkeypatch: pytest.MonkeyPatch, targets: list[dict[str, Any]], secrets: str = "",
           *, extra: str = "", **settings: Any) -> Path:
    """Write the config (test config + ``extra`` + notify) and the secrets file; point ``TASKCLF_SECRETS`` at it."""
    (root / "configs").mkdir(parents=True, exist_ok=True)
    (root / "configs" / "retrain.yaml").write_text(TEST_CONFIG + extra + notify_yaml(targets, **settings))
    path = root / "secrets.toml"
    path.write_text(secrets)
    monkeypatch.setenv("TASKCLF_SECRETS", str(path))
    return path


def deliveries(root: Path) -> list[dict[str, Any]]:
    """The records of ``artifacts/notifications.jsonl``, oldest first."""
    path = root / "artifacts" / "notifications.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@contextmanager
def silent_server() -> Iterator[str]:
    """A TCP listener on 127.0.0.1 that accepts connections into its backlog and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
