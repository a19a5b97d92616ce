"""``make serve``: the console for a team, on another address, only with sign-in configured.

``make run`` binds 127.0.0.1 without sign-in (local mode). Serving on any other address
without sign-in would let anyone who reaches the port act as anyone, so this launcher
first checks the ``[auth]`` section of the secrets file (Streamlit's OpenID Connect
settings, see ``.streamlit/secrets.toml.example``) and refuses with one line on stderr,
exit 2, when it is missing or incomplete. Otherwise it replaces itself with the app served
as ``make run`` serves it (``uvicorn --factory page_frame:secure_app``: no other site may
frame it) on the address and port asked for. Streamlit reads ``.streamlit/`` (secrets and
config) from the folder it is started in, so the secrets file must be
``<folder>/.streamlit/secrets.toml`` and the server starts in ``<folder>`` (this project's
folder by default).

Usage: ``python -m taskclf_core.console.serve [--address 0.0.0.0] [--port 8501] [--secrets FILE] [--check]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

#: The keys ``st.login()`` (the default provider) needs in ``[auth]``.
AUTH_KEYS: Final = ("redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url")
#: Shorter cookie secrets are refused (they sign the sign-in cookie).
MIN_COOKIE_SECRET: Final = 32
DEFAULT_SECRETS: Final = Path(".streamlit/secrets.toml")
PROJECT: Final = Path(__file__).resolve().parents[2]
EXIT_REFUSED: Final = 2


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
    return _reauth_problem(secrets, auth.get("reauth"))


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
    sys.stdout.flush()
    os.chdir(folder)
    env = {**os.environ, "STREAMLIT_SERVER_HEADLESS": "true", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    os.execve(command[0], command, env)
    return 0  # pragma: no cover (execv does not return)


if __name__ == "__main__":
    sys.exit(main())
