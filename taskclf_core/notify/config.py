"""The ``notify:`` section of ``configs/retrain.yaml``: targets and the events each wants.

The section is optional: without it there is no target and nothing is sent. It names
targets and what they want; secrets never go here. A webhook's signing secret and the
Apprise URLs (which carry credentials) live in the secrets file (``notify.secrets``),
under ``[notify.<target name>]``. A key that looks like a secret is refused here with
one line saying where it belongs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final, Literal, get_args
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from taskclf_core.errors import ConfigError, describe_validation_error, show_value

#: Every event a target may ask for (``test`` is sent by ``taskclf notify test`` to every target).
EventKind = Literal[
    "run_awaiting_signoff",
    "approval_recorded",
    "approval_expired",
    "promoted",
    "rolled_back",
    "run_rejected",
    "run_failed",
    "retrain_due",
    "calibrator_due",
]
EVENT_KINDS: Final[tuple[str, ...]] = get_args(EventKind)

_TARGET_NAME: Final = re.compile(r"\A[a-z0-9][a-z0-9_-]{0,39}\Z")
#: Keys that would put a secret into the YAML (which pages and runs show): refused.
_SECRET_KEYS: Final = frozenset({"secret", "secrets", "token", "password", "urls", "apprise_urls"})


def check_http_url(value: str, what: str, *, allow_path: bool = True) -> str:
    """``value`` stripped, if it is an ``http(s)://host[:port][/path]`` URL without user, query or fragment.

    Raises:
        ValueError: anything else, naming ``what``, the value and what is allowed.
    """
    text = value.strip()
    parts = urlsplit(text)
    try:
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        port_ok = False
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise ValueError(f"{what} must be an http:// or https:// address with a host; got {show_value(value)}")
    if parts.username or parts.password:
        raise ValueError(f"{what} must not carry a user or password (secrets go in the secrets file); got a URL with one")
    if parts.query or parts.fragment or (not allow_path and parts.path not in ("", "/")):
        raise ValueError(f"{what} must have no query or fragment; got {show_value(value)}")
    return text


class TargetConfig(BaseModel):
    """One target: a signed JSON webhook, or chat/email through Apprise."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    #: Its name (lower case, digits, ``-``, ``_``): the History page and the log show it, and
    #: the secrets file holds its secret under ``[notify.<name>]``.
    name: str
    kind: Literal["webhook", "apprise"]
    #: Webhook only: where the signed JSON is posted.
    url: str | None = None
    #: The events it wants (see :data:`EVENT_KINDS`).
    events: list[EventKind] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _no_secrets_here(cls, data: Any) -> Any:
        if isinstance(data, dict):
            found = sorted(str(k) for k in data if str(k).lower() in _SECRET_KEYS)
            if found:
                name = data.get("name", "<name>")
                raise ValueError(
                    f"{', '.join(found)} must not be in configs/retrain.yaml (pages and runs show it): put it in "
                    f".streamlit/secrets.toml under [notify.{name}]"
                )
        return data

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _TARGET_NAME.match(value):
            raise ValueError(
                f"a target name is 1-40 characters of a-z, 0-9, '-' and '_', starting with a letter or digit; "
                f"got {show_value(value)}"
            )
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else check_http_url(value, "a webhook target's url")

    @model_validator(mode="after")
    def _url_for_webhooks(self) -> TargetConfig:
        if self.kind == "webhook" and self.url is None:
            raise ValueError(f"webhook target {self.name} needs a url (http:// or https://)")
        if self.kind == "apprise" and self.url is not None:
            raise ValueError(
                f"apprise target {self.name} takes no url here: Apprise URLs carry credentials, so they go in "
                f".streamlit/secrets.toml as [notify.{self.name}] urls = [...]"
            )
        if len(set(self.events)) != len(self.events):
            raise ValueError(f"target {self.name} names an event twice")
        return self

    def wants(self, kind: str) -> bool:
        """Whether this target wants events of ``kind`` (every target gets ``test``)."""
        return kind == "test" or kind in self.events


class NotifyConfig(BaseModel):
    """The ``notify:`` section: the console's address for links, the targets, delivery settings."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    #: The console's address as people open it (``https://retrain.example.com``); links in
    #: events are built from it (``<base_url>/Review?run=…``). None: events carry no link.
    base_url: str | None = None
    targets: list[TargetConfig] = Field(default_factory=list)
    #: Seconds one delivery attempt may take (connect and answer).
    timeout_seconds: float = Field(5.0, gt=0.0, le=120.0)
    #: Attempts per delivery (1 = no retry).
    attempts: int = Field(3, ge=1, le=10)
    #: Seconds before the first retry; each next retry waits twice as long.
    backoff_seconds: float = Field(1.0, ge=0.0, le=600.0)
    #: Deliveries waiting per target; when full, a new one is recorded as dropped.
    queue_size: int = Field(100, ge=1, le=10_000)
    #: A command (CLI, a retrain job) waits at most this long at exit for its deliveries,
    #: then records the rest as given up.
    exit_wait_seconds: float = Field(30.0, ge=0.0, le=600.0)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        return None if value is None else check_http_url(value, "notify.base_url").rstrip("/")

    @model_validator(mode="after")
    def _unique_names(self) -> NotifyConfig:
        names = [t.name for t in self.targets]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"target names must be unique; {', '.join(twice)} appears more than once")
        return self

    def wanting(self, kind: str) -> list[TargetConfig]:
        """The targets that want events of ``kind``."""
        return [t for t in self.targets if t.wants(kind)]


def load_notify_config(config_path: Path) -> NotifyConfig | None:
    """The ``notify:`` section of a config file (None: no file, or no section).

    Read apart from the rest of the config, so a delivery never depends on the other
    sections; the whole file is validated (with this section) wherever it is loaded.

    Raises:
        ConfigError: the file cannot be read, is not YAML, or the section is invalid.
    """
    try:
        text = Path(config_path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{config_path}: cannot read the config file ({exc})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{config_path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    section = raw.get("notify") if isinstance(raw, dict) else None
    if section is None:
        return None
    try:
        return NotifyConfig.model_validate(section)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, model=NotifyConfig, source=f"{config_path} notify")) from None


__all__ = ["EVENT_KINDS", "EventKind", "NotifyConfig", "TargetConfig", "check_http_url", "load_notify_config"]
