"""The targets' secrets, from the secrets file (never from ``configs/retrain.yaml``).

The file is Streamlit's ``.streamlit/secrets.toml`` (the one that holds ``[auth]``):
``$TASKCLF_SECRETS`` when set, else ``.streamlit/secrets.toml`` in the current folder,
which is where Streamlit reads it (``make serve`` starts the server in that folder and
sets the variable for it and its retrain jobs). Each target's table::

    [notify.ops-webhook]
    secret = "<long random string>"            # signs the webhook's body (HMAC-SHA256)

    [notify.team-chat]
    urls = ["mailtos://user:password@smtp.example.com?to=ml-team@example.com"]

Messages name the file, the table and the key, never a value.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import unquote, urlsplit

from taskclf_core.errors import SecretsProblem

SECRETS_ENV: Final = "TASKCLF_SECRETS"
#: A webhook secret shorter than this is refused (it is the only thing a forger lacks).
MIN_SECRET_CHARS: Final = 16


def secrets_path() -> Path:
    """``$TASKCLF_SECRETS``, else ``.streamlit/secrets.toml`` in the current folder."""
    given = os.environ.get(SECRETS_ENV)
    return Path(given).expanduser() if given else Path.cwd() / ".streamlit" / "secrets.toml"


@dataclass(frozen=True, repr=False)
class TargetSecrets:
    """One target's secrets (``repr`` shows none of them)."""

    secret: str | None = None
    urls: tuple[str, ...] = ()

    def values(self) -> list[str]:
        """Every secret string, and the password in each URL, for redaction."""
        out = [s for s in (self.secret, *self.urls) if s]
        for url in self.urls:
            try:
                parts = urlsplit(url)
                for piece in (parts.password, parts.username):
                    if piece:
                        out += [piece, unquote(piece)]
            except ValueError:
                continue
        return [v for v in out if len(v) >= 4]

    def __repr__(self) -> str:
        return f"TargetSecrets(secret={'set' if self.secret else 'none'}, urls={len(self.urls)})"


def read_target_secrets(name: str, path: Path | None = None) -> TargetSecrets:
    """The ``[notify.<name>]`` table of the secrets file.

    Raises:
        SecretsProblem: the file cannot be read or is not TOML, or the table is not one.
    """
    path = path or secrets_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SecretsProblem(f"the secrets file {path} does not exist (set {SECRETS_ENV} to the file)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretsProblem(f"the secrets file {path} cannot be read ({type(exc).__name__})") from None
    except tomllib.TOMLDecodeError as exc:
        raise SecretsProblem(f"the secrets file {path} is not valid TOML ({exc})") from None
    notify = data.get("notify", {})
    table = notify.get(name) if isinstance(notify, dict) else None
    if table is None:
        return TargetSecrets()
    if not isinstance(table, dict):
        raise SecretsProblem(f"[notify.{name}] in {path} must be a table (secret = \"...\" or urls = [...])")
    secret = table.get("secret")
    urls = table.get("urls", [])
    if secret is not None and not isinstance(secret, str):
        raise SecretsProblem(f"secret in [notify.{name}] of {path} must be a string")
    if isinstance(urls, str):
        urls = [urls]
    if not isinstance(urls, list) or not all(isinstance(u, str) and u.strip() for u in urls):
        raise SecretsProblem(f"urls in [notify.{name}] of {path} must be a list of Apprise URLs (strings)")
    return TargetSecrets(secret=secret, urls=tuple(u.strip() for u in urls))


def redact(text: str, secrets: TargetSecrets) -> str:
    """``text`` with every secret of the target replaced by ``***`` (errors are recorded and shown)."""
    for value in sorted(secrets.values(), key=len, reverse=True):
        text = text.replace(value, "***")
    return text


__all__ = ["MIN_SECRET_CHARS", "SECRETS_ENV", "TargetSecrets", "read_target_secrets", "redact", "secrets_path"]
