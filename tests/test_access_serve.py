"""``make serve``: refuses without sign-in configured (one line, exit 2); binds the address with it."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from taskclf_core.console.serve import auth_problem
from tests.conftest import ROOT

GOOD = (
    '[auth]\nredirect_uri = "http://127.0.0.2:{port}/oauth2callback"\ncookie_secret = "{secret}"\n'
    'client_id = "taskclf"\nclient_secret = "not-a-secret"\n'
    'server_metadata_url = "http://127.0.0.1:9/.well-known/openid-configuration"\n'
)


def secrets_at(tmp_path: Path) -> Path:
    """``<tmp>/.streamlit/secrets.toml``: where Streamlit looks when started in ``<tmp>``."""
    (tmp_path / ".streamlit").mkdir(exist_ok=True)
    return tmp_path / ".streamlit" / "secrets.toml"


def make_serve(tmp_path: Path, secrets_file: Path, *, address: str, port: int) -> subprocess.Popen[bytes]:
    """``make serve`` as a person types it (the install step counted as done)."""
    return subprocess.Popen(
        ["make", "-s", "-o", ".venv/.installed", "serve", f"ADDRESS={address}", f"PORT={port}",
         f"SECRETS={secrets_file}", f"HOME_DIR={tmp_path / 'home'}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        env={**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"},
    )


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def test_the_auth_section_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "secrets.toml"
    assert auth_problem(path) == f"{path} does not exist"
    path.write_text("[auth\n")
    assert (auth_problem(path) or "").startswith(f"{path} is not valid TOML (")
    path.write_text('[other]\nkey = "x"\n')
    assert auth_problem(path) == f"{path} has no [auth] section"
    path.write_text('[auth]\nredirect_uri = "http://h/oauth2callback"\nclient_id = ""\n')
    assert auth_problem(path) == (
        f"the [auth] section of {path} lacks cookie_secret, client_id, client_secret, server_metadata_url"
    )
    example = (ROOT / ".streamlit" / "secrets.toml.example").read_text()
    path.write_text(example)  # the shipped example is refused until filled in
    assert (auth_problem(path) or "").startswith(f"cookie_secret in {path} is a placeholder")
    path.write_text(GOOD.format(port=1, secret=secrets.token_hex(32)).replace("/oauth2callback", "/callback"))
    assert auth_problem(path) == f"redirect_uri in {path} must end with /oauth2callback; got 'http://127.0.0.2:1/callback'"
    path.write_text(GOOD.format(port=1, secret=secrets.token_hex(32)))
    assert auth_problem(path) is None
    # The optional fresh-sign-in provider (issue 20 item 3) must ask the provider to check again.
    reauth = '[auth.reauth]\nclient_id = "taskclf"\nclient_secret = "s"\nserver_metadata_url = "http://127.0.0.1:9/x"\n'
    path.write_text(GOOD.format(port=1, secret=secrets.token_hex(32)) + reauth)
    assert auth_problem(path) == f'[auth.reauth] in {path} must set client_kwargs = {{ prompt = "login" }} (it asks for a fresh sign-in)'
    path.write_text(GOOD.format(port=1, secret=secrets.token_hex(32)) + reauth + 'client_kwargs = { prompt = "login" }\n')
    assert auth_problem(path) is None


def test_make_serve_without_sign_in_refuses_in_one_line(tmp_path: Path) -> None:
    missing = secrets_at(tmp_path)
    proc = make_serve(tmp_path, missing, address="0.0.0.0", port=free_port("127.0.0.1"))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    ours = [line for line in err.decode().splitlines() if not line.startswith("make")]
    assert len(ours) == 1, err
    assert ours[0].startswith("error: refusing to serve on 0.0.0.0:")
    assert f"without sign-in: {missing} does not exist (copy .streamlit/secrets.toml.example" in ours[0]
    assert out == b""


def test_make_serve_with_sign_in_binds_the_address_asked_for(tmp_path: Path) -> None:
    port = free_port("127.0.0.2")
    secrets_file = secrets_at(tmp_path)
    secrets_file.write_text(GOOD.format(port=port, secret=secrets.token_hex(32)))
    proc = make_serve(tmp_path, secrets_file, address="127.0.0.2", port=port)
    try:
        deadline = time.monotonic() + 40
        while True:
            assert proc.poll() is None, proc.communicate()[1].decode()
            try:
                with urllib.request.urlopen(f"http://127.0.0.2:{port}/_stcore/health", timeout=1) as r:
                    assert r.read().strip() == b"ok"
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"make serve did not answer on 127.0.0.2:{port}")
                time.sleep(0.2)
        with pytest.raises(OSError):  # bound to the address asked for, not to 127.0.0.1
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
        with urllib.request.urlopen(f"http://127.0.0.2:{port}/", timeout=5) as page:
            assert page.headers["X-Frame-Options"] == "DENY"  # served as make run serves it
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_the_secrets_file_must_sit_where_streamlit_reads_it(tmp_path: Path) -> None:
    elsewhere = tmp_path / "my-secrets.toml"
    elsewhere.write_text(GOOD.format(port=1, secret=secrets.token_hex(32)))
    proc = make_serve(tmp_path, elsewhere, address="0.0.0.0", port=free_port("127.0.0.1"))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert f"{elsewhere} is not named <folder>/.streamlit/secrets.toml" in err.decode().splitlines()[0]
