"""``make serve``: the console for a team, on another address, only with sign-in configured.

``make run`` binds 127.0.0.1 without sign-in (local mode). Serving on any other address
without sign-in would let anyone who reaches the port act as anyone, so this launcher
first checks the ``[auth]`` section of the secrets file (Streamlit's OpenID Connect
settings, see ``.streamlit/secrets.toml.example``) and refuses with one line on stderr,
exit 2, when it is missing, incomplete or still holds the example's placeholders, or when
the provider's metadata URL does not answer with an OpenID Connect discovery document. A
refused start creates nothing. Otherwise it creates the home's ``models/`` and
``artifacts/`` folders and replaces itself with the app served
as ``make run`` serves it (``uvicorn --factory page_frame:secure_app``: no other site may
frame it) on the address and port asked for. Streamlit reads ``.streamlit/`` (secrets and
config) from the folder it is started in, so the secrets file must be
``<folder>/.streamlit/secrets.toml`` and the server starts in ``<folder>`` (this project's
folder by default).

Usage: ``python -m taskclf_core.console.serve [--address 0.0.0.0] [--port 8501] [--secrets FILE] [--check]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tomllib
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

#: The keys ``st.login()`` (the default provider) needs in ``[auth]``.
AUTH_KEYS: Final = ("redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url")
#: Shorter cookie secrets are refused (they sign the sign-in cookie).
MIN_COOKIE_SECRET: Final = 32
DEFAULT_SECRETS: Final = Path(".streamlit/secrets.toml")
PROJECT: Final = Path(__file__).resolve().parents[2]
EXIT_REFUSED: Final = 2
#: Host names reserved for examples (RFC 2606): never a real provider or console address.
EXAMPLE_DOMAINS: Final = ("example.com", "example.org", "example.net", "example")
#: How long the provider's metadata URL may take to answer at start-up.
METADATA_TIMEOUT_S: Final = 5.0
#: The discovery document's keys Streamlit's sign-in needs.
METADATA_KEYS: Final = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")


def _placement_problem(secrets: Path) -> str | None:
    if secrets.name != "secrets.toml" or secrets.parent.name != ".streamlit":
        return (
            f"{secrets} is not named <folder>/.streamlit/secrets.toml (Streamlit reads its "
            "secrets from the .streamlit folder of the folder it is started in)"
        )
    return None


def auth_problem(secrets: Path) -> str | None:
    """Why sign-in is not configured in ``secrets``, or None when it is.

    Checks what Streamlit itself checks only when someone signs in: the file reads as
    TOML, has an ``[auth]`` table with :data:`AUTH_KEYS`, a cookie secret that is not a
    placeholder, and a ``redirect_uri`` ending in ``/oauth2callback``.
    """
    try:
        raw = secrets.read_bytes()
    except FileNotFoundError:
        return f"{secrets} does not exist"
    except OSError as exc:
        return f"{secrets} cannot be read ({exc.strerror or exc})"
    try:
        data: dict[str, Any] = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return f"{secrets} is not valid TOML ({exc})"
    auth = data.get("auth")
    if not isinstance(auth, dict):
        return f"{secrets} has no [auth] section"
    missing = [k for k in AUTH_KEYS if not (isinstance(auth.get(k), str) and auth[k].strip())]
    if missing:
        return f"the [auth] section of {secrets} lacks {', '.join(missing)}"
    secret = auth["cookie_secret"].strip()
    if len(secret) < MIN_COOKIE_SECRET or "change" in secret.lower() or secret.startswith("<"):
        return (
            f"cookie_secret in {secrets} is a placeholder or shorter than {MIN_COOKIE_SECRET} "
            "characters (python -c 'import secrets; print(secrets.token_hex(32))' makes one)"
        )
    if not auth["redirect_uri"].rstrip().endswith("/oauth2callback"):
        return f"redirect_uri in {secrets} must end with /oauth2callback; got {auth['redirect_uri']!r}"
    return _placeholder_problem(secrets, auth) or _reauth_problem(secrets, auth.get("reauth"))


def _is_example_host(url: str) -> bool:
    host = (urlsplit(url.strip()).hostname or "").lower().rstrip(".")
    return any(host == d or host.endswith("." + d) for d in EXAMPLE_DOMAINS)


def _placeholder_problem(secrets: Path, auth: dict[str, Any]) -> str | None:
    """The first value still as the example file has it (``<client id>``, ``example.com``)."""
    for key in ("client_id", "client_secret"):
        value = auth[key].strip()
        if value.startswith("<") and value.endswith(">"):
            return f"{key} in {secrets} is the example's placeholder {value!r}: use the value your provider gave"
    for key in ("server_metadata_url", "redirect_uri"):
        if _is_example_host(auth[key]):
            return (
                f"{key} in {secrets} is the example address {auth[key].strip()!r}: "
                + ("use your provider's discovery document" if key == "server_metadata_url"
                   else "use the address people open the console at")
            )
    return None


def _reauth_problem(secrets: Path, section: Any) -> str | None:
    """The optional ``[auth.reauth]`` provider (fresh sign-in at sign-off) must be usable if present."""
    if section is None:
        return None
    if not isinstance(section, dict):
        return f"[auth.reauth] in {secrets} must be a table"
    missing = [k for k in AUTH_KEYS[2:] if not (isinstance(section.get(k), str) and section[k].strip())]
    if missing:
        return f"the [auth.reauth] section of {secrets} lacks {', '.join(missing)}"
    kwargs = section.get("client_kwargs")
    if not isinstance(kwargs, dict) or kwargs.get("prompt") != "login":
        return f'[auth.reauth] in {secrets} must set client_kwargs = {{ prompt = "login" }} (it asks for a fresh sign-in)'
    return None


def metadata_problem(url: str, *, timeout: float = METADATA_TIMEOUT_S) -> str | None:
    """Why the provider's ``server_metadata_url`` cannot be used, or None when it answers.

    It must answer HTTP 200 within ``timeout`` seconds with a JSON object holding
    :data:`METADATA_KEYS` (an OpenID Connect discovery document).
    """
    shown = url.strip()
    if urlsplit(shown).scheme not in ("http", "https"):
        return f"server_metadata_url must be an http(s) address; got {shown!r}"
    try:
        with urllib.request.urlopen(shown, timeout=timeout) as response:  # noqa: S310 (scheme checked)
            body = response.read(1 << 20)
    except urllib.error.HTTPError as exc:
        return f"the provider's metadata URL {shown} answered HTTP {exc.code} (expected 200)"
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return f"the provider's metadata URL {shown} did not answer within {timeout:g} s ({reason})"
    try:
        document = json.loads(body)
    except ValueError:
        return f"the provider's metadata URL {shown} did not return JSON (not a discovery document)"
    missing = [k for k in METADATA_KEYS if not isinstance(document, dict) or not document.get(k)]
    if missing:
        return f"the provider's metadata URL {shown} returned a document without {', '.join(missing)}"
    return None


def _metadata_urls(secrets: Path) -> list[str]:
    """The provider's discovery document, and the re-authentication provider's when there is one."""
    auth = tomllib.loads(secrets.read_bytes().decode("utf-8"))["auth"]
    reauth = auth.get("reauth")
    return [str(auth["server_metadata_url"]), *([str(reauth["server_metadata_url"])] if isinstance(reauth, dict) else [])]


def serve_command(address: str, port: int) -> list[str]:
    """The command line that serves the console (started in the secrets file's folder)."""
    return [
        sys.executable, "-m", "uvicorn", "--app-dir", str(PROJECT), "--factory", "page_frame:secure_app",
        "--host", address, "--port", str(port),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Check the sign-in settings, then serve (or, with ``--check``, only say what would run)."""
    parser = argparse.ArgumentParser(prog="make serve", description=__doc__.splitlines()[0])
    parser.add_argument("--address", default="0.0.0.0", help="address to bind (default: every interface)")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--secrets", type=Path, default=DEFAULT_SECRETS, help="Streamlit secrets file with [auth]")
    parser.add_argument("--check", action="store_true", help="check and print the command; do not serve")
    args = parser.parse_args(argv)
    problem = _placement_problem(args.secrets) or auth_problem(args.secrets)
    if problem is None:  # the provider must answer before anyone is sent to sign in there
        problem = next(filter(None, (metadata_problem(url) for url in _metadata_urls(args.secrets))), None)
    if problem is not None:
        print(
            f"error: refusing to serve on {args.address}:{args.port} without sign-in: {problem} "
            "(copy .streamlit/secrets.toml.example to .streamlit/secrets.toml and fill it in, see "
            "README \"Serving the console to a team\"; `make run` serves on 127.0.0.1 only)",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    command = serve_command(args.address, args.port)
    folder = args.secrets.resolve().parent.parent
    if args.check:
        print(f"cd {folder} && {' '.join(command)}")
        return 0
    from taskclf_core.paths import Home

    home = Home.resolve()  # TASKCLF_HOME (HOME_DIR of make serve): created only once the checks pass
    for created in (home.models_dir, home.artifacts_dir):
        created.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    os.chdir(folder)
    # The notification targets' secrets are in the same file (notify.secrets); retrain jobs inherit it.
    env = {**os.environ, "STREAMLIT_SERVER_HEADLESS": "true", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
           "TASKCLF_SECRETS": str(args.secrets.resolve())}
    os.execve(command[0], command, env)
    return 0  # pragma: no cover (execv does not return)


if __name__ == "__main__":
    sys.exit(main())
