"""``make serve``: refuses without sign-in configured (one line, exit 2); binds the address with it."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskclf_core.console.serve import auth_problem, metadata_problem
from tests.conftest import ROOT

GOOD = (
    '[auth]\nredirect_uri = "http://127.0.0.2:{port}/oauth2callback"\ncookie_secret = "{secret}"\n'
    'client_id = "taskclf"\nclient_secret = "not-a-secret"\n'
    'server_metadata_url = "http://127.0.0.1:9/.well-known/openid-configuration"\n'
)


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    """A real OpenID Connect provider on 127.0.0.1 (its discovery document answers)."""
    import oidc_provider_mock

    with oidc_provider_mock.run_server_in_thread() as server:
        yield f"http://127.0.0.1:{server.server_port}/.well-known/openid-configuration"


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


@pytest.mark.slow
def test_make_serve_with_sign_in_binds_the_address_asked_for(tmp_path: Path, provider: str) -> None:
    port = free_port("127.0.0.2")
    secrets_file = secrets_at(tmp_path)
    secrets_file.write_text(
        GOOD.format(port=port, secret=secrets.token_hex(32)).replace("http://127.0.0.1:9/.well-known/openid-configuration", provider)
    )
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
        assert (tmp_path / "home" / "models").is_dir() and (tmp_path / "home" / "artifacts").is_dir()
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


def filled_example(secret: str, **values: str) -> str:
    """The shipped example with a real cookie secret and ``values`` put in for its placeholders."""
    text = (ROOT / ".streamlit" / "secrets.toml.example").read_text()
    text = text.replace('"<change me: 64 random hex characters>"', f'"{secret}"')
    for old, new in values.items():
        text = text.replace(old, new)
    return text


def test_make_serve_refuses_the_examples_placeholders_and_creates_nothing(tmp_path: Path, provider: str) -> None:
    """Issue 21 item 6: `<client id>`, `<client secret>` and the example provider were accepted."""
    secrets_file = secrets_at(tmp_path)
    secret = secrets.token_hex(32)
    steps = [
        ({}, "client_id in {f} is the example's placeholder '<client id>': use the value your provider gave"),
        ({"<client id>": "taskclf"},
         "client_secret in {f} is the example's placeholder '<client secret>': use the value your provider gave"),
        ({"<client id>": "taskclf", "<client secret>": "s3cret"},
         "server_metadata_url in {f} is the example address "
         "'https://accounts.example.com/.well-known/openid-configuration': use your provider's discovery document"),
        ({"<client id>": "taskclf", "<client secret>": "s3cret",
          "https://accounts.example.com/.well-known/openid-configuration": provider},
         "redirect_uri in {f} is the example address 'https://taskclf.example.com/oauth2callback': "
         "use the address people open the console at"),
    ]
    for values, expected in steps:
        secrets_file.write_text(filled_example(secret, **values))
        assert auth_problem(secrets_file) == expected.format(f=secrets_file)
    proc = make_serve(tmp_path, secrets_file, address="0.0.0.0", port=free_port("127.0.0.1"))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and out == b""
    ours = [line for line in err.decode().splitlines() if not line.startswith("make")]
    assert len(ours) == 1 and "redirect_uri in" in ours[0], err
    assert not (tmp_path / "home").exists()  # a refused start creates no models/ or artifacts/


def test_make_serve_refuses_a_provider_that_does_not_answer(tmp_path: Path, provider: str) -> None:
    dead = f"http://127.0.0.1:{free_port('127.0.0.1')}/.well-known/openid-configuration"
    assert (metadata_problem(dead, timeout=2) or "").startswith(
        f"the provider's metadata URL {dead} did not answer within 2 s ("
    )
    not_found = provider.replace("openid-configuration", "nothing-here")
    assert metadata_problem(not_found) == f"the provider's metadata URL {not_found} answered HTTP 404 (expected 200)"
    assert metadata_problem("ftp://h/x") == "server_metadata_url must be an http(s) address; got 'ftp://h/x'"
    assert metadata_problem(provider) is None
    secrets_file = secrets_at(tmp_path)
    secrets_file.write_text(GOOD.format(port=1, secret=secrets.token_hex(32)).replace(
        "http://127.0.0.1:9/.well-known/openid-configuration", dead))
    proc = make_serve(tmp_path, secrets_file, address="0.0.0.0", port=free_port("127.0.0.1"))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    ours = [line for line in err.decode().splitlines() if not line.startswith("make")]
    assert len(ours) == 1, err
    assert ours[0].startswith("error: refusing to serve on 0.0.0.0:")
    assert f"the provider's metadata URL {dead} did not answer within 5 s (" in ours[0]
    assert not (tmp_path / "home").exists()
